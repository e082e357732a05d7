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
// one queue at a time: its counts, the last hour's and the last day's
// history, its kinds' limits, its schedules (jqcron), and its jobs state by state,
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
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/internal/webui"
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
		c.hosts = append(c.hosts, hosts...)
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
	outages *webui.Outages
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
	h.set = newQueueSet(queues, h.cfg.discover, h.cfg.discoverEvery, h.cfg.timeout, h.cfg.log)
	h.outages = webui.NewOutages(h.cfg.log, "dashboard")
	h.served = h.routes()
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.served.ServeHTTP(w, r)
}

// routes returns the page and the API, behind webui.Guard's checks.
func (h *handler) routes() http.Handler {
	mux := http.NewServeMux()
	webui.Mount(mux, webFiles, "web")

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
	return webui.Guard{Hosts: h.cfg.hosts, HostsFrom: "dashboard.AllowedHosts", Authorize: h.cfg.authorize, MaxBody: maxBody}.Handler(mux)
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

// ---- responses ----

// The shared helpers, under the names this package's handlers use.
var (
	writeJSON  = webui.WriteJSON
	writeError = webui.WriteError
	reason     = webui.OneLine
)

// failed answers a store call of q that failed with the status that fits
// its error; a store that did not answer gets a 503 with the start of
// its outage (webui.Outages.Reply).
func (h *handler) failed(w http.ResponseWriter, r *http.Request, q *jobqueue.Queue, err error) {
	h.outages.Reply(r.Context(), w, q.Name(), err, h.cfg.timeout, nil)
}
