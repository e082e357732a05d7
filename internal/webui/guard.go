package webui

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
)

// Guard is what every request to a page and its API passes, in this
// order: the security headers are set; a Host the page does not answer
// to gets 403 (DNS rebinding); Authorize, when set, must allow the
// request (403); a change posted from another origin gets 403; the body
// is bounded by MaxBody.
type Guard struct {
	// Hosts names the host names answered to besides loopback names
	// (localhost, *.localhost) and IP addresses, which are always.
	Hosts []string
	// HostsFrom names, in the refusal of a host, where more names are
	// allowed: "dashboard.AllowedHosts", "-host".
	HostsFrom string
	// Authorize, when set, checks every request, the page and its
	// assets included.
	Authorize func(*http.Request) bool
	// MaxBody bounds a request's body, in bytes.
	MaxBody int64
}

// Handler returns next behind g's checks.
func (g Guard) Handler(next http.Handler) http.Handler {
	hosts := make([]string, len(g.Hosts))
	for i, h := range g.Hosts {
		hosts[i] = NormHost(h)
	}
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusForbidden, "cross-origin request refused: the dashboard accepts changes only from its own page")
	}))
	inner := cop.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		hdr.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("Referrer-Policy", "no-referrer")
		hdr.Set("Cache-Control", "no-store")
		if !HostAllowed(r.Host, hosts) {
			WriteError(w, http.StatusForbidden, fmt.Sprintf("host %q refused: the dashboard answers to loopback names, IP addresses and the names given to %s", r.Host, g.HostsFrom))
			return
		}
		if g.Authorize != nil && !g.Authorize(r) {
			WriteError(w, http.StatusForbidden, "not authorised")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, g.MaxBody)
		inner.ServeHTTP(w, r)
	})
}

// HostAllowed reports whether a page answers to a request for hostport:
// a loopback name, an IP address, or one of hosts (normalised by
// NormHost). An IP address is safe to answer: DNS rebinding needs the
// attacker's own name in the Host header, whatever address the server
// listens on.
func HostAllowed(hostport string, hosts []string) bool {
	host := NormHost(hostport)
	if host == "" {
		return false
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") || net.ParseIP(host) != nil {
		return true
	}
	return slices.Contains(hosts, host)
}

// NormHost returns hostport's host, lower-case, without port, brackets
// or a final dot.
func NormHost(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	return strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
}
