package main

import (
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/jobqueue-go/jobqueue/internal/webui"
)

// The environment of the commands that serve a page, serve and dashboard.
const (
	// envDashboardToken is a token the page requires: as a bearer token,
	// or as the password of basic auth with any user name.
	envDashboardToken = "JOBQUEUE_DASHBOARD_TOKEN"
	// envDashboardAuth is "user:password" for basic auth.
	envDashboardAuth = "JOBQUEUE_DASHBOARD_AUTH"
)

// accessHelp says, in a command's usage, what access needs.
const accessHelp = "Beyond loopback it needs authentication: " + envDashboardToken + " (a bearer token, or the password of basic auth)\n" +
	"or " + envDashboardAuth + "=user:password. Whatever the address, it answers only to loopback names, IP addresses\n" +
	"and the names given to -host, so that a web page visited cannot reach it by DNS rebinding."

// access is how the page of serve or dashboard is reached: the address
// it listens on, the host names it answers to besides loopback names and
// IP addresses, and the credentials it requires. Both commands take it
// from the same flags and environment, and follow the same rule: beyond
// loopback, no page without credentials.
type access struct {
	addr  string
	token string
	hosts listFlag
	// auth is the credentials required, set by listen; nil for none.
	auth *dashboardAuth
}

// register defines the flags -addr (defaulting to addr), -token and
// -host on fs.
func (a *access) register(fs *flag.FlagSet, addr string) {
	fs.StringVar(&a.addr, "addr", addr, "listen `address`; beyond loopback, authentication is required")
	fs.StringVar(&a.token, "token", "", "require this `token` (prefer "+envDashboardToken+": a flag shows in ps)")
	fs.Var(&a.hosts, "host", "a host `name` the page answers to, besides loopback names and IP addresses; repeat for several")
}

// listen reads the credentials set by -token and the environment, and
// listens on -addr, refusing an address beyond loopback without
// credentials. When it cannot, it says why and returns a nil listener
// and the exit code.
func (a *access) listen(e *cmdEnv) (net.Listener, int) {
	auth, err := newDashboardAuth(a.token, e.getenv(envDashboardToken), e.getenv(envDashboardAuth))
	if err != nil {
		e.errorf("%v", err)
		return nil, exitUsage
	}
	a.auth = auth
	ln, err := net.Listen("tcp", a.addr)
	if err != nil {
		e.errorf("%v", err)
		return nil, exitError
	}
	if tcp, _ := ln.Addr().(*net.TCPAddr); (tcp == nil || !tcp.IP.IsLoopback()) && auth == nil {
		ln.Close()
		e.errorf("refusing to serve on %s, beyond loopback, without authentication: set %s (or -token) or %s=user:password", ln.Addr(), envDashboardToken, envDashboardAuth)
		return nil, exitUsage
	}
	return ln, exitOK
}

// wrap requires the credentials of every request to h, when there are
// any, behind the pages' checks (webui.Guard): a request for another
// host is refused before credentials are asked for, so a rebinding page
// gets no login prompt, and a refusal carries the pages' headers.
func (a *access) wrap(h http.Handler) http.Handler {
	if a.auth == nil {
		return h
	}
	return webui.Guard{Hosts: a.hosts, HostsFrom: "-host", MaxBody: maxBody}.Handler(a.auth.wrap(h))
}

// listFlag is a flag that may be given several times.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	if v == "" {
		return errors.New("empty value")
	}
	*l = append(*l, v)
	return nil
}

// dashboardAuth is what a served page requires of a request: a
// token (bearer, or the basic-auth password with any user), or a basic
// auth user and password.
type dashboardAuth struct {
	token      string
	user, pass string
}

// newDashboardAuth returns the authentication set by the -token flag and
// the environment, or nil when none is.
func newDashboardAuth(flagToken, envToken, envBasic string) (*dashboardAuth, error) {
	if flagToken != "" && envToken != "" && flagToken != envToken {
		return nil, fmt.Errorf("-token and %s disagree; give one", envDashboardToken)
	}
	a := &dashboardAuth{token: flagToken}
	if a.token == "" {
		a.token = envToken
	}
	if envBasic != "" {
		user, pass, ok := strings.Cut(envBasic, ":")
		if !ok || user == "" || pass == "" {
			return nil, fmt.Errorf("%s must be user:password, both not empty", envDashboardAuth)
		}
		a.user, a.pass = user, pass
	}
	if a.token == "" && a.user == "" {
		return nil, nil
	}
	return a, nil
}

// allowed reports whether r carries the credentials, compared in constant
// time.
func (a *dashboardAuth) allowed(r *http.Request) bool {
	same := func(got, want string) bool {
		return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
	}
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return same(bearer, a.token)
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	if same(pass, a.token) {
		return true
	}
	return same(user, a.user) && same(pass, a.pass)
}

// wrap requires the credentials of every request, answering 401 with a
// basic-auth challenge, so a browser asks for them.
func (a *dashboardAuth) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.allowed(r) {
			w.Header().Set("WWW-Authenticate", `Basic realm="jobqueue dashboard", charset="UTF-8"`)
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintln(w, `{"error":"authentication required"}`)
			return
		}
		next.ServeHTTP(w, r)
	})
}
