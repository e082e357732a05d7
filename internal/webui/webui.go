// Package webui is what the module's two web pages share: the demo's
// (jobqueue serve, in cmd/jobqueue) and the dashboard's (package
// dashboard). It holds the checks every request passes (Guard), the
// record of a store's outage and the 503 that reports it (Outages,
// Unavailable), the status a queue error answers with (Status), the JSON
// both APIs give of a queue's history and schedules, and the stylesheet
// and script both pages load (base.css, base.js), so that a fix to any
// of them is made once.
package webui

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
)

//go:embed assets
var assets embed.FS

// BasePath is where Mount serves the shared stylesheet and script,
// relative to the page: a page loads BasePath+"base.css" and
// BasePath+"base.js" before its own files.
const BasePath = "assets/base/"

// Mount serves a page on mux from the folder dir of files (embedded):
// its index.html at "GET /{$}", its other files under "GET /assets/",
// and the shared files under BasePath.
func Mount(mux *http.ServeMux, files fs.FS, dir string) {
	serve := func(pattern, prefix string, files fs.FS, dir string) {
		sub, err := fs.Sub(files, dir)
		if err != nil {
			panic(err) // an embedded tree is fixed at build time
		}
		mux.Handle(pattern, http.StripPrefix(prefix, http.FileServerFS(sub)))
	}
	serve("GET /{$}", "", files, dir)
	serve("GET /assets/", "/assets/", files, dir)
	serve("GET /"+BasePath, "/"+BasePath, assets, "assets")
}

// WriteJSON answers with v as JSON, HTML characters escaped.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

// WriteError answers with {"error": msg}.
func WriteError(w http.ResponseWriter, status int, msg string) {
	WriteJSON(w, status, map[string]string{"error": msg})
}
