package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// versionInfo is what "jobqueue version" prints.
type versionInfo struct {
	// Version is the module's version, such as v1.2.0, or (devel) for a
	// build from a checkout.
	Version string `json:"version"`
	// Revision and Modified are the VCS commit of a build from a checkout,
	// and whether it had uncommitted changes; absent when unknown.
	Revision string `json:"revision,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	// Go is the Go version that built the command, Platform its GOOS/GOARCH.
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// buildVersion reads the version from the build information the Go tool
// embeds: "go install …/cmd/jobqueue@v1.2.0" records v1.2.0.
func buildVersion() versionInfo {
	v := versionInfo{Version: "(devel)", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if info.Main.Version != "" {
		v.Version = info.Main.Version
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

func (v versionInfo) String() string {
	s := "jobqueue " + v.Version
	if v.Revision != "" {
		s += " " + v.Revision[:min(len(v.Revision), 12)]
		if v.Modified {
			s += " (modified)"
		}
	}
	return s + ", " + v.Go + " " + v.Platform
}

func runVersion(_ context.Context, e *cmdEnv, args []string) int {
	fs := e.flagSet("version", "[--json]", "Print the command's module version, and the Go version and platform that built it.")
	asJSON := fs.Bool("json", false, "print JSON: version, revision, modified, go, platform")
	pos, code, ok := e.parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return e.badArgs(fs, fmt.Sprintf("version takes no arguments, got %q", strings.Join(pos, " ")))
	}
	v := buildVersion()
	if *asJSON {
		e.printJSON(v)
		return exitOK
	}
	fmt.Fprintln(e.stdout, v)
	return exitOK
}
