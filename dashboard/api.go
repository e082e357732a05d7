package dashboard

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/internal/webui"
	"github.com/jobqueue-go/jobqueue/jqcron"
)

// Limits of the API.
const (
	// DefaultPageSize and MaxPageSize bound a page of jobs. A page's
	// summaries are read in one call (Queue.Summaries), which sends no
	// more of a payload than its preview, so the cap bounds what a poll
	// costs whatever the payloads' sizes.
	DefaultPageSize = 25
	MaxPageSize     = 50
	// SearchWindow is how many ids, from the cursor on, a search by id
	// prefix looks through: ids alone are cheap to list, and only the
	// matches are read.
	SearchWindow = 1000
	// PreviewBytes bounds the payload preview and the error shown in a
	// list; the drawer shows the whole job.
	PreviewBytes = 200
	// DrawerPayloadBytes bounds the payload and result the drawer shows of
	// one job; past it they are cut and marked so.
	DrawerPayloadBytes = 256 << 10
	// BulkBatch is how many dead jobs one "retry all" or "delete all"
	// request handles; the page repeats it until none is left, so no
	// request holds the store or the server for long.
	BulkBatch = 500
	// RateMinutes is how many whole minutes of history a queue's rates
	// average.
	RateMinutes = 5
	// HistoryMinutes is what GET api/history reports without a minutes
	// parameter: the hour the page charts.
	HistoryMinutes = 60
	// readConcurrency is how many queues' views one request reads at
	// once.
	readConcurrency = 8
)

// ---- views ----

// depths are a queue's jobs in each state.
type depths struct {
	Pending    int64 `json:"pending"`
	Scheduled  int64 `json:"scheduled"`
	Processing int64 `json:"processing"`
	Completed  int64 `json:"completed"`
	Dead       int64 `json:"dead"`
	Cancelled  int64 `json:"cancelled"`
}

// totals are a queue's counters since its last purge.
type totals struct {
	Enqueued  int64 `json:"enqueued"`
	Claimed   int64 `json:"claimed"`
	Completed int64 `json:"completed"`
	Retried   int64 `json:"retried"`
	Dead      int64 `json:"dead"`
	Reclaimed int64 `json:"reclaimed"`
	Cancelled int64 `json:"cancelled"`
}

// limitsView is one set of limits; zero fields set none.
type limitsView struct {
	Concurrency int   `json:"concurrency,omitempty"`
	Rate        int   `json:"rate,omitempty"`
	PerMS       int64 `json:"per_ms,omitempty"`
}

func newLimits(l jobqueue.Limits) limitsView {
	return limitsView{Concurrency: l.Concurrency, Rate: l.Rate, PerMS: l.Per.Milliseconds()}
}

// rates are jobs per minute, averaged over the last RateMinutes whole
// minutes of the store's history.
type rates struct {
	Minutes   int     `json:"minutes"`
	Enqueued  float64 `json:"enqueued"`
	Completed float64 `json:"completed"`
	Failed    float64 `json:"failed"`
	Dead      float64 `json:"dead"`
}

// queueView is one queue as the page shows it.
type queueView struct {
	Name       string                `json:"name"`
	Depth      depths                `json:"depth"`
	Totals     totals                `json:"totals"`
	LatencyMS  int64                 `json:"latency_ms"`
	LeaseMS    int64                 `json:"lease_ms"`
	Workers    int64                 `json:"workers"`
	Paused     bool                  `json:"paused"`
	Limits     limitsView            `json:"limits"`
	KindLimits map[string]limitsView `json:"kind_limits"`
	// Rates is nil on a backend that keeps no history.
	Rates *rates `json:"rates"`
}

// view reads q's stats and, when its backend keeps history, its rates.
func view(ctx context.Context, q *jobqueue.Queue) (queueView, error) {
	st, err := q.Stats(ctx)
	if err != nil {
		return queueView{}, err
	}
	v := queueView{
		Name: q.Name(),
		Depth: depths{Pending: st.Pending, Scheduled: st.Scheduled, Processing: st.Processing,
			Completed: st.Completed, Dead: st.Dead, Cancelled: st.Cancelled},
		Totals: totals{Enqueued: st.EnqueuedTotal, Claimed: st.ClaimedTotal, Completed: st.CompletedTotal,
			Retried: st.RetriedTotal, Dead: st.DeadTotal, Reclaimed: st.ReclaimedTotal, Cancelled: st.CancelledTotal},
		LatencyMS:  st.Latency.Milliseconds(),
		LeaseMS:    q.Lease().Milliseconds(),
		Workers:    st.Workers,
		Paused:     st.Paused,
		Limits:     newLimits(st.Limits),
		KindLimits: map[string]limitsView{},
	}
	for k, l := range st.KindLimits {
		v.KindLimits[k] = newLimits(l)
	}
	// The last point is the current minute, still counting: the rates
	// average the whole minutes before it.
	points, err := q.History(ctx, RateMinutes+1)
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		return v, nil
	case err != nil:
		return queueView{}, err
	}
	r := &rates{Minutes: RateMinutes}
	for _, p := range points[:max(0, len(points)-1)] {
		r.Enqueued += float64(p.Enqueued)
		r.Completed += float64(p.Completed)
		r.Failed += float64(p.Failed)
		r.Dead += float64(p.Dead)
	}
	r.Enqueued /= RateMinutes
	r.Completed /= RateMinutes
	r.Failed /= RateMinutes
	r.Dead /= RateMinutes
	v.Rates = r
	return v, nil
}

// ---- reads ----

// registryOutage is the name the outages of the registry of queues are
// kept under: no queue can have it.
const registryOutage = "(registry of queues)"

// overviewEntry is one queue of the overview: its view, or why there is
// none.
type overviewEntry struct {
	queueView
	Error string     `json:"error,omitempty"`
	Since *time.Time `json:"since,omitempty"`
}

// handleOverview answers GET api/overview: every queue's view, in the
// order given to New, then the discovered ones by name. A queue whose
// store does not answer carries its error and the start of its outage;
// when none answers, the reply is the 503 of the first, and when there is
// none to show because the registry of queues could not be read, the 503
// of the registry.
func (h *handler) handleOverview(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := h.call(r)
	defer cancel()
	queues, regErr := h.set.list(ctx)
	if regErr != nil && len(queues) == 0 {
		// No queue to show, for want of the registry: an empty overview
		// would pass for a store without queues.
		msg := "registry of queues unavailable: " + strings.TrimPrefix(webui.UnavailableReason(regErr, h.cfg.timeout), "queue unavailable: ")
		since := h.outages.Failed(registryOutage, msg)
		w.Header().Set("Retry-After", "2")
		writeJSON(w, http.StatusServiceUnavailable, webui.Unavailable{Error: msg, Since: since})
		return
	}
	if regErr == nil {
		h.outages.Answered(registryOutage)
	}
	views := make([]queueView, len(queues))
	errs := make([]error, len(queues))
	each(len(queues), func(i int) { views[i], errs[i] = view(ctx, queues[i]) })
	out := make([]overviewEntry, len(queues))
	failures := 0
	for i, q := range queues {
		if errs[i] == nil {
			h.outages.Answered(q.Name())
			out[i] = overviewEntry{queueView: views[i]}
			continue
		}
		if r.Context().Err() != nil || failures == len(queues)-1 {
			h.failed(w, r, q, errs[i])
			return
		}
		failures++
		if webui.Status(errs[i]) != http.StatusServiceUnavailable {
			// Not an outage (a queue this client may not read, say):
			// the reason alone.
			out[i] = overviewEntry{queueView: queueView{Name: q.Name()}, Error: reason(errs[i])}
			continue
		}
		msg := webui.UnavailableReason(errs[i], h.cfg.timeout)
		since := h.outages.Failed(q.Name(), msg)
		out[i] = overviewEntry{queueView: queueView{Name: q.Name()}, Error: msg, Since: &since}
	}
	writeJSON(w, http.StatusOK, map[string]any{"queues": out, "read_only": h.cfg.readOnly, "now_ms": time.Now().UnixMilli()})
}

// handleQueue answers GET api/queue?queue=NAME: one queue's view.
func (h *handler) handleQueue(w http.ResponseWriter, r *http.Request) {
	q, ok := h.queue(w, r)
	if !ok {
		return
	}
	ctx, cancel := h.call(r)
	defer cancel()
	v, err := view(ctx, q)
	if err != nil {
		h.failed(w, r, q, err)
		return
	}
	h.outages.Answered(q.Name())
	writeJSON(w, http.StatusOK, map[string]any{"queue": v, "read_only": h.cfg.readOnly, "now_ms": time.Now().UnixMilli()})
}

// handleHistory answers GET api/history?queue=NAME&minutes=N&step=S
// (minutes 1 to 1440, default 60; step 1 to 60, default 1, dividing
// minutes): the queue's counts of each step of S minutes, oldest first,
// the last holding the current minute on the store's clock (see steps).
// 501 on a backend that keeps no history.
func (h *handler) handleHistory(w http.ResponseWriter, r *http.Request) {
	q, ok := h.queue(w, r)
	if !ok {
		return
	}
	minutes, ok := intParam(w, r, "minutes", HistoryMinutes, 1, 1440)
	if !ok {
		return
	}
	step, ok := intParam(w, r, "step", 1, 1, 60)
	if !ok {
		return
	}
	if minutes%step != 0 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("minutes (%d) must be a multiple of step (%d)", minutes, step))
		return
	}
	ctx, cancel := h.call(r)
	defer cancel()
	points, err := q.History(ctx, minutes)
	if err != nil {
		h.failed(w, r, q, err)
		return
	}
	h.outages.Answered(q.Name())
	hist := webui.NewHistory(q.Name(), minutes, steps(points, step))
	hist.Step = step
	writeJSON(w, http.StatusOK, hist)
}

// steps sums points, one a minute, oldest first, into one point of step
// minutes each, at the start of its step. Steps begin at multiples of
// step minutes since the Unix epoch, so that a day in steps of 10 minutes
// reads 14:30, 14:40… on the clock: the minutes before the first whole
// step are dropped, and the last step, the one of the current minute, is
// still counting. Minutes a multiple of step give minutes/step points.
func steps(points []jobqueue.HistoryPoint, step int) []jobqueue.HistoryPoint {
	if step == 1 {
		return points
	}
	var out []jobqueue.HistoryPoint
	for _, p := range points {
		m := p.Minute.Unix() / 60
		start := m - m%int64(step)
		switch {
		case len(out) > 0 && out[len(out)-1].Minute.Unix()/60 == start:
			out[len(out)-1] = out[len(out)-1].Add(p)
		case len(out) > 0 || m == start:
			out = append(out, jobqueue.HistoryPoint{Minute: time.Unix(start*60, 0)}.Add(p))
		}
	}
	return out
}

// handleSchedules answers GET api/schedules?queue=NAME: the schedules
// the queue's store records (jqcron.Schedules), by name. 501 on a
// backend that keeps no schedules.
func (h *handler) handleSchedules(w http.ResponseWriter, r *http.Request) {
	q, ok := h.queue(w, r)
	if !ok {
		return
	}
	ctx, cancel := h.call(r)
	defer cancel()
	infos, err := jqcron.Schedules(ctx, q)
	if err != nil {
		h.failed(w, r, q, err)
		return
	}
	h.outages.Answered(q.Name())
	writeJSON(w, http.StatusOK, webui.NewSchedules(q.Name(), infos))
}

// jobSummary is a job as a list shows it.
type jobSummary struct {
	ID           string `json:"id"`
	State        string `json:"state"`
	Kind         string `json:"kind,omitempty"`
	Priority     int    `json:"priority,omitempty"`
	Attempts     int    `json:"attempts"`
	MaxAttempts  int    `json:"max_attempts"`
	EnqueuedAtMS int64  `json:"enqueued_at_ms,omitempty"`
	RunAtMS      int64  `json:"run_at_ms,omitempty"`
	ClaimedAtMS  int64  `json:"claimed_at_ms,omitempty"`
	LeaseUntilMS int64  `json:"lease_until_ms,omitempty"`
	FinishedAtMS int64  `json:"finished_at_ms,omitempty"`
	LastError    string `json:"last_error,omitempty"`
	// Preview is the payload's first PreviewBytes bytes, as text;
	// PayloadBytes its whole size.
	Preview      string `json:"preview"`
	PayloadBytes int    `json:"payload_bytes"`
}

// summarize is s as a list shows it. s's preview was read with
// PreviewBytes: "…" marks one that was cut.
func summarize(s jobqueue.JobSummary) jobSummary {
	preview := string(s.Preview)
	if s.PayloadBytes > PreviewBytes && preview != "" {
		preview += "…"
	}
	return jobSummary{
		ID:           s.ID,
		State:        string(s.State),
		Kind:         s.Kind,
		Priority:     s.Priority,
		Attempts:     s.Attempts,
		MaxAttempts:  s.MaxAttempts,
		EnqueuedAtMS: unixMS(s.EnqueuedAt),
		RunAtMS:      unixMS(s.RunAt),
		ClaimedAtMS:  unixMS(s.ClaimedAt),
		LeaseUntilMS: unixMS(s.LeaseUntil),
		FinishedAtMS: unixMS(s.FinishedAt),
		LastError:    cut(s.LastError, PreviewBytes),
		Preview:      preview,
		PayloadBytes: s.PayloadBytes,
	}
}

// cut returns s's first n bytes at most, as valid UTF-8, with "…" when
// something was cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	// Back off to the start of a rune cut in half (a few bytes at most,
	// whatever the data).
	for i := 0; i < utf8.UTFMax && n > 0 && !utf8.RuneStart(s[n]); i++ {
		n--
	}
	s = s[:n]
	return strings.ToValidUTF8(s, "\uFFFD") + "…"
}

func unixMS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// cursor is where a list goes on. The backend lists by offset, so a cursor
// is an offset in disguise: a list that changes under it (dead jobs
// arriving at its head) shifts the pages, which may then repeat or skip
// a job. It is opaque so that a backend able to do better can be used
// without changing the API.
type cursor struct {
	state  jobqueue.State
	offset int
}

func (c cursor) String() string {
	return base64.RawURLEncoding.EncodeToString([]byte("v1:" + string(c.state) + ":" + strconv.Itoa(c.offset)))
}

func parseCursor(s string, state jobqueue.State) (cursor, error) {
	if s == "" {
		return cursor{state: state}, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	parts := strings.Split(string(raw), ":")
	if err != nil || len(parts) != 3 || parts[0] != "v1" {
		return cursor{}, fmt.Errorf("cursor %q is not one this dashboard gave", s)
	}
	off, err := strconv.Atoi(parts[2])
	if err != nil || off < 0 {
		return cursor{}, fmt.Errorf("cursor %q is not one this dashboard gave", s)
	}
	if jobqueue.State(parts[1]) != state {
		return cursor{}, fmt.Errorf("cursor of the %s list used for the %s list", parts[1], state)
	}
	return cursor{state: state, offset: off}, nil
}

// handleJobs answers GET api/jobs?queue=NAME&state=STATE: a page of the
// jobs in one state, in the state's order, from cursor (the start
// without one), limit jobs at most (1 to MaxPageSize, default
// DefaultPageSize). With prefix, it looks through the next SearchWindow
// ids for those that start with it; with kind, it drops the page's jobs of
// other kinds (the page may then hold fewer jobs). next_cursor, when not
// empty, continues the list.
func (h *handler) handleJobs(w http.ResponseWriter, r *http.Request) {
	q, ok := h.queue(w, r)
	if !ok {
		return
	}
	state, err := backend.ParseState(r.FormValue("state"))
	if err != nil {
		writeError(w, http.StatusBadRequest, reason(err))
		return
	}
	cur, err := parseCursor(r.FormValue("cursor"), state)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	limit, ok := intParam(w, r, "limit", DefaultPageSize, 1, MaxPageSize)
	if !ok {
		return
	}
	prefix, kind := r.FormValue("prefix"), r.FormValue("kind")
	ctx, cancel := h.call(r)
	defer cancel()

	window := limit
	if prefix != "" {
		window = SearchWindow
	}
	ids, err := q.List(ctx, state, cur.offset, window)
	if err != nil {
		h.failed(w, r, q, err)
		return
	}
	scanned, more := len(ids), len(ids) == window
	if prefix != "" {
		var matched []string
		for i, id := range ids {
			if strings.HasPrefix(id, prefix) {
				matched = append(matched, id)
				if len(matched) == limit {
					scanned, more = i+1, i+1 < len(ids) || more
					break
				}
			}
		}
		ids = matched
	}
	// A job that left the queue since it was listed is left out.
	sums, err := q.Summaries(ctx, ids, PreviewBytes)
	if err != nil {
		h.failed(w, r, q, err)
		return
	}
	h.outages.Answered(q.Name())
	jobs := make([]jobSummary, 0, len(sums))
	for _, s := range sums {
		if kind == "" || s.Kind == kind {
			jobs = append(jobs, summarize(s))
		}
	}
	next := ""
	if more {
		next = cursor{state: state, offset: cur.offset + scanned}.String()
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"queue": q.Name(), "state": state, "jobs": jobs,
		"offset": cur.offset, "scanned": scanned, "next_cursor": next,
		"prefix": prefix, "kind": kind, "limit": limit, "now_ms": time.Now().UnixMilli(),
	})
}

// each calls f(0) … f(n-1), readConcurrency at a time.
func each(n int, f func(i int)) { webui.Each(n, readConcurrency, f) }

// jobDetail is one job's whole record, as the drawer shows it.
type jobDetail struct {
	jobSummary
	Headers   map[string]string `json:"headers,omitempty"`
	TimeoutMS int64             `json:"timeout_ms,omitempty"`
	ExpiresAt int64             `json:"expires_at_ms,omitempty"`
	// Payload and Result are the job's JSON, or a JSON string when they
	// are not JSON or were cut at DrawerPayloadBytes (PayloadCut,
	// ResultCut).
	Payload    json.RawMessage `json:"payload"`
	PayloadCut bool            `json:"payload_cut,omitempty"`
	Result     json.RawMessage `json:"result,omitempty"`
	ResultCut  bool            `json:"result_cut,omitempty"`
	// LastError is whole here; the store keeps the last attempt's error
	// only.
	LastError string `json:"last_error,omitempty"`
}

// embedJSON returns b to embed in a reply: as it is when it is JSON of at
// most DrawerPayloadBytes, else as a JSON string, cut, and whether it
// was cut.
func embedJSON(b []byte) (json.RawMessage, bool) {
	if len(b) == 0 {
		return nil, false
	}
	if len(b) <= DrawerPayloadBytes && json.Valid(b) {
		return json.RawMessage(b), false
	}
	s := string(b)
	cutOff := len(b) > DrawerPayloadBytes
	if cutOff {
		s = cut(s, DrawerPayloadBytes)
	}
	out, _ := json.Marshal(strings.ToValidUTF8(s, "\uFFFD"))
	return out, cutOff
}

// handleJob answers GET api/job?queue=NAME&id=ID: one job's record.
func (h *handler) handleJob(w http.ResponseWriter, r *http.Request) {
	q, ok := h.queue(w, r)
	if !ok {
		return
	}
	id := r.FormValue("id")
	if id == "" {
		writeError(w, http.StatusBadRequest, "the id parameter is missing")
		return
	}
	ctx, cancel := h.call(r)
	defer cancel()
	info, err := q.Get(ctx, id)
	if err != nil {
		h.failed(w, r, q, err)
		return
	}
	h.outages.Answered(q.Name())
	d := jobDetail{jobSummary: summarize(info.Summary(0)), Headers: info.Headers, TimeoutMS: info.Timeout.Milliseconds(),
		ExpiresAt: unixMS(info.ExpiresAt), LastError: info.LastError}
	d.Preview = "" // the drawer shows the payload itself
	d.Payload, d.PayloadCut = embedJSON(info.Payload)
	d.Result, d.ResultCut = embedJSON(info.Result)
	writeJSON(w, http.StatusOK, d)
}

// intParam reads a whole-number parameter from lo to hi, answering 400
// itself when it is not one.
func intParam(w http.ResponseWriter, r *http.Request, name string, def, lo, hi int) (int, bool) {
	v := r.FormValue(name)
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%s must be a whole number from %d to %d, got %q", name, lo, hi, v))
		return 0, false
	}
	return n, true
}
