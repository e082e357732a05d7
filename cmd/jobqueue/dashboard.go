package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/dashboard"
	"github.com/jobqueue-go/jobqueue/internal/redisq"
)

// The dashboard command's defaults and its environment.
const (
	defaultDashboardAddr = "127.0.0.1:8799"
	// envDashboardToken is a token the dashboard requires: as a bearer
	// token, or as the password of basic auth with any user name.
	envDashboardToken = "JOBQUEUE_DASHBOARD_TOKEN"
	// envDashboardAuth is "user:password" for basic auth.
	envDashboardAuth = "JOBQUEUE_DASHBOARD_AUTH"
)

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

func runDashboard(ctx context.Context, e *cmdEnv, args []string) int {
	fs := e.flagSet("dashboard", "[flags]", "Serve the dashboard (the dashboard package) of real queues: no mock workers, no enqueue, read-only unless -actions.\n"+
		"Without -queue it shows every queue registered in the store, and those registered while it runs.\n"+
		"Beyond loopback it needs authentication: "+envDashboardToken+" (a bearer token, or the password of basic auth)\n"+
		"or "+envDashboardAuth+"=user:password.")
	var queues, hosts listFlag
	fs.Var(&queues, "queue", "a queue to show, by `name`; repeat for several (default: every queue registered in the store, as \"jobqueue queues\" lists them)")
	backendKind := fs.String("backend", backendAuto, "the Redis adapter: auto (go-redis; never falls back to memory), goredis or rueidis")
	addr := fs.String("addr", defaultDashboardAddr, "listen `address`; beyond loopback, authentication is required")
	actions := fs.Bool("actions", false, "allow changes: retry, delete and cancel jobs, retry or delete every dead job, pause and resume")
	token := fs.String("token", "", "require this `token` (prefer "+envDashboardToken+": a flag shows in ps)")
	fs.Var(&hosts, "host", "a host `name` the dashboard answers to, besides loopback names and IP addresses; repeat for several")
	pos, code, ok := parse(fs, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		e.errorf("dashboard takes no arguments, got %q", pos)
		return exitUsage
	}
	auth, err := newDashboardAuth(*token, e.getenv(envDashboardToken), e.getenv(envDashboardAuth))
	if err != nil {
		e.errorf("%v", err)
		return exitUsage
	}
	if *backendKind == backendMemory {
		return e.fail(memoryRefused("the dashboard's queues"))
	}
	// Without -queue, the dashboard shows every queue of the registry.
	discover := len(queues) == 0
	for _, name := range queues {
		if err := backend.ValidateQueueName(name); err != nil {
			e.errorf("-queue: %v", err)
			return exitUsage
		}
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		e.errorf("%v", err)
		return exitError
	}
	tcp, _ := ln.Addr().(*net.TCPAddr)
	if (tcp == nil || !tcp.IP.IsLoopback()) && auth == nil {
		ln.Close()
		e.errorf("refusing to serve the dashboard on %s, beyond loopback, without authentication: set %s (or -token) or %s=user:password", ln.Addr(), envDashboardToken, envDashboardAuth)
		return exitUsage
	}

	b, closeB, err := e.storeBackend(ctx, *backendKind, "the dashboard's queues")
	if err != nil {
		ln.Close()
		return e.fail(err)
	}
	defer closeB()
	qs, err := dashboardQueues(b, queues)
	if err != nil {
		ln.Close()
		return e.fail(err)
	}

	log := slog.New(slog.NewTextHandler(e.stderr, nil))
	opts := []dashboard.Option{dashboard.Logger(log), dashboard.AllowedHosts(hosts...)}
	if !*actions {
		opts = append(opts, dashboard.ReadOnly())
	}
	var shown string
	if discover {
		// The registry is read once now, so that a store where it cannot
		// be read (an ACL without it) is told at once, with the way out.
		entries, err := jobqueue.Queues(ctx, b)
		if err != nil {
			ln.Close()
			return e.fail(fmt.Errorf("%w (name the queues with -queue; an ACL user needs ~%s)", err, redisq.RegistryKey))
		}
		opts = append(opts, dashboard.Discover(b))
		shown = fmt.Sprintf("every queue registered in the store (%d now), read again every %v", len(entries), dashboard.DiscoverInterval)
	} else {
		names := make([]string, len(qs))
		for i, q := range qs {
			names[i] = q.Name()
		}
		shown = "queues " + strings.Join(names, ", ")
	}
	var h http.Handler = dashboard.New(qs, opts...)
	if auth != nil {
		h = auth.wrap(h)
	}
	mode := "read-only (-actions allows changes)"
	if *actions {
		mode = "with actions"
	}
	fmt.Fprintf(e.stderr, "jobqueue: %s, %s\n", shown, mode)
	fmt.Fprintf(e.stderr, "jobqueue: dashboard at %s\n", dashboardURL(tcp, ln.Addr()))

	err = e.serveHTTP(ctx, ln, h, log)
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		e.errorf("%v", err)
		return exitError
	}
	return exitOK
}

// dashboardQueues opens the queues named on b, each once.
func dashboardQueues(b backend.Backend, names []string) ([]*jobqueue.Queue, error) {
	qs := make([]*jobqueue.Queue, 0, len(names))
	seen := map[string]bool{}
	for _, name := range names {
		if seen[name] {
			continue
		}
		seen[name] = true
		// The queue gets the adapter itself, so it sees the adapter's
		// optional capabilities (history, pause, cancel).
		q, err := jobqueue.New(b, name)
		if err != nil {
			return nil, err
		}
		qs = append(qs, q)
	}
	return qs, nil
}

// memoryRefused is the error of a command that shows what is kept in
// Redis (what) given -backend memory: another process's memory cannot
// be reached, and this one's is empty.
func memoryRefused(what string) error {
	return usagef("%s are kept in Redis; -backend memory would show this process's own, which are none", what)
}

// storeBackend opens the Redis backend kind names (a dashboard's, or the
// registry's), never falling back to memory: an empty in-process store
// would show nothing true. It says on stderr, or in e.store for --json,
// which store it opened, for what. A test's e.queue stands for the store.
func (e *cmdEnv) storeBackend(ctx context.Context, kind, what string) (backend.Backend, func(), error) {
	desc := memoryDesc
	var b backend.Backend
	closeB := func() {}
	switch {
	case e.queue != nil:
		b, e.store = e.queue.Backend(), backendMemory
	case kind == backendMemory:
		return nil, nil, memoryRefused(what)
	default:
		ob, err := openBackend(ctx, kind, e.getenv("REDIS_URL"), e.getenv("REDIS_CA_FILE"), memoryBounds{})
		if err != nil {
			return nil, nil, err
		}
		if ob.note != "" {
			ob.Close()
			e.store = ob.tried
			return nil, nil, fmt.Errorf("jobqueue: %s; this command needs the Redis that holds the queues", ob.note)
		}
		b, closeB, e.store, desc = ob.Backend, ob.Close, ob.store, ob.desc
	}
	if !e.json {
		fmt.Fprintf(e.stderr, "jobqueue: %s on %s\n", what, desc)
	}
	return b, closeB, nil
}

// dashboardAuth is what the dashboard command requires of a request: a
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
