package dashboard_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/dashboard"
	"github.com/jobqueue-go/jobqueue/goredis"
	bt "github.com/jobqueue-go/jobqueue/internal/browsertest"
	"github.com/jobqueue-go/jobqueue/internal/load"
	"github.com/jobqueue-go/jobqueue/internal/redisq/redisqtest"
	"github.com/jobqueue-go/jobqueue/jqcron"
	"github.com/jobqueue-go/jobqueue/memory"
)

func TestMain(m *testing.M) { redistest.Main(m) }

var queueSeq atomic.Int64

// queueName returns a queue name no other test uses, so tests on a
// shared Redis never see each other's jobs.
func queueName(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e9, queueSeq.Add(1))
}

func newQueue(t *testing.T, b backend.Backend, name string) *jobqueue.Queue {
	t.Helper()
	q, err := jobqueue.New(b, name)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// site is a dashboard mounted as an application would: under
// /admin/jobs/ in the application's own ServeMux, next to its own routes.
type site struct {
	t    *testing.T
	root string // the application, http://127.0.0.1:port
	URL  string // the dashboard, root + "/admin/jobs/"
}

func mount(t *testing.T, h http.Handler) *site {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "the application's home") })
	mux.Handle("/admin/jobs/", http.StripPrefix("/admin/jobs", h))
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return &site{t: t, root: ts.URL, URL: ts.URL + "/admin/jobs/"}
}

// do sends a request to the dashboard's path (relative to its root) and
// returns the status and the reply, decoded when it is JSON.
func (s *site) do(req *http.Request) (int, map[string]any, http.Header) {
	s.t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	var out map[string]any
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(body, &out); err != nil {
			s.t.Fatalf("%s %s: reply %q is not JSON: %v", req.Method, req.URL, body, err)
		}
	} else {
		out = map[string]any{"body": string(body)}
	}
	return res.StatusCode, out, res.Header
}

func (s *site) get(path string, params url.Values) (int, map[string]any) {
	s.t.Helper()
	u := s.URL + path
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	code, out, _ := s.do(req)
	return code, out
}

func (s *site) post(path string, form url.Values) (int, map[string]any) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	code, out, _ := s.do(req)
	return code, out
}

// postOK posts and requires a 200.
func (s *site) postOK(path string, form url.Values) map[string]any {
	s.t.Helper()
	code, body := s.post(path, form)
	return must(s.t, "POST "+path, code, body, http.StatusOK)
}

// must checks a reply's status.
func must(t *testing.T, what string, code int, body map[string]any, want int) map[string]any {
	t.Helper()
	if code != want {
		t.Fatalf("%s: status %d, want %d; reply %v", what, code, want, body)
	}
	return body
}

func vals(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

// makeDead enqueues n jobs of kind that allow one attempt, claims them and
// fails them, so that they are dead. The queue must have nothing pending.
func makeDead(t *testing.T, q *jobqueue.Queue, n int, kind string) []string {
	t.Helper()
	ctx := context.Background()
	vs := make([]any, n)
	for i := range vs {
		vs[i] = map[string]any{"n": i}
	}
	ids, err := q.EnqueueBatch(ctx, vs, jobqueue.Kind(kind), jobqueue.MaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := q.Claim(ctx, n, time.Second)
	if err != nil || len(jobs) != n {
		t.Fatalf("claim %d jobs: got %d, %v", n, len(jobs), err)
	}
	for _, j := range jobs {
		if err := j.Fail(ctx, errors.New("smtp: 550 mailbox unavailable")); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

func jobIDs(t *testing.T, body map[string]any) []string {
	t.Helper()
	list, ok := body["jobs"].([]any)
	if !ok {
		t.Fatalf("reply without jobs: %v", body)
	}
	ids := make([]string, len(list))
	for i, j := range list {
		ids[i] = j.(map[string]any)["id"].(string)
	}
	return ids
}

func queueDepth(t *testing.T, body map[string]any, state string) float64 {
	t.Helper()
	return body["queue"].(map[string]any)["depth"].(map[string]any)[state].(float64)
}

// TestMountedOnEachBackend serves two queues on each shipped backend from
// a dashboard mounted under /admin/jobs/ in another ServeMux, and walks
// its API as the page does: overview, one queue, pages of a list, the
// searches, one job (ids "%2e" and "%2e%2e", a path's . and .., included), history, and every
// action.
func TestMountedOnEachBackend(t *testing.T) {
	for _, sb := range redisqtest.ShippedBackends(func(t *testing.T) string { return redistest.Shared(t).URL }) {
		t.Run(sb.Name, func(t *testing.T) {
			t.Parallel()
			b := sb.Open(t)
			emails := newQueue(t, b, queueName("emails"))
			reports := newQueue(t, b, queueName("reports"))
			s := mount(t, dashboard.New([]*jobqueue.Queue{emails, reports}))
			checkMounted(t, s, emails, reports)
		})
	}
}

func checkMounted(t *testing.T, s *site, emails, reports *jobqueue.Queue) {
	ctx := context.Background()
	dead := makeDead(t, emails, 3, "email")
	var pending []string
	for i := range 7 {
		kind := "email"
		if i%2 == 1 {
			kind = "digest"
		}
		id, err := emails.Enqueue(ctx, map[string]any{"to": fmt.Sprintf("user%d@example.com", i)}, jobqueue.Kind(kind))
		if err != nil {
			t.Fatal(err)
		}
		pending = append(pending, id)
	}
	for _, id := range []string{"%2e", "%2e%2e"} {
		if _, err := emails.Enqueue(ctx, map[string]any{"odd": id}, jobqueue.WithID(id)); err != nil {
			t.Fatal(err)
		}
		pending = append(pending, id)
	}
	big := strings.Repeat("é", 5000) // 10,000 bytes, two per rune
	bigID, err := reports.Enqueue(ctx, map[string]any{"blob": big})
	if err != nil {
		t.Fatal(err)
	}

	// The page and its assets, under the prefix; the application's own
	// route still answers.
	code, page := s.get("", nil)
	must(t, "the page", code, page, http.StatusOK)
	if p := page["body"].(string); !strings.Contains(p, `src="assets/app.js"`) || strings.Contains(p, `src="/`) {
		t.Fatalf("the page must load its assets by relative URLs: %.300s", p)
	}
	for _, a := range []string{"assets/app.js", "assets/style.css"} {
		code, body := s.get(a, nil)
		must(t, a, code, body, http.StatusOK)
	}
	res, err := http.Get(s.root + "/")
	if err != nil {
		t.Fatal(err)
	}
	home, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(home) != "the application's home" {
		t.Fatalf("the application's route answered %q", home)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err = noRedirect.Get(s.root + "/admin/jobs")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if loc := res.Header.Get("Location"); res.StatusCode/100 != 3 || loc != "/admin/jobs/" {
		t.Fatalf("/admin/jobs: %d to %q, want a redirect to /admin/jobs/, where the page's relative URLs work", res.StatusCode, loc)
	}

	// The overview: both queues, in order, with their depths.
	code, ov := s.get("api/overview", nil)
	must(t, "overview", code, ov, http.StatusOK)
	qs := ov["queues"].([]any)
	if len(qs) != 2 || qs[0].(map[string]any)["name"] != emails.Name() || qs[1].(map[string]any)["name"] != reports.Name() {
		t.Fatalf("overview queues: %v", qs)
	}
	first := qs[0].(map[string]any)
	if d := first["depth"].(map[string]any); d["pending"] != 9.0 || d["dead"] != 3.0 {
		t.Fatalf("overview depths of %s: %v", emails.Name(), d)
	}
	if first["rates"] == nil || ov["read_only"] != false {
		t.Fatalf("overview: rates %v (every shipped backend keeps history), read_only %v", first["rates"], ov["read_only"])
	}

	// One queue.
	code, qv := s.get("api/queue", vals("queue", emails.Name()))
	must(t, "queue", code, qv, http.StatusOK)
	if queueDepth(t, qv, "pending") != 9 || queueDepth(t, qv, "dead") != 3 {
		t.Fatalf("queue view: %v", qv)
	}
	code, body := s.get("api/queue", vals("queue", "nope"))
	must(t, "an unknown queue", code, body, http.StatusNotFound)

	// Pages of 4 walk the pending list in the queue's order.
	want, err := emails.List(ctx, jobqueue.StatePending, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var walked []string
	cur := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatalf("the cursor does not end: %v", walked)
		}
		code, body := s.get("api/jobs", vals("queue", emails.Name(), "state", "pending", "limit", "4", "cursor", cur))
		must(t, "a page of pending jobs", code, body, http.StatusOK)
		walked = append(walked, jobIDs(t, body)...)
		cur = body["next_cursor"].(string)
		if cur == "" {
			break
		}
	}
	if fmt.Sprint(walked) != fmt.Sprint(want) || len(walked) != 9 {
		t.Fatalf("pages walked %v, want %v", walked, want)
	}
	code, body = s.get("api/jobs", vals("queue", emails.Name(), "state", "dead", "limit", "2"))
	must(t, "a page of dead jobs", code, body, http.StatusOK)
	dj := body["jobs"].([]any)[0].(map[string]any)
	if dj["last_error"] != "smtp: 550 mailbox unavailable" || dj["kind"] != "email" || dj["attempts"] != 1.0 || dj["finished_at_ms"] == nil {
		t.Fatalf("a dead job's summary: %v", dj)
	}
	code, body = s.get("api/jobs", vals("queue", emails.Name(), "state", "pending", "cursor", cur0(t, s, emails.Name(), "dead")))
	must(t, "a dead list's cursor on the pending list", code, body, http.StatusBadRequest)
	for _, bad := range []url.Values{
		vals("queue", emails.Name(), "state", "pending", "limit", "51"),
		vals("queue", emails.Name(), "state", "pending", "limit", "0"),
		vals("queue", emails.Name(), "state", "gone"),
		vals("queue", emails.Name(), "state", "pending", "cursor", "not-a-cursor"),
	} {
		code, body := s.get("api/jobs", bad)
		must(t, "jobs?"+bad.Encode(), code, body, http.StatusBadRequest)
	}

	// Search by id prefix, and filter by kind, within the page.
	target := pending[3]
	code, body = s.get("api/jobs", vals("queue", emails.Name(), "state", "pending", "prefix", target[:6]))
	must(t, "prefix search", code, body, http.StatusOK)
	if got := jobIDs(t, body); len(got) != 1 || got[0] != target {
		t.Fatalf("prefix %q found %v, want [%s]", target[:6], got, target)
	}
	code, body = s.get("api/jobs", vals("queue", emails.Name(), "state", "pending", "kind", "digest"))
	must(t, "kind filter", code, body, http.StatusOK)
	if got := jobIDs(t, body); len(got) != 3 {
		t.Fatalf("kind digest: %v, want the 3 digests", got)
	}

	// A long payload's preview is cut at a rune, the drawer has it whole.
	code, body = s.get("api/jobs", vals("queue", reports.Name(), "state", "pending"))
	must(t, "reports", code, body, http.StatusOK)
	bj := body["jobs"].([]any)[0].(map[string]any)
	preview := bj["preview"].(string)
	if len(preview) > dashboard.PreviewBytes+len("…") || !strings.HasSuffix(preview, "…") || strings.ContainsRune(preview, '\uFFFD') || bj["payload_bytes"].(float64) < 10000 {
		t.Fatalf("preview of a %v-byte payload: %d bytes %q", bj["payload_bytes"], len(preview), preview)
	}
	code, body = s.get("api/job", vals("queue", reports.Name(), "id", bigID))
	must(t, "the big job", code, body, http.StatusOK)
	if p := body["payload"].(map[string]any); p["blob"] != big {
		t.Fatal("the drawer's payload is not the job's")
	}

	// Ids "%2e" and "%2e%2e", which a browser would resolve away in a path
	// as . and .. (new jobs may not be named . or ..: backend.ValidateNewID).
	for _, id := range []string{"%2e", "%2e%2e"} {
		code, body := s.get("api/job", vals("queue", emails.Name(), "id", id))
		must(t, "job "+id, code, body, http.StatusOK)
		if body["id"] != id || body["payload"].(map[string]any)["odd"] != id {
			t.Fatalf("job %q: %v", id, body)
		}
	}
	s.postOK("api/jobs/delete", vals("queue", emails.Name(), "id", "%2e%2e"))
	if _, err := emails.Get(ctx, "%2e%2e"); !errors.Is(err, jobqueue.ErrNotFound) {
		t.Fatalf("job .. after its delete: %v", err)
	}
	if _, err := emails.Get(ctx, "%2e"); err != nil {
		t.Fatalf("job . must survive the delete of ..: %v", err)
	}
	code, body = s.get("api/job", vals("queue", emails.Name(), "id", "%2e%2e"))
	must(t, "a deleted job", code, body, http.StatusNotFound)

	// Actions: retry one dead job, cancel a pending one, pause, resume,
	// then retry every dead job.
	code, body = s.post("api/jobs/retry", vals("queue", emails.Name(), "id", dead[0]))
	must(t, "retry", code, body, http.StatusOK)
	if info, _ := emails.Get(ctx, dead[0]); info.State != jobqueue.StatePending {
		t.Fatalf("retried job is %s", info.State)
	}
	code, body = s.post("api/jobs/retry", vals("queue", emails.Name(), "id", pending[0]))
	must(t, "retry of a pending job", code, body, http.StatusConflict)
	code, body = s.post("api/jobs/cancel", vals("queue", emails.Name(), "id", pending[1]))
	must(t, "cancel", code, body, http.StatusOK)
	if info, _ := emails.Get(ctx, pending[1]); info.State != jobqueue.StateCancelled {
		t.Fatalf("cancelled job is %s", info.State)
	}
	s.postOK("api/pause", vals("queue", emails.Name()))
	if st, _ := emails.Stats(ctx); !st.Paused {
		t.Fatal("not paused after api/pause")
	}
	code, qv = s.get("api/queue", vals("queue", emails.Name()))
	if must(t, "queue", code, qv, http.StatusOK)["queue"].(map[string]any)["paused"] != true {
		t.Fatalf("the view does not say paused: %v", qv)
	}
	s.postOK("api/resume", vals("queue", emails.Name()))
	if st, _ := emails.Stats(ctx); st.Paused {
		t.Fatal("paused after api/resume")
	}
	code, body = s.post("api/dead/retry", vals("queue", emails.Name()))
	must(t, "retry all dead", code, body, http.StatusOK)
	if body["done"] != 2.0 || body["remaining"] != 0.0 {
		t.Fatalf("retry all dead: %v", body)
	}

	// The schedules the store records.
	code, body = s.get("api/schedules", vals("queue", reports.Name()))
	must(t, "no schedules", code, body, http.StatusOK)
	if sc := body["schedules"].([]any); len(sc) != 0 {
		t.Fatalf("schedules of a queue without: %v", sc)
	}
	recordSchedule(t, reports, "new-year", "0 0 1 1 *")
	code, body = s.get("api/schedules", vals("queue", reports.Name()))
	must(t, "schedules", code, body, http.StatusOK)
	sc := body["schedules"].([]any)
	if len(sc) != 1 || sc[0].(map[string]any)["name"] != "new-year" || sc[0].(map[string]any)["spec"] != "0 0 1 1 *" || len(sc[0].(map[string]any)["next"].([]any)) == 0 {
		t.Fatalf("schedules: %v", sc)
	}

	// The history: the hour, minute by minute, with what happened.
	code, body = s.get("api/history", vals("queue", emails.Name()))
	must(t, "history", code, body, http.StatusOK)
	points := body["points"].([]any)
	var enq float64
	for _, p := range points {
		enq += p.(map[string]any)["enqueued"].(float64)
	}
	if len(points) != dashboard.HistoryMinutes || enq != 12 {
		t.Fatalf("history: %d points, %v enqueued; want %d and 12", len(points), enq, dashboard.HistoryMinutes)
	}
	// The day, as its chart reads it: 144 steps of 10 minutes on the
	// clock's tens, the last holding the store's current minute.
	code, body = s.get("api/history", vals("queue", emails.Name(), "minutes", "1440", "step", "10"))
	must(t, "the day's history", code, body, http.StatusOK)
	points = body["points"].([]any)
	enq = 0
	var at time.Time
	for i, p := range points {
		prev := at
		if at, err = time.Parse(time.RFC3339, p.(map[string]any)["minute"].(string)); err != nil || at.Unix()%600 != 0 || (i > 0 && at.Sub(prev) != 10*time.Minute) {
			t.Fatalf("the day's step %d starts at %v (%v), after %v", i, at, err, prev)
		}
		enq += p.(map[string]any)["enqueued"].(float64)
	}
	if now := time.Now(); len(points) != 144 || enq != 12 || at.After(now.Add(time.Minute)) || now.After(at.Add(11*time.Minute)) {
		t.Fatalf("the day's history: %d points, %v enqueued, the last at %v (now %v); want 144 and 12, the last the step of now", len(points), enq, at, now)
	}
}

// recordSchedule runs a jqcron Scheduler with one schedule on q until it
// has recorded it in the store, and stops it; the record stays.
func recordSchedule(t *testing.T, q *jobqueue.Queue, name, spec string) {
	t.Helper()
	s, err := jqcron.NewScheduler(jqcron.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Schedule(q, name, spec, map[string]any{"report": name}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		infos, err := jqcron.Schedules(ctx, q)
		if err == nil && len(infos) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Scheduler recorded no schedule: %v, %v", infos, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// cur0 returns a cursor of queue's state list, past its first job.
func cur0(t *testing.T, s *site, queue, state string) string {
	t.Helper()
	code, body := s.get("api/jobs", vals("queue", queue, "state", state, "limit", "1"))
	must(t, "a page of one", code, body, http.StatusOK)
	c := body["next_cursor"].(string)
	if c == "" {
		t.Fatalf("no cursor past the first %s job: %v", state, body)
	}
	return c
}

// memoryQueue is a queue on a fresh memory backend.
func memoryQueue(t *testing.T) *jobqueue.Queue {
	t.Helper()
	return newQueue(t, memory.New(), queueName("mem"))
}

// TestReadOnly: a read-only dashboard refuses every change with 403 and
// changes nothing, and tells the page so it shows no action.
func TestReadOnly(t *testing.T) {
	ctx := context.Background()
	q := memoryQueue(t)
	dead := makeDead(t, q, 2, "email")
	id, err := q.Enqueue(ctx, map[string]any{"to": "ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	s := mount(t, dashboard.New([]*jobqueue.Queue{q}, dashboard.ReadOnly()))
	before, err := q.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for path, form := range map[string]url.Values{
		"api/jobs/retry":  vals("queue", q.Name(), "id", dead[0]),
		"api/jobs/delete": vals("queue", q.Name(), "id", id),
		"api/jobs/cancel": vals("queue", q.Name(), "id", id),
		"api/dead/retry":  vals("queue", q.Name()),
		"api/dead/delete": vals("queue", q.Name()),
		"api/pause":       vals("queue", q.Name()),
		"api/resume":      vals("queue", q.Name()),
	} {
		code, body := s.post(path, form)
		must(t, "read-only "+path, code, body, http.StatusForbidden)
		if !strings.Contains(body["error"].(string), "read-only") {
			t.Errorf("%s: refusal %q does not say why", path, body["error"])
		}
	}
	after, err := q.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.Pending != before.Pending || after.Dead != before.Dead || after.Cancelled != 0 || after.Paused {
		t.Fatalf("a read-only dashboard changed the queue: before %+v, after %+v", before, after)
	}
	code, ov := s.get("api/overview", nil)
	if must(t, "overview", code, ov, http.StatusOK)["read_only"] != true {
		t.Fatalf("overview does not say read-only: %v", ov)
	}
	// Reads still answer.
	code, body := s.get("api/job", vals("queue", q.Name(), "id", id))
	must(t, "a read-only read", code, body, http.StatusOK)
}

// TestAuthorize: a request the hook refuses gets 403 and nothing else,
// page and assets included.
func TestAuthorize(t *testing.T) {
	q := memoryQueue(t)
	id, err := q.Enqueue(context.Background(), map[string]any{"secret": "s3cr3t"})
	if err != nil {
		t.Fatal(err)
	}
	admin := func(r *http.Request) bool { return r.Header.Get("X-Role") == "admin" }
	s := mount(t, dashboard.New([]*jobqueue.Queue{q}, dashboard.Authorize(admin)))
	for _, path := range []string{"", "assets/app.js", "api/overview", "api/job?queue=" + q.Name() + "&id=" + id} {
		for _, role := range []string{"", "viewer"} {
			req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
			if role != "" {
				req.Header.Set("X-Role", role)
			}
			code, body, _ := s.do(req)
			if code != http.StatusForbidden || strings.Contains(fmt.Sprint(body), "s3cr3t") {
				t.Errorf("GET %q as %q: %d %v, want 403 and nothing of the job", path, role, code, body)
			}
		}
		req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
		req.Header.Set("X-Role", "admin")
		if code, body, _ := s.do(req); code != http.StatusOK {
			t.Errorf("GET %q as admin: %d %v", path, code, body)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, s.URL+"api/jobs/delete", strings.NewReader(vals("queue", q.Name(), "id", id).Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if code, body, _ := s.do(req); code != http.StatusForbidden {
		t.Fatalf("an unauthorised delete: %d %v", code, body)
	}
	if _, err := q.Get(context.Background(), id); err != nil {
		t.Fatalf("an unauthorised delete deleted: %v", err)
	}
}

// TestHosts: the dashboard answers to loopback names, IP addresses and
// the hosts allowed, and refuses any other Host, as a DNS-rebinding page
// would send.
func TestHosts(t *testing.T) {
	q := memoryQueue(t)
	s := mount(t, dashboard.New([]*jobqueue.Queue{q}, dashboard.AllowedHosts("Ops.Example.com")))
	for host, want := range map[string]int{
		"localhost":               http.StatusOK,
		"localhost:8080":          http.StatusOK,
		"jobs.localhost:8080":     http.StatusOK,
		"127.0.0.1:8080":          http.StatusOK,
		"[::1]:8080":              http.StatusOK,
		"10.1.2.3":                http.StatusOK,
		"ops.example.com":         http.StatusOK,
		"OPS.EXAMPLE.COM.:443":    http.StatusOK,
		"rebind.attacker.example": http.StatusForbidden,
		"example.com":             http.StatusForbidden,
		"ops.example.com.evil":    http.StatusForbidden,
		"localhost.evil.example":  http.StatusForbidden,
	} {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"api/overview", nil)
		req.Host = host
		if code, body, _ := s.do(req); code != want {
			t.Errorf("Host %q: %d %v, want %d", host, code, body, want)
		}
	}
}

// TestCrossOrigin: a change posted from another site's page is refused.
func TestCrossOrigin(t *testing.T) {
	q := memoryQueue(t)
	s := mount(t, dashboard.New([]*jobqueue.Queue{q}))
	req, _ := http.NewRequest(http.MethodPost, s.URL+"api/pause", strings.NewReader(vals("queue", q.Name()).Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://attacker.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if code, body, _ := s.do(req); code != http.StatusForbidden {
		t.Fatalf("a cross-site POST: %d %v", code, body)
	}
	if st, _ := q.Stats(context.Background()); st.Paused {
		t.Fatal("a cross-site POST paused the queue")
	}
}

// TestOutage kills the Redis under a dashboard: every read answers 503
// with the reason once, on one line, and the same start however often it
// is asked; once Redis is back, the reads answer again, and a new outage
// has a new start.
func TestOutage(t *testing.T) {
	srv := redistest.Start(t, redistest.RequireProcess())
	q := newQueue(t, bt.FailFast(t, srv.URL), queueName("outage"))
	if _, err := q.Enqueue(context.Background(), map[string]any{"n": 1}); err != nil {
		t.Fatal(err)
	}
	s := mount(t, dashboard.New([]*jobqueue.Queue{q}, dashboard.Timeout(3*time.Second)))
	code, body := s.get("api/queue", vals("queue", q.Name()))
	must(t, "queue before the outage", code, body, http.StatusOK)

	srv.Kill(t)
	var since string
	for _, path := range []string{"api/queue", "api/overview", "api/jobs", "api/history", "api/job", "api/queue"} {
		code, body := s.get(path, vals("queue", q.Name(), "state", "pending", "id", "x"))
		must(t, path+" with Redis killed", code, body, http.StatusServiceUnavailable)
		msg, _ := body["error"].(string)
		if !strings.HasPrefix(msg, "queue unavailable: ") || strings.Contains(msg, "\n") {
			t.Fatalf("%s: reason %q, want one line starting \"queue unavailable: \"", path, msg)
		}
		// The reason is said once: no part of it repeats.
		cause := msg[strings.LastIndex(msg, ": ")+2:]
		if strings.Count(msg, cause) != 1 {
			t.Fatalf("%s: reason %q repeats %q", path, msg, cause)
		}
		if since == "" {
			t.Logf("the reason: %s", msg)
			since = body["since"].(string)
		}
		if body["since"] != since {
			t.Fatalf("%s: outage since %v, before %v: the start must not move", path, body["since"], since)
		}
	}

	srv.Restart(t)
	waitOK(t, s, "api/queue", vals("queue", q.Name()))
	srv.Kill(t)
	code, body = s.get("api/queue", vals("queue", q.Name()))
	must(t, "queue in the second outage", code, body, http.StatusServiceUnavailable)
	if body["since"] == since {
		t.Fatalf("the second outage has the first one's start %v", since)
	}
}

// waitOK waits until a GET answers 200.
func waitOK(t *testing.T, s *site, path string, params url.Values) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, body := s.get(path, params)
		if code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still answers %d %v", path, code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// commandCounter counts the commands a go-redis client sends for its
// callers: not those that set up a new connection, which the pool keeps.
type commandCounter struct{ n atomic.Int64 }

func (c *commandCounter) count(cmd redis.Cmder) {
	switch cmd.Name() {
	case "hello", "client", "auth", "select":
	default:
		c.n.Add(1)
	}
}

func (c *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.count(cmd)
		return next(ctx, cmd)
	}
}

func (c *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			c.count(cmd)
		}
		return next(ctx, cmds)
	}
}

// TestPollCost counts the Redis commands of each request the page polls
// with, on a queue of 60 dead jobs of 100 bytes and one of 3,000 dead
// jobs of 8 KiB: the same number on both; a page of jobs is one list and
// one read of its summaries, with or without a search by prefix.
// (TestPollBytes counts the bytes.)
func TestPollCost(t *testing.T) {
	srv := redistest.Shared(t)
	opt, err := redis.ParseURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opt)
	counter := &commandCounter{}
	client.AddHook(counter)
	b := goredis.New(client)
	t.Cleanup(func() { b.Close(); client.Close() })

	shallow := newQueue(t, b, queueName("shallow"))
	deep := newQueue(t, b, queueName("deep"))
	fill := func(q *jobqueue.Queue, n, size int) {
		ctx := context.Background()
		payload := map[string]any{"blob": strings.Repeat("x", size)}
		for done := 0; done < n; done += 500 {
			batch := min(500, n-done)
			vs := make([]any, batch)
			for i := range vs {
				vs[i] = payload
			}
			if _, err := q.EnqueueBatch(ctx, vs, jobqueue.MaxAttempts(1)); err != nil {
				t.Fatal(err)
			}
			jobs, err := q.Claim(ctx, batch, time.Second)
			if err != nil || len(jobs) != batch {
				t.Fatalf("claim %d: %d, %v", batch, len(jobs), err)
			}
			for _, j := range jobs {
				if err := j.Fail(ctx, errors.New("boom")); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	fill(shallow, 60, 100)
	fill(deep, 3000, 8<<10)

	s := mount(t, dashboard.New([]*jobqueue.Queue{shallow, deep}))
	// A first call loads the scripts into Redis: a cost paid once.
	for _, path := range []string{"api/overview", "api/jobs?state=dead&queue=" + shallow.Name(), "api/history?queue=" + shallow.Name(), "api/schedules?queue=" + shallow.Name()} {
		code, body := s.get(path, nil)
		must(t, path, code, body, http.StatusOK)
	}
	cost := func(path string, params url.Values) int64 {
		t.Helper()
		before := counter.n.Load()
		code, body := s.get(path, params)
		must(t, path, code, body, http.StatusOK)
		return counter.n.Load() - before
	}
	for _, tc := range []struct {
		path   string
		params func(q string) url.Values
		most   int64
		same   bool
	}{
		{"api/queue", func(q string) url.Values { return vals("queue", q) }, 2, true},
		{"api/jobs", func(q string) url.Values { return vals("queue", q, "state", "dead") }, 2, true},
		{"api/jobs", func(q string) url.Values { return vals("queue", q, "state", "dead", "limit", "50") }, 2, true},
		{"api/jobs", func(q string) url.Values { return vals("queue", q, "state", "dead", "prefix", "0") }, 2, false},
		{"api/history", func(q string) url.Values { return vals("queue", q) }, 1, true},
		{"api/history", func(q string) url.Values { return vals("queue", q, "minutes", "1440", "step", "10") }, 1, true},
		{"api/schedules", func(q string) url.Values { return vals("queue", q) }, 1, true},
	} {
		a, b := cost(tc.path, tc.params(shallow.Name())), cost(tc.path, tc.params(deep.Name()))
		t.Logf("%s?%s: %d commands on 60 jobs, %d on 3,000", tc.path, tc.params("Q").Encode(), a, b)
		if (tc.same && a != b) || max(a, b) > tc.most {
			t.Errorf("%s?%s: %d commands on 60 jobs, %d on 3,000; want at most %d (the same on both: %v)", tc.path, tc.params("Q").Encode(), a, b, tc.most, tc.same)
		}
	}
	if n := cost("api/overview", nil); n > 2*2 {
		t.Errorf("overview of 2 queues: %d commands, want at most 2 a queue", n)
	}
}

// fillPending enqueues n jobs whose payloads are JSON of size bytes.
func fillPending(t *testing.T, q *jobqueue.Queue, n, size int) {
	t.Helper()
	payload := json.RawMessage(`{"blob":"` + strings.Repeat("x", size-len(`{"blob":""}`)) + `"}`)
	for done := 0; done < n; done += 10 {
		vs := make([]any, min(10, n-done))
		for i := range vs {
			vs[i] = payload
		}
		if _, err := q.EnqueueBatch(context.Background(), vs); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPollBytes reads a page of 50 of 60 pending jobs of 1 MiB payloads,
// of 16 KiB (the largest previewed) and of 100 B, on a Redis of its own:
// Redis sends the same
// commands' replies for both, well under redisqtest.PollBytes, since a list reads
// job summaries and never whole payloads. (Before summaries, the page of
// 1 MiB payloads cost 50 MiB.)
func TestPollBytes(t *testing.T) {
	srv := redistest.Start(t)
	opt, err := redis.ParseURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opt)
	b := goredis.New(client)
	t.Cleanup(func() { b.Close(); client.Close() })
	open := func(prefix string, size int) *jobqueue.Queue {
		q, err := jobqueue.New(b, queueName(prefix), jobqueue.WithPayloadLimit(2<<20))
		if err != nil {
			t.Fatal(err)
		}
		fillPending(t, q, 60, size)
		return q
	}
	small, medium, large := open("small", 100), open("medium", backend.MaxPreviewedPayload), open("large", 1<<20)
	s := mount(t, dashboard.New([]*jobqueue.Queue{small, medium, large}))
	info := load.GoRedisInfo(client)
	cost := func(q *jobqueue.Queue, size int) redisqtest.Cost {
		t.Helper()
		params := vals("queue", q.Name(), "state", "pending", "limit", strconv.Itoa(dashboard.MaxPageSize))
		code, body := s.get("api/jobs", params) // loads the function library once
		must(t, "api/jobs", code, body, http.StatusOK)
		c := redisqtest.Measure(t, info, func() {
			code, body = s.get("api/jobs", params)
			must(t, "api/jobs", code, body, http.StatusOK)
		})
		jobs := body["jobs"].([]any)
		if len(jobs) != dashboard.MaxPageSize {
			t.Fatalf("a page of %d jobs, want %d", len(jobs), dashboard.MaxPageSize)
		}
		for _, j := range jobs {
			j := j.(map[string]any)
			preview := j["preview"].(string)
			previewed := size <= backend.MaxPreviewedPayload
			if j["payload_bytes"] != float64(size) || strings.HasPrefix(preview, `{"blob":"xxx`) != previewed ||
				len(strings.TrimSuffix(preview, "…")) > dashboard.PreviewBytes {
				t.Fatalf("job %v: payload_bytes %v, preview %q; want %d bytes, and the payload's first %d at most (none over %d)",
					j["id"], j["payload_bytes"], preview, size, dashboard.PreviewBytes, backend.MaxPreviewedPayload)
			}
		}
		t.Logf("api/jobs of %d jobs of %d B: Redis sent %d bytes, ran %v in %v of its CPU",
			len(jobs), size, c.OutputBytes, c.ByCommand, c.RedisCPU)
		return c
	}
	base := cost(small, 100)
	redisqtest.RequirePreviewsOnly(t, base, cost(medium, backend.MaxPreviewedPayload), dashboard.MaxPageSize, dashboard.PreviewBytes)
	redisqtest.RequirePreviewsOnly(t, base, cost(large, 1<<20), dashboard.MaxPageSize, dashboard.PreviewBytes)
}
