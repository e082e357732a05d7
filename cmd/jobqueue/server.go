package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/internal/webui"
	"github.com/jobqueue-go/jobqueue/jqprom"
)

//go:embed web
var webFiles embed.FS

// Limits of the dashboard's own API, under /api/. Values outside are
// refused with 400, never clamped; the classic endpoints (classic.go)
// clamp instead.
const (
	maxBody         = 64 << 10
	maxEnqueueCount = 1000
	maxRecipient    = 200
	defaultListCap  = 50
	maxListCap      = 500
	defaultPoolSize = 4
)

// readConcurrency is how many job records one classic list reads at once.
const readConcurrency = 8

// listPreviewBytes is how much of each payload a list reads
// (Queue.Summaries): enough for the kind and recipient, which the demo's
// payloads hold first, in short fields (demoFields).
const listPreviewBytes = 512

// server is the dashboard's page and HTTP API over one queue and the mock
// worker pool that works it. It serves two APIs on the same queue: the
// dashboard's own under /api/, strict, and the classic demo's at the root,
// which the recipe's page calls (classic.go).
type server struct {
	q       *jobqueue.Queue
	pool    *pool
	log     *slog.Logger
	backend string // what the page says the queue runs on
	// hosts are the host names the page answers to besides loopback
	// names and IP addresses (-host): any other Host, which a
	// DNS-rebinding page sends, gets 403, whatever the address.
	hosts []string
	// outages records when the store stopped answering, for the 503s
	// and the log.
	outages *webui.Outages
	// metrics serves GET /metrics: the queue's jqprom.Collector, the
	// pool's jqprom.Observer, and the process's Go runtime.
	metrics http.Handler
	// sched, when set, runs the demo's schedules on the queue
	// (demoschedules.go).
	sched *demoScheduler
}

func newServer(q *jobqueue.Queue, backendDesc string, log *slog.Logger) *server {
	s := &server{q: q, pool: newPool(q, log), log: log, backend: backendDesc, outages: webui.NewOutages(log, "jobqueue serve")}
	obs := jqprom.NewObserver()
	s.pool.obs = obs
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		jqprom.NewCollector([]*jobqueue.Queue{q}, jqprom.WithTimeout(redisTimeout), jqprom.WithLogger(log)),
		obs,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	s.metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)})
	return s
}

// handler returns the routes, behind webui.Guard's checks.
func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	webui.Mount(mux, webFiles, "web")

	// The dashboard's own API.
	mux.HandleFunc("GET /api/jobs", s.handleJobs)
	mux.HandleFunc("GET /api/stats", s.handleStats)
	mux.HandleFunc("GET /api/history", s.handleHistory)
	mux.HandleFunc("GET /api/schedules", s.handleSchedules)
	mux.HandleFunc("POST /api/enqueue", s.handleEnqueue)
	mux.HandleFunc("POST /api/workers/start", s.handleWorkersStart)
	mux.HandleFunc("POST /api/workers/stop", s.handleWorkersStop)
	mux.HandleFunc("POST /api/workers/configure", s.handleWorkersConfigure)
	mux.HandleFunc("POST /api/reclaim", s.handleReclaim)
	mux.HandleFunc("POST /api/reset", s.handleReset)
	// One job's endpoints, by query parameter (api/job?id=ID), which the
	// page uses: an id in the path such as ".." (refused for new jobs,
	// but readable in an older store) is resolved away by the browser.
	mux.HandleFunc("GET /api/job", s.handleJob)
	mux.HandleFunc("POST /api/job/retry", s.handleRetry)
	mux.HandleFunc("POST /api/job/delete", s.handleDelete)
	// And in the path, with no classic twin: they answer at both places.
	for _, prefix := range []string{"/api", ""} {
		mux.HandleFunc("GET "+prefix+"/jobs/{id}", s.handleJob)
		mux.HandleFunc("POST "+prefix+"/jobs/{id}/retry", s.handleRetry)
		mux.HandleFunc("POST "+prefix+"/jobs/{id}/delete", s.handleDelete)
		mux.HandleFunc("DELETE "+prefix+"/jobs/{id}", s.handleDelete)
	}

	// The classic demo's API.
	mux.HandleFunc("GET /jobs", s.handleClassicJobs)
	mux.HandleFunc("GET /stats", s.handleStats)
	mux.HandleFunc("POST /enqueue", s.handleClassicEnqueue)
	mux.HandleFunc("POST /workers/start", s.handleClassicWorkersStart)
	mux.HandleFunc("POST /workers/stop", s.handleClassicWorkersStop)
	mux.HandleFunc("POST /workers/configure", s.handleClassicWorkersConfigure)
	mux.HandleFunc("POST /reclaim", s.handleReclaim)
	mux.HandleFunc("POST /reset", s.handleClassicReset)

	// Prometheus.
	mux.Handle("GET /metrics", s.metrics)

	return webui.Guard{Hosts: s.hosts, HostsFrom: "-host", MaxBody: maxBody}.Handler(mux)
}

// close stops the demo's Scheduler and the worker pool, handing the
// pool's jobs back to pending.
func (s *server) close() {
	if s.sched != nil {
		s.sched.stop()
	}
	s.pool.close()
}

// ---- responses ----

// The shared helpers, under the names this package's handlers use.
var (
	writeJSON  = webui.WriteJSON
	writeError = webui.WriteError
)

// writeQueueError answers with the status that fits a queue error
// (webui.Status). A store that did not answer gets a 503 with the start
// of the outage and the worker pool's state, which this process knows
// all the same (unavailableReply).
func (s *server) writeQueueError(w http.ResponseWriter, err error) {
	s.outages.Reply(context.Background(), w, s.q.Name(), err, 0, func(u webui.Unavailable) any {
		return unavailableReply{Unavailable: u, Pool: s.pool.state()}
	})
}

// unavailableReply is the body of a 503: why and since when the store
// does not answer, and the pool, apart from the queue's stats, which are
// not known.
type unavailableReply struct {
	webui.Unavailable
	Pool poolState `json:"pool"`
}

// ---- stats ----

// dashboardStats are the stats both APIs report: the queue's, as "jobqueue
// stats --json" prints them, and the demo's own. The field names are those
// of the classic demo, so its clients keep working: visibility_ms is the
// lease.
type dashboardStats struct {
	queueStats
	Backend        string `json:"backend"`
	HungTotal      int64  `json:"hung_total"`
	LeaseMS        int64  `json:"visibility_ms"`
	WorkersRunning int    `json:"workers_running"`
	// WorkerProcessed counts the jobs this server's workers completed since
	// it started or was last reset.
	WorkerProcessed int64   `json:"worker_processed_total"`
	WorkLatencyMS   int64   `json:"work_latency_ms"`
	FailRate        float64 `json:"fail_rate"`
	HangRate        float64 `json:"hang_rate"`
}

func (s *server) stats(ctx context.Context) (dashboardStats, error) {
	st, err := s.q.Stats(ctx)
	if err != nil {
		return dashboardStats{}, err
	}
	s.outages.Answered(s.q.Name())
	p := s.pool.state()
	return dashboardStats{
		queueStats:      newQueueStats(s.q.Name(), st),
		Backend:         s.backend,
		HungTotal:       p.Hung,
		LeaseMS:         s.q.Lease().Milliseconds(),
		WorkersRunning:  p.Running,
		WorkerProcessed: p.Processed,
		WorkLatencyMS:   p.LatencyMS,
		FailRate:        p.FailRate,
		HangRate:        p.HangRate,
	}, nil
}

func (s *server) handleStats(w http.ResponseWriter, r *http.Request) {
	st, err := s.stats(r.Context())
	if err != nil {
		s.writeQueueError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// replyWithStats answers a change with its outcome fields plus the stats
// after it.
func (s *server) replyWithStats(w http.ResponseWriter, r *http.Request, fields map[string]any) {
	st, err := s.stats(r.Context())
	if err != nil {
		s.writeQueueError(w, err)
		return
	}
	fields["stats"] = st
	writeJSON(w, http.StatusOK, fields)
}

// ---- history ----

// defaultHistoryMinutes is what GET /api/history reports without a
// minutes parameter: the hour the page charts.
const defaultHistoryMinutes = 60

// handleHistory answers GET /api/history?minutes=N (1 to 1440, default
// 60): the queue's counts of each minute, oldest first, the last one the
// current minute on the store's clock, as "jobqueue history --json"
// prints them.
func (s *server) handleHistory(w http.ResponseWriter, r *http.Request) {
	minutes := defaultHistoryMinutes
	if v := r.URL.Query().Get("minutes"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxMinutes {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("minutes must be a whole number from 1 to %d, got %q", maxMinutes, v))
			return
		}
		minutes = n
	}
	points, err := s.q.History(r.Context(), minutes)
	if err != nil {
		// 501 on a backend that keeps no history (webui.Status).
		s.writeQueueError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, webui.NewHistory(s.q.Name(), minutes, points))
}

// ---- jobs ----

// apiState is the name the API gives a state, in the keys of GET /jobs and
// the state of every job it reports: the classic demo's "failed" for the
// dead state, so that its clients keep working.
func apiState(s jobqueue.State) string {
	if s == jobqueue.StateDead {
		return "failed"
	}
	return string(s)
}

// jobSummary is a job as the dashboard's columns show it.
type jobSummary struct {
	ID           string `json:"id"`
	State        string `json:"state"`
	Kind         string `json:"kind,omitempty"`
	Priority     int    `json:"priority,omitempty"`
	Recipient    string `json:"recipient,omitempty"`
	Attempts     int    `json:"attempts"`
	MaxAttempts  int    `json:"max_attempts"`
	EnqueuedAtMS int64  `json:"enqueued_at_ms"`
	RunAtMS      int64  `json:"run_at_ms,omitempty"`
	LeaseUntilMS int64  `json:"lease_until_ms,omitempty"`
	FinishedAtMS int64  `json:"finished_at_ms,omitempty"`
	LastError    string `json:"last_error,omitempty"`
	// Hung says a hung worker abandoned the job, which now waits for a
	// reclaim sweep.
	Hung bool `json:"hung,omitempty"`
}

// summarize is s as the columns show it, with the kind and recipient
// that s's preview holds.
func summarize(s jobqueue.JobSummary) jobSummary {
	p := demoFields(s.Preview)
	return jobSummary{
		ID:           s.ID,
		State:        apiState(s.State),
		Kind:         orDefault(s.Kind, p.Kind),
		Priority:     s.Priority,
		Recipient:    p.Recipient,
		Attempts:     s.Attempts,
		MaxAttempts:  s.MaxAttempts,
		EnqueuedAtMS: unixMS(s.EnqueuedAt),
		RunAtMS:      unixMS(s.RunAt),
		LeaseUntilMS: unixMS(s.LeaseUntil),
		FinishedAtMS: unixMS(s.FinishedAt),
		LastError:    s.LastError,
	}
}

func unixMS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// jobInfos returns the records of up to limit jobs in one state, in the
// state's order, reading readConcurrency records at a time, for the
// classic lists, which show whole payloads. A job that leaves the queue
// between the list and its read is skipped.
func (s *server) jobInfos(ctx context.Context, state jobqueue.State, limit int) ([]jobqueue.JobInfo, error) {
	ids, err := s.q.List(ctx, state, 0, limit)
	if err != nil {
		return nil, err
	}
	infos := make([]jobqueue.JobInfo, len(ids))
	errs := make([]error, len(ids))
	webui.Each(len(ids), readConcurrency, func(i int) { infos[i], errs[i] = s.q.Get(ctx, ids[i]) })
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := infos[:0]
	for i, info := range infos {
		switch {
		case errs[i] == nil:
			out = append(out, info)
		case !errors.Is(errs[i], jobqueue.ErrNotFound):
			return nil, errs[i]
		}
	}
	return out, nil
}

// listed is a job as a list shows it: in the state of the list it was
// found in, even if it has moved on since, and marked when a hung worker
// abandoned it.
func (s *server) listed(sum jobqueue.JobSummary, state jobqueue.State) jobSummary {
	js := summarize(sum)
	js.State = apiState(state)
	js.Hung = state == jobqueue.StateProcessing && s.pool.isHung(sum.ID)
	return js
}

// listJobs returns up to limit summaries of the jobs in one state, read
// without their payloads, MaxSummaries per call. A job that leaves the
// queue between the list and its read is skipped.
func (s *server) listJobs(ctx context.Context, state jobqueue.State, limit int) ([]jobSummary, error) {
	ids, err := s.q.List(ctx, state, 0, limit)
	if err != nil {
		return nil, err
	}
	out := make([]jobSummary, 0, len(ids))
	for page := range slices.Chunk(ids, jobqueue.MaxSummaries) {
		sums, err := s.q.Summaries(ctx, page, listPreviewBytes)
		if err != nil {
			return nil, err
		}
		for _, sum := range sums {
			out = append(out, s.listed(sum, state))
		}
	}
	return out, nil
}

func (s *server) handleJobs(w http.ResponseWriter, r *http.Request) {
	limit := defaultListCap
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListCap {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit must be a whole number from 1 to %d, got %q", maxListCap, v))
			return
		}
		limit = n
	}
	names := make([]string, len(backend.States))
	for i, st := range backend.States {
		names[i] = apiState(st)
	}
	s.writeLists(w, r, names, func(ctx context.Context, i int) (any, error) {
		return s.listJobs(ctx, backend.States[i], limit)
	}, map[string]any{"limit": limit})
}

// writeLists answers a request for job lists: the lists called names,
// read by list concurrently, with the queue's stats, the workers, the time
// and extra besides.
func (s *server) writeLists(w http.ResponseWriter, r *http.Request, names []string,
	list func(ctx context.Context, i int) (any, error), extra map[string]any) {
	ctx := r.Context()
	lists := make([]any, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i := range names {
		wg.Go(func() { lists[i], errs[i] = list(ctx, i) })
	}
	wg.Wait()
	// One outage fails every list with the same reason: the reply gives
	// the first, once, not one copy per list.
	for _, err := range errs {
		if err != nil {
			s.writeQueueError(w, err)
			return
		}
	}
	st, err := s.stats(ctx)
	if err != nil {
		s.writeQueueError(w, err)
		return
	}
	out := map[string]any{
		"stats":   st,
		"workers": s.pool.snapshot(),
		"pool":    s.pool.state(),
		"now_ms":  time.Now().UnixMilli(),
	}
	for k, v := range extra {
		out[k] = v
	}
	for i, name := range names {
		out[name] = lists[i]
	}
	writeJSON(w, http.StatusOK, out)
}

// jobDetail is one job's whole record, as "jobqueue show --json" and, with
// the state named by apiState, the detail drawer give it.
type jobDetail struct {
	ID          string            `json:"id"`
	State       string            `json:"state"`
	Kind        string            `json:"kind,omitempty"`
	Priority    int               `json:"priority,omitempty"`
	Recipient   string            `json:"recipient,omitempty"`
	Attempts    int               `json:"attempts"`
	MaxAttempts int               `json:"max_attempts"`
	Headers     map[string]string `json:"headers,omitempty"`
	TimeoutMS   int64             `json:"timeout_ms,omitempty"`
	ExpiresAt   *time.Time        `json:"expires_at,omitempty"`
	Payload     json.RawMessage   `json:"payload"`
	Result      json.RawMessage   `json:"result,omitempty"`
	LastError   string            `json:"last_error,omitempty"`
	EnqueuedAt  *time.Time        `json:"enqueued_at,omitempty"`
	RunAt       *time.Time        `json:"run_at,omitempty"`
	ClaimedAt   *time.Time        `json:"claimed_at,omitempty"`
	LeaseUntil  *time.Time        `json:"lease_until,omitempty"`
	FinishedAt  *time.Time        `json:"finished_at,omitempty"`
	Hung        bool              `json:"hung,omitempty"`
}

func detail(info jobqueue.JobInfo) jobDetail {
	p := demoFields(info.Payload)
	return jobDetail{
		ID:          info.ID,
		State:       string(info.State),
		Kind:        orDefault(info.Kind, p.Kind),
		Priority:    info.Priority,
		Recipient:   p.Recipient,
		Attempts:    info.Attempts,
		MaxAttempts: info.MaxAttempts,
		Headers:     info.Headers,
		TimeoutMS:   info.Timeout.Milliseconds(),
		ExpiresAt:   webui.TimePtr(info.ExpiresAt.UTC()),
		Payload:     rawJSON(info.Payload),
		Result:      rawJSON(info.Result),
		LastError:   info.LastError,
		EnqueuedAt:  webui.TimePtr(info.EnqueuedAt.UTC()),
		RunAt:       webui.TimePtr(info.RunAt.UTC()),
		ClaimedAt:   webui.TimePtr(info.ClaimedAt.UTC()),
		LeaseUntil:  webui.TimePtr(info.LeaseUntil.UTC()),
		FinishedAt:  webui.TimePtr(info.FinishedAt.UTC()),
	}
}

// rawJSON returns b as JSON to embed: nil when empty, and a JSON string
// when b is not JSON, so a foreign job cannot break the reply.
func rawJSON(b []byte) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	if json.Valid(b) {
		return json.RawMessage(b)
	}
	s, _ := json.Marshal(string(b))
	return s
}

// jobID is the id a job's endpoint names: in its path, or in its id
// parameter; it answers 400 itself when there is none.
func jobID(w http.ResponseWriter, r *http.Request) (string, bool) {
	if id := r.PathValue("id"); id != "" {
		return id, true
	}
	if id := r.FormValue("id"); id != "" {
		return id, true
	}
	writeError(w, http.StatusBadRequest, "the id parameter is missing")
	return "", false
}

func (s *server) handleJob(w http.ResponseWriter, r *http.Request) {
	id, ok := jobID(w, r)
	if !ok {
		return
	}
	info, err := s.q.Get(r.Context(), id)
	if err != nil {
		s.writeQueueError(w, err)
		return
	}
	d := detail(info)
	d.State = apiState(info.State)
	d.Hung = info.State == jobqueue.StateProcessing && s.pool.isHung(info.ID)
	writeJSON(w, http.StatusOK, d)
}

func (s *server) handleRetry(w http.ResponseWriter, r *http.Request) {
	id, ok := jobID(w, r)
	if !ok {
		return
	}
	if err := s.q.RetryDead(r.Context(), id); err != nil {
		if errors.Is(err, jobqueue.ErrWrongState) {
			writeError(w, http.StatusConflict, fmt.Sprintf("job %s is not dead; only dead jobs can be retried", id))
			return
		}
		s.writeQueueError(w, err)
		return
	}
	s.replyWithStats(w, r, map[string]any{"retried": id})
}

func (s *server) handleDelete(w http.ResponseWriter, r *http.Request) {
	id, ok := jobID(w, r)
	if !ok {
		return
	}
	if err := s.q.Delete(r.Context(), id); err != nil {
		s.writeQueueError(w, err)
		return
	}
	s.pool.forget(id)
	s.replyWithStats(w, r, map[string]any{"deleted": id})
}

// ---- changes ----

func (s *server) handleEnqueue(w http.ResponseWriter, r *http.Request) {
	f, ok := readForm(w, r)
	if !ok {
		return
	}
	s.enqueue(w, r, f, f.int("count", 1, 1, maxEnqueueCount), f.int("priority", 0, 0, jobqueue.MaxPriority))
}

// enqueue enqueues count demo jobs at a priority level, of the kind and
// recipient that f names, and answers with their ids and the stats after
// them. The kind is the jobs' own (jobqueue.Kind) and, for the classic
// page, which prints the payload, also a payload field.
func (s *server) enqueue(w http.ResponseWriter, r *http.Request, f *form, count, priority int) {
	kind := f.str("kind", "email")
	if f.err == nil && !slices.Contains(demoKinds, kind) {
		f.fail("kind must be one of %s, got %q", strings.Join(demoKinds, ", "), kind)
	}
	recipient := f.str("recipient", "")
	if f.err == nil {
		if err := checkRecipient(recipient); err != nil {
			f.err = err
		}
	}
	if f.err != nil {
		writeError(w, http.StatusBadRequest, f.err.Error())
		return
	}
	vs := make([]any, count)
	for i := range vs {
		vs[i] = newDemoPayload(kind, recipient)
	}
	ids, err := s.q.EnqueueBatch(r.Context(), vs, jobqueue.Kind(kind), jobqueue.Priority(priority))
	if err != nil {
		s.writeQueueError(w, err)
		return
	}
	s.replyWithStats(w, r, map[string]any{"enqueued": ids})
}

func checkRecipient(s string) error {
	if len(s) > maxRecipient {
		return fmt.Errorf("recipient must be at most %d bytes, got %d", maxRecipient, len(s))
	}
	if !utf8.ValidString(s) {
		return errors.New("recipient must be UTF-8 text")
	}
	for _, c := range s {
		if unicode.IsControl(c) {
			return errors.New("recipient must not contain control characters")
		}
	}
	return nil
}

// poolForm reads the pool's knobs from a form; absent knobs keep their
// current values.
func poolForm(f *form, cur poolConfig) poolConfig {
	if ms := f.int("work_latency_ms", int(cur.Latency.Milliseconds()), 0, int(maxLatency.Milliseconds())); f.err == nil {
		cur.Latency = time.Duration(ms) * time.Millisecond
	}
	cur.FailRate = f.rate("fail_rate", cur.FailRate)
	cur.HangRate = f.rate("hang_rate", cur.HangRate)
	return cur
}

// handleWorkersStart starts the pool at the given size (default: its
// current size, or 4), or resizes a running one.
func (s *server) handleWorkersStart(w http.ResponseWriter, r *http.Request) {
	s.changePool(w, r, max(s.pool.size(), defaultPoolSize), 1)
}

func (s *server) handleWorkersStop(w http.ResponseWriter, r *http.Request) {
	if _, ok := readForm(w, r); !ok {
		return
	}
	s.pool.stop()
	s.replyWithStats(w, r, map[string]any{"workers": s.pool.snapshot()})
}

// handleWorkersConfigure changes any of the knobs and the size; size 0
// stops the pool.
func (s *server) handleWorkersConfigure(w http.ResponseWriter, r *http.Request) {
	s.changePool(w, r, s.pool.size(), 0)
}

func (s *server) changePool(w http.ResponseWriter, r *http.Request, defSize, minSize int) {
	f, ok := readForm(w, r)
	if !ok {
		return
	}
	size := f.int("size", defSize, minSize, maxPoolSize)
	cfg := poolForm(f, s.pool.config())
	if f.err != nil {
		writeError(w, http.StatusBadRequest, f.err.Error())
		return
	}
	s.pool.setConfig(cfg)
	s.pool.setSize(size)
	s.replyWithStats(w, r, map[string]any{"workers": s.pool.snapshot()})
}

func (s *server) handleReclaim(w http.ResponseWriter, r *http.Request) {
	if _, ok := readForm(w, r); !ok {
		return
	}
	res, err := s.q.Reclaim(r.Context())
	s.pool.forget(res.Requeued...)
	s.pool.forget(res.Dead...)
	if err != nil {
		s.writeQueueError(w, err)
		return
	}
	all := append(append(make([]string, 0, res.Len()), res.Requeued...), res.Dead...)
	s.replyWithStats(w, r, map[string]any{
		"reclaimed": all,
		"requeued":  nonNil(res.Requeued),
		"dead":      nonNil(res.Dead),
	})
}

func nonNil(ids []string) []string {
	if ids == nil {
		return []string{}
	}
	return ids
}

// handleReset deletes every job and counter of the queue; the workers keep
// running.
func (s *server) handleReset(w http.ResponseWriter, r *http.Request) {
	if _, ok := readForm(w, r); !ok {
		return
	}
	s.reset(w, r)
}

func (s *server) reset(w http.ResponseWriter, r *http.Request) {
	if err := s.sched.around(func() error { return s.q.Purge(r.Context()) }); err != nil {
		s.writeQueueError(w, err)
		return
	}
	if _, local := s.q.Backend().(backend.Local); local {
		// The purged jobs were this process's heap. Left to itself, Go
		// collects them only once the heap has doubled from its last
		// collection, or after two minutes, and then gives the pages
		// back to the system gradually: a reset of a full demo would
		// leave the process at its full size. Collect and give back now.
		debug.FreeOSMemory()
	}
	s.pool.resetCounters()
	s.replyWithStats(w, r, map[string]any{"reset": true})
}

// ---- forms ----

// form reads the fields of a POST and keeps the first error, so a handler
// checks once after reading every field.
type form struct {
	r   *http.Request
	err error
}

// readForm parses the request's form, answering 413, 415 or 400 itself
// when it cannot.
func readForm(w http.ResponseWriter, r *http.Request) (*form, bool) {
	ct := r.Header.Get("Content-Type")
	var err error
	switch mt, _, _ := mime.ParseMediaType(ct); mt {
	case "multipart/form-data":
		err = r.ParseMultipartForm(maxBody)
	case "", "application/x-www-form-urlencoded":
		if ct == "" && r.ContentLength != 0 {
			// ParseForm ignores a body without a Content-Type: refuse it
			// rather than act on the query string alone.
			writeError(w, http.StatusUnsupportedMediaType, "request body without a Content-Type: send form fields as application/x-www-form-urlencoded or multipart/form-data")
			return nil, false
		}
		err = r.ParseForm()
	default:
		writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("unsupported Content-Type %q: send form fields (application/x-www-form-urlencoded or multipart/form-data)", ct))
		return nil, false
	}
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", maxBody))
			return nil, false
		}
		writeError(w, http.StatusBadRequest, "malformed form: "+err.Error())
		return nil, false
	}
	return &form{r: r}, true
}

func (f *form) fail(format string, args ...any) {
	if f.err == nil {
		f.err = fmt.Errorf(format, args...)
	}
}

// value returns a field's value, and whether it was given; an empty value
// counts as absent.
func (f *form) value(name string) (string, bool) {
	vs := f.r.Form[name]
	if len(vs) > 1 {
		f.fail("%s given %d times", name, len(vs))
		return "", false
	}
	if len(vs) == 0 || strings.TrimSpace(vs[0]) == "" {
		return "", false
	}
	return strings.TrimSpace(vs[0]), true
}

func (f *form) str(name, def string) string {
	if v, ok := f.value(name); ok {
		return v
	}
	return def
}

func (f *form) int(name string, def, lo, hi int) int {
	v, ok := f.value(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		f.fail("%s must be a whole number from %d to %d, got %q", name, lo, hi, v)
		return def
	}
	return n
}

func (f *form) rate(name string, def float64) float64 {
	v, ok := f.value(name)
	if !ok {
		return def
	}
	x, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(x) || x < 0 || x > 1 {
		f.fail("%s must be a number from 0 to 1, got %q", name, v)
		return def
	}
	return x
}
