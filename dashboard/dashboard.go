// Package dashboard serves a web dashboard for jobqueue queues: one page
// and its JSON API, as an http.Handler to mount in your own server, under
// any path prefix.
//
//	mux := http.NewServeMux()
//	mux.Handle("/admin/jobs/", http.StripPrefix("/admin/jobs",
//		dashboard.New([]*jobqueue.Queue{emails, reports},
//			dashboard.Authorize(isAdmin),
//			dashboard.AllowedHosts("ops.example.com"))))
//
// The page shows every queue given, and with Discover every queue
// registered in the store (depths, latency, rates, paused, limits), and
// one queue at a time: its counts, the last hour's history,
// its kinds' limits, its schedules (jqcron), and its jobs state by state,
// a page at a time, with search by id and id prefix and a filter by
// kind. Unless ReadOnly, it
// retries, deletes and cancels jobs, retries or deletes every dead job,
// and pauses and resumes queues.
//
// The page and its assets are embedded; it loads nothing from elsewhere.
// Its URLs are relative, so it works under whatever prefix the handler is
// mounted at, as long as the prefix is stripped (http.StripPrefix) and
// the page is reached with its trailing slash ("/admin/jobs/"; a
// ServeMux pattern ending in a slash redirects "/admin/jobs" there).
//
// When a store stops answering, the API says so with a 503 and a
// one-line reason, and the time the outage began; the page shows that in
// a banner and keeps the last numbers it had, greyed, rather than zeros.
package dashboard

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jobqueue-go/jobqueue"
)

//go:embed web
var webFiles embed.FS

// DefaultTimeout bounds the store calls of one request, unless Timeout
// says otherwise.
const DefaultTimeout = 5 * time.Second

// maxBody bounds a request body: the API's forms are a few fields.
const maxBody = 16 << 10

// Option configures a dashboard.
type Option func(*config)

type config struct {
	readOnly  bool
	authorize func(*http.Request) bool
	hosts     []string
	timeout   time.Duration
	log       *slog.Logger
	// discover is set by Discover; discoverEvery is DiscoverInterval,
	// shorter in tests.
	discover      *discovery
	discoverEvery time.Duration
}

// ReadOnly makes the dashboard a view only: every endpoint that would
// change a queue answers 403 and changes nothing, and the page shows no
// action.
func ReadOnly() Option {
	return func(c *config) { c.readOnly = true }
}

// Authorize sets a check every request must pass, the page and its assets
// included: a request it refuses gets 403 and nothing else. Use it to
// call your application's own sign-in, for example a session cookie
// checked against an admin role. The dashboard itself has no users.
func Authorize(allow func(*http.Request) bool) Option {
	return func(c *config) { c.authorize = allow }
}

// AllowedHosts names the host names the dashboard answers to, besides
// loopback names (localhost, *.localhost) and IP addresses, which it
// always answers to. A request whose Host header names another host gets
// 403. This stops DNS rebinding: a web page an operator visits that
// points its own domain at the dashboard's address then sends its own
// host name, which is not on the list. Names are compared without the
// port and case-insensitively.
func AllowedHosts(hosts ...string) Option {
	return func(c *config) {
		for _, h := range hosts {
			c.hosts = append(c.hosts, normHost(h))
		}
	}
}

// Timeout bounds the store calls of one request (default DefaultTimeout):
// a store that does not answer within it is reported unavailable.
func Timeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// Logger sets where the dashboard logs failed store calls (default
// slog.Default()); an outage is logged once as it begins and once as it
// ends, not once per request.
func Logger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.log = l
		}
	}
}

// handler is the dashboard.
type handler struct {
	cfg     config
	set     *queueSet
	outages outages
	served  http.Handler
}

// New returns the dashboard of queues, in the order given, and, with
// Discover, of every queue registered in a store. It panics on no queue
// (without Discover), a nil queue, or two queues of one name, which the
// page could not tell apart: like a ServeMux given two handlers for one
// pattern, that is a mistake in the program, not a condition to handle.
func New(queues []*jobqueue.Queue, opts ...Option) http.Handler {
	h := &handler{cfg: config{timeout: DefaultTimeout, log: slog.Default(), discoverEvery: DiscoverInterval}}
	for _, o := range opts {
		o(&h.cfg)
	}
	h.set = newQueueSet(queues, h.cfg.discover, h.cfg.discoverEvery, h.cfg.log)
	h.outages.since = map[string]time.Time{}
	h.outages.log = h.cfg.log
	h.served = h.routes()
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.served.ServeHTTP(w, r)
}

// routes returns the page and the API, behind the host check, the
// authorisation hook, the cross-origin refusal and the body limit.
func (h *handler) routes() http.Handler {
	mux := http.NewServeMux()
	static, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(static)
	mux.Handle("GET /{$}", files)
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", files))

	mux.HandleFunc("GET /api/overview", h.handleOverview)
	mux.HandleFunc("GET /api/queue", h.handleQueue)
	mux.HandleFunc("GET /api/history", h.handleHistory)
	mux.HandleFunc("GET /api/schedules", h.handleSchedules)
	mux.HandleFunc("GET /api/jobs", h.handleJobs)
	// One job is named by a query parameter, never by a path segment: a
	// browser normalises /api/jobs/.. away before sending it.
	mux.HandleFunc("GET /api/job", h.handleJob)

	for path, act := range h.actions() {
		mux.HandleFunc("POST /api/"+path, h.action(act))
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusForbidden, "cross-origin request refused: the dashboard accepts changes only from its own page")
	}))
	return h.guard(cop.Handler(mux))
}

func (h *handler) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		hdr.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("Referrer-Policy", "no-referrer")
		hdr.Set("Cache-Control", "no-store")
		if !h.hostAllowed(r.Host) {
			writeError(w, http.StatusForbidden, fmt.Sprintf("host %q refused: the dashboard answers to loopback, IP addresses and the names given to dashboard.AllowedHosts", r.Host))
			return
		}
		if h.cfg.authorize != nil && !h.cfg.authorize(r) {
			writeError(w, http.StatusForbidden, "not authorised")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		next.ServeHTTP(w, r)
	})
}

// hostAllowed reports whether the dashboard answers to a request for
// hostport. An IP address is safe to answer: DNS rebinding needs the
// attacker's own name in the Host header.
func (h *handler) hostAllowed(hostport string) bool {
	host := normHost(hostport)
	if host == "" {
		return false
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") || net.ParseIP(host) != nil {
		return true
	}
	return slices.Contains(h.cfg.hosts, host)
}

// normHost returns hostport's host, lower-case, without port, brackets
// or a final dot.
func normHost(hostport string) string {
	host := hostport
	if hh, _, err := net.SplitHostPort(hostport); err == nil {
		host = hh
	}
	return strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
}

// queue returns the queue the request names in its queue parameter,
// answering 400 or 404 itself when there is none.
func (h *handler) queue(w http.ResponseWriter, r *http.Request) (*jobqueue.Queue, bool) {
	name := r.FormValue("queue")
	if name == "" {
		writeError(w, http.StatusBadRequest, "the queue parameter is missing")
		return nil, false
	}
	ctx, cancel := h.call(r)
	defer cancel()
	q, ok := h.set.lookup(ctx, name)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no queue %q on this dashboard", name))
		return nil, false
	}
	return q, true
}

// call returns a context for the store calls of one request: the
// request's, bounded by the dashboard's timeout.
func (h *handler) call(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), h.cfg.timeout)
}

// ---- outages ----

// outages remembers, for each queue whose store stopped answering, when
// it did, so every reply and the page give the same start however often
// they ask, and the log says it once.
type outages struct {
	mu    sync.Mutex
	since map[string]time.Time
	log   *slog.Logger
}

// failed records that q's store did not answer, and returns when the
// outage began.
func (o *outages) failed(q string, reason string) time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	if t, ok := o.since[q]; ok {
		return t
	}
	now := time.Now().UTC()
	o.since[q] = now
	o.log.Warn("dashboard: queue unavailable", "queue", q, "reason", reason)
	return now
}

// answered records that q's store answered, ending any outage.
func (o *outages) answered(q string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if t, ok := o.since[q]; ok {
		delete(o.since, q)
		o.log.Info("dashboard: queue available again", "queue", q, "down_for", time.Since(t).Round(time.Second).String())
	}
}

// ---- responses ----

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// unavailable is the body of a 503: the reason on one line, and when the
// outage began.
type unavailable struct {
	Error string    `json:"error"`
	Queue string    `json:"queue"`
	Since time.Time `json:"since"`
}

// reason returns err's message on one line.
func reason(err error) string {
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return msg
}

// unavailable returns the one-line reason of a store that did not
// answer.
func (h *handler) unavailable(err error) string {
	// "queue unavailable: jobqueue: backend unavailable: …" would say it
	// twice.
	msg := strings.TrimPrefix(reason(err), jobqueue.ErrUnavailable.Error()+": ")
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("queue unavailable: no answer within %v (%s)", h.cfg.timeout, msg)
	}
	return "queue unavailable: " + msg
}

// failed answers a store call of q that failed with the status that fits
// its error. An error that is not the caller's (a bad id, a job in the
// wrong state, a capability the backend lacks) means the store did not
// answer: a 503, recorded as an outage unless the request itself went
// away.
func (h *handler) failed(w http.ResponseWriter, r *http.Request, q *jobqueue.Queue, err error) {
	switch {
	case errors.Is(err, jobqueue.ErrNotFound):
		writeError(w, http.StatusNotFound, reason(err))
	case errors.Is(err, jobqueue.ErrWrongState):
		writeError(w, http.StatusConflict, reason(err))
	case errors.Is(err, jobqueue.ErrInvalidArgument), errors.Is(err, jobqueue.ErrInvalidState), errors.Is(err, jobqueue.ErrInvalidQueueName):
		writeError(w, http.StatusBadRequest, reason(err))
	case errors.Is(err, errors.ErrUnsupported):
		writeError(w, http.StatusNotImplemented, reason(err))
	case r.Context().Err() != nil:
		// The client left; nothing to tell it, and no outage to record.
		writeError(w, http.StatusServiceUnavailable, "request cancelled")
	default:
		msg := h.unavailable(err)
		since := h.outages.failed(q.Name(), msg)
		w.Header().Set("Retry-After", "2")
		writeJSON(w, http.StatusServiceUnavailable, unavailable{Error: msg, Queue: q.Name(), Since: since})
	}
}
