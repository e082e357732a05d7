package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/memory"
)

// These tests use the classic endpoints as the job-queue recipe's demo
// page does (README, "The classic endpoints"): the same requests, bodies
// and headers, and they read the fields the page reads.

// pageFormType is the Content-Type that fetch gives a URLSearchParams
// body, the only body the page sends.
const pageFormType = "application/x-www-form-urlencoded;charset=UTF-8"

// pageStatsKeys are the stats the page prints.
var pageStatsKeys = []string{
	"workers_running", "pending_depth", "processing_depth", "enqueued_total", "completed_total", "failed_total",
	"reclaimed_total", "worker_processed_total", "visibility_ms", "work_latency_ms", "fail_rate", "hang_rate",
}

// pageLists are the lists of GET /jobs that the page shows.
var pageLists = []string{"pending", "processing", "completed", "failed"}

// classicPage sends what the recipe's page sends.
type classicPage struct {
	t   *testing.T
	ts  *testServer
	url string
}

// post sends a POST as the page's fetch does: form fields as a
// URLSearchParams body, or no body at all, from the same origin.
func (p *classicPage) post(path string, fields url.Values) (int, map[string]any) {
	p.t.Helper()
	var body io.Reader = http.NoBody
	if fields != nil {
		body = strings.NewReader(fields.Encode())
	}
	req, err := http.NewRequest(http.MethodPost, p.url+path, body)
	if err != nil {
		p.t.Fatal(err)
	}
	if fields != nil {
		req.Header.Set("Content-Type", pageFormType)
	}
	req.Header.Set("Origin", p.url)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Sec-Fetch-Mode", "cors")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	return decode(p.t, res)
}

// enqueue is the page's Enqueue button.
func (p *classicPage) enqueue(kind, recipient, count string) []string {
	p.t.Helper()
	code, body := p.post("/enqueue", url.Values{"kind": {kind}, "recipient": {recipient}, "count": {count}})
	if code != http.StatusOK {
		p.t.Fatalf("POST /enqueue count=%s: %d %v", count, code, body)
	}
	return strs(body["enqueued"])
}

// start is the page's "Start / apply" button, which sends every field.
func (p *classicPage) start(size, latencyMS, failRate, hangRate string) (int, map[string]any) {
	p.t.Helper()
	return p.post("/workers/start", url.Values{"size": {size}, "work_latency_ms": {latencyMS}, "fail_rate": {failRate}, "hang_rate": {hangRate}})
}

// mustStart starts the workers, failing the test on anything but a 200.
func (p *classicPage) mustStart(size, latencyMS, failRate, hangRate string) {
	p.t.Helper()
	if code, body := p.start(size, latencyMS, failRate, hangRate); code != http.StatusOK {
		p.t.Fatalf("POST /workers/start: %d %v", code, body)
	}
}

// refresh is the page's refresh: GET /jobs and GET /stats.
func (p *classicPage) refresh() (jobs map[string][]map[string]any, stats map[string]any) {
	p.t.Helper()
	code, body := p.ts.get("/jobs")
	if code != http.StatusOK {
		p.t.Fatalf("GET /jobs: %d %v", code, body)
	}
	jobs = map[string][]map[string]any{}
	for _, name := range pageLists {
		list, ok := body[name].([]any)
		if !ok {
			p.t.Fatalf("GET /jobs: %s is %T, want a list", name, body[name])
		}
		for _, j := range list {
			jobs[name] = append(jobs[name], j.(map[string]any))
		}
	}
	return jobs, p.stats()
}

// stats is GET /stats.
func (p *classicPage) stats() map[string]any {
	p.t.Helper()
	return p.ts.stats()
}

// checkPageStats checks that st holds a number for every stat the page
// prints.
func checkPageStats(t *testing.T, what string, st map[string]any) {
	t.Helper()
	for _, k := range pageStatsKeys {
		if _, ok := st[k].(float64); !ok {
			t.Errorf("%s: %s is %v, want a number (the page prints it)", what, k, st[k])
		}
	}
}

// waitStat waits until the stat named key reaches n.
func (p *classicPage) waitStat(key string, n int) {
	p.t.Helper()
	waitFor(p.t, fmt.Sprintf("%s to reach %d", key, n), 10*time.Second, func() bool { return num(p.ts.stats()[key]) == n })
}

// onEachBackend runs test on a server over each backend: memory, and Redis
// through both adapters, each on a queue of its own made with opts.
func onEachBackend(t *testing.T, opts []jobqueue.Option, test func(t *testing.T, p *classicPage)) {
	run := func(t *testing.T, ts *testServer) {
		test(t, &classicPage{t: t, ts: ts, url: ts.URL})
	}
	t.Run(backendMemory, func(t *testing.T) {
		q, err := jobqueue.New(memory.New(), "demo", opts...)
		if err != nil {
			t.Fatal(err)
		}
		run(t, serveQueue(t, q, "memory"))
	})
	for _, kind := range []string{backendGoredis, backendRueidis} {
		t.Run(kind, func(t *testing.T) {
			srv := redistest.Shared(t)
			ob, err := openBackend(context.Background(), kind, srv.URL, "", memoryBounds{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(ob.Close)
			name := fmt.Sprintf("classic-%s-%d", kind, time.Now().UnixNano())
			q, err := jobqueue.New(ob, name, opts...)
			if err != nil {
				t.Fatal(err)
			}
			run(t, serveQueue(t, q, ob.desc))
		})
	}
}

// classicOpts are the queue options of most classic tests: quick retries.
var classicOpts = []jobqueue.Option{jobqueue.WithLease(time.Second), jobqueue.WithBackoff(jobqueue.ConstantBackoff(20 * time.Millisecond))}

// checkPageJob checks what the page prints of one job in the list named
// list: its status badge, its attempts and its payload line.
func checkPageJob(t *testing.T, list string, j map[string]any, status, kind, recipient string) {
	t.Helper()
	if j["status"] != status {
		t.Errorf("%s job %v: status %v, want %q", list, j["id"], j["status"], status)
	}
	if _, ok := j["attempts"].(float64); !ok {
		t.Errorf("%s job %v: attempts %v, want a number", list, j["id"], j["attempts"])
	}
	payload, ok := j["payload"].(map[string]any)
	if !ok {
		t.Errorf("%s job %v: payload %v, want the job's JSON object", list, j["id"], j["payload"])
		return
	}
	if payload["kind"] != kind || (recipient != "" && payload["recipient"] != recipient) {
		t.Errorf("%s job %v: payload %v, want kind %q and recipient %q", list, j["id"], payload, kind, recipient)
	}
}

// TestClassicJobStatus: every job of every list has the status the page
// prints in its badge.
func TestClassicJobStatus(t *testing.T) {
	onEachBackend(t, []jobqueue.Option{jobqueue.WithLease(200 * time.Millisecond), jobqueue.WithBackoff(jobqueue.ConstantBackoff(20 * time.Millisecond))}, func(t *testing.T, p *classicPage) {
		p.enqueue("email", "user@example.com", "3")
		jobs, _ := p.refresh()
		if len(jobs["pending"]) != 3 {
			t.Fatalf("pending: %v", jobs["pending"])
		}
		for _, j := range jobs["pending"] {
			checkPageJob(t, "pending", j, "pending", "email", "user@example.com")
		}

		p.mustStart("2", "0", "0", "0")
		p.waitStat("completed_total", 3)
		p.mustStart("2", "0", "1", "0")
		p.enqueue("webhook", "https://example.com/hook", "1")
		p.waitStat("failed_total", 1)
		p.mustStart("1", "0", "0", "1")
		p.enqueue("thumbnail", "uploads/cat.jpg", "1")
		p.waitStat("processing_depth", 1)

		jobs, _ = p.refresh()
		for list, n := range map[string]int{"completed": 3, "failed": 1, "processing": 1} {
			if len(jobs[list]) != n {
				t.Fatalf("%s: %v, want %d jobs", list, jobs[list], n)
			}
		}
		for _, j := range jobs["completed"] {
			checkPageJob(t, "completed", j, "completed", "email", "user@example.com")
		}
		checkPageJob(t, "failed", jobs["failed"][0], "failed", "webhook", "https://example.com/hook")
		checkPageJob(t, "processing", jobs["processing"][0], "processing", "thumbnail", "uploads/cat.jpg")

		// The hung job comes back by a sweep once its lease runs out.
		p.post("/workers/stop", nil)
		waitFor(t, "a sweep to reclaim the hung job", 10*time.Second, func() bool {
			code, body := p.post("/reclaim", nil)
			return code == http.StatusOK && len(body["reclaimed"].([]any)) == 1
		})
		jobs, _ = p.refresh()
		if len(jobs["pending"]) != 1 {
			t.Fatalf("pending after the sweep: %v", jobs["pending"])
		}
		checkPageJob(t, "pending", jobs["pending"][0], "pending", "thumbnail", "uploads/cat.jpg")
	})
}

// TestClassicJobPayload: each job carries its payload as the job's JSON
// object, which the page prints.
func TestClassicJobPayload(t *testing.T) {
	onEachBackend(t, classicOpts, func(t *testing.T, p *classicPage) {
		ids := p.enqueue("webhook", "https://example.com/hook", "2")
		jobs, _ := p.refresh()
		if len(jobs["pending"]) != 2 {
			t.Fatalf("pending: %v", jobs["pending"])
		}
		for i, j := range jobs["pending"] {
			if j["id"] != ids[i] {
				t.Errorf("pending[%d] is %v, want %s", i, j["id"], ids[i])
			}
			checkPageJob(t, "pending", j, "pending", "webhook", "https://example.com/hook")
			if payload, _ := j["payload"].(map[string]any); payload["event"] == nil {
				t.Errorf("payload %v lacks the webhook's event: not the whole job", j["payload"])
			}
		}
	})
}

// TestClassicJobResult: completed jobs carry their result, which the page
// prints; dead jobs carry their last error and attempts instead.
func TestClassicJobResult(t *testing.T) {
	onEachBackend(t, classicOpts, func(t *testing.T, p *classicPage) {
		p.mustStart("2", "0", "0", "0")
		p.enqueue("invoice", "customer-7", "3")
		p.waitStat("completed_total", 3)
		p.mustStart("2", "0", "1", "0")
		p.enqueue("email", "ada@example.com", "1")
		p.waitStat("failed_total", 1)

		jobs, _ := p.refresh()
		if len(jobs["completed"]) != 3 || len(jobs["failed"]) != 1 {
			t.Fatalf("completed %v, failed %v", jobs["completed"], jobs["failed"])
		}
		for _, j := range jobs["completed"] {
			result, ok := j["result"].(map[string]any)
			if !ok || result["invoice_no"] == nil {
				t.Errorf("completed job %v: result %v, want the worker's result object", j["id"], j["result"])
			}
			if j["last_error"] != nil {
				t.Errorf("completed job %v has last_error %v; the page would print it instead of the result", j["id"], j["last_error"])
			}
		}
		dead := jobs["failed"][0]
		if msg, _ := dead["last_error"].(string); !strings.Contains(msg, "simulated email failure on attempt 3 of 3") {
			t.Errorf("failed job: last_error %v", dead["last_error"])
		}
		if num(dead["attempts"]) != 3 || dead["result"] != nil {
			t.Errorf("failed job: attempts %v, result %v", dead["attempts"], dead["result"])
		}
	})
}

// TestClassicWorkerProcessedTotal: the stats have every number the page
// prints, worker_processed_total among them, which a reset zeroes.
func TestClassicWorkerProcessedTotal(t *testing.T) {
	onEachBackend(t, classicOpts, func(t *testing.T, p *classicPage) {
		checkPageStats(t, "GET /stats", p.stats())
		if st := p.stats(); num(st["worker_processed_total"]) != 0 {
			t.Errorf("worker_processed_total %v before any work", st["worker_processed_total"])
		}
		p.mustStart("2", "0", "0", "0")
		p.enqueue("email", "user@example.com", "4")
		p.waitStat("worker_processed_total", 4)
		if st := p.stats(); num(st["completed_total"]) != 4 {
			t.Errorf("stats: %v", st)
		}
		p.post("/reset", nil)
		if st := p.stats(); num(st["worker_processed_total"]) != 0 {
			t.Errorf("worker_processed_total %v after a reset", st["worker_processed_total"])
		}
	})
}

// TestClassicListsAreWhole: the page counts as many pending jobs as the
// stats say, up to 1,000; completed and failed show the last 10.
func TestClassicListsAreWhole(t *testing.T) {
	onEachBackend(t, classicOpts, func(t *testing.T, p *classicPage) {
		first := p.enqueue("email", "user@example.com", "50")
		p.enqueue("email", "user@example.com", "10")
		jobs, st := p.refresh()
		if len(jobs["pending"]) != 60 || num(st["pending_depth"]) != 60 {
			t.Fatalf("the page counts %d pending, the stats say %v", len(jobs["pending"]), st["pending_depth"])
		}
		if jobs["pending"][0]["id"] != first[0] {
			t.Errorf("pending starts with %v, want the oldest job %s", jobs["pending"][0]["id"], first[0])
		}

		vs := make([]any, 941)
		for i := range vs {
			vs[i] = map[string]any{"kind": "email", "recipient": "bulk@example.com"}
		}
		if _, err := p.ts.q.EnqueueBatch(context.Background(), vs); err != nil {
			t.Fatal(err)
		}
		jobs, st = p.refresh()
		if len(jobs["pending"]) != 1000 || num(st["pending_depth"]) != 1001 {
			t.Errorf("with 1001 pending: the page counts %d, the stats say %v; want the cap of 1000", len(jobs["pending"]), st["pending_depth"])
		}

		p.post("/reset", nil)
		p.mustStart("4", "0", "0", "0")
		p.enqueue("thumbnail", "uploads/a.jpg", "12")
		p.waitStat("completed_total", 12)
		p.mustStart("4", "0", "1", "0")
		p.enqueue("invoice", "customer-1", "11")
		p.waitStat("failed_total", 11)
		jobs, _ = p.refresh()
		if len(jobs["completed"]) != 10 || len(jobs["failed"]) != 10 {
			t.Errorf("completed %d, failed %d; want the last 10 of each", len(jobs["completed"]), len(jobs["failed"]))
		}
	})
}

// TestClassicRetryIsPending: a job waiting out its retry backoff shows
// under pending, so that no job vanishes from the page's four lists.
func TestClassicRetryIsPending(t *testing.T) {
	// An hour's backoff keeps the retries waiting for as long as the test
	// looks at them.
	opts := []jobqueue.Option{jobqueue.WithLease(time.Second), jobqueue.WithBackoff(jobqueue.ConstantBackoff(time.Hour))}
	onEachBackend(t, opts, func(t *testing.T, p *classicPage) {
		ids := p.enqueue("email", "user@example.com", "3")
		p.mustStart("2", "0", "1", "0")
		p.waitStat("scheduled_depth", 3)
		p.post("/workers/stop", nil)

		jobs, st := p.refresh()
		seen := map[string]string{}
		for _, list := range pageLists {
			for _, j := range jobs[list] {
				seen[j["id"].(string)] = list
			}
		}
		for _, id := range ids {
			if seen[id] != "pending" {
				t.Errorf("job %s waiting to retry: in list %q, want pending", id, seen[id])
			}
		}
		for _, j := range jobs["pending"] {
			checkPageJob(t, "pending", j, "scheduled", "email", "user@example.com")
			if msg, _ := j["last_error"].(string); num(j["attempts"]) != 1 || !strings.Contains(msg, "simulated email failure on attempt 1 of 3") {
				t.Errorf("job waiting to retry: attempts %v, last_error %v", j["attempts"], j["last_error"])
			}
		}
		if n := num(st["pending_depth"]) + num(st["scheduled_depth"]); len(jobs["pending"]) != n {
			t.Errorf("the page counts %d pending, the stats say %d ready and waiting", len(jobs["pending"]), n)
		}
	})
}

// TestClassicWorkerSettingsClamp: the worker settings and an enqueue's
// count are clamped into range and applied, as the recipe's server does;
// size 0 stops the pool and keeps the rest of the settings.
func TestClassicWorkerSettingsClamp(t *testing.T) {
	onEachBackend(t, classicOpts, func(t *testing.T, p *classicPage) {
		check := func(what string, code int, workers, latency int, fail, hang float64) {
			t.Helper()
			st := p.stats()
			if code != http.StatusOK || num(st["workers_running"]) != workers || num(st["work_latency_ms"]) != latency || st["fail_rate"] != fail || st["hang_rate"] != hang {
				t.Errorf("%s: %d, stats %v; want 200, %d workers, latency %d, fail %v, hang %v", what, code, st, workers, latency, fail, hang)
			}
		}
		code, _ := p.start("99", "-5", "2", "-1")
		check("start out of range", code, 8, 0, 1, 0)
		code, _ = p.start("0", "250", "0.25", "0.5")
		check("start with size 0", code, 0, 250, 0.25, 0.5)
		code, _ = p.start("3", "x", "NaN", "")
		check("start with unreadable values", code, 3, 250, 0.25, 0.5)
		code, _ = p.start("-2", "100000000", "1e999", "-0.5")
		check("start below and above range", code, 0, 60000, 1, 0)
		code, _ = p.post("/workers/configure", url.Values{"work_latency_ms": {"-1"}, "fail_rate": {"7"}, "hang_rate": {"0.1"}})
		check("configure out of range", code, 0, 0, 1, 0.1)

		for count, want := range map[string]int{"0": 1, "-4": 1, "x": 1, "": 1, "60": 50, "7": 7} {
			if got := p.enqueue("email", "user@example.com", count); len(got) != want {
				t.Errorf("enqueue count=%q: %d jobs, want %d", count, len(got), want)
			}
		}
	})
}

// TestClassicResetStopsWorkers: a reset stops the workers, as the
// recipe's does, and their jobs go with the rest of the queue.
func TestClassicResetStopsWorkers(t *testing.T) {
	onEachBackend(t, classicOpts, func(t *testing.T, p *classicPage) {
		p.mustStart("2", "60000", "0", "0")
		p.enqueue("email", "user@example.com", "3")
		p.waitStat("processing_depth", 2)
		code, body := p.post("/reset", nil)
		st, _ := body["stats"].(map[string]any)
		if code != http.StatusOK || st == nil {
			t.Fatalf("POST /reset: %d %v", code, body)
		}
		if num(st["workers_running"]) != 0 {
			t.Errorf("POST /reset: workers_running %v, want 0", st["workers_running"])
		}
		for _, k := range []string{"workers_running", "pending_depth", "processing_depth", "enqueued_total"} {
			if n := num(p.stats()[k]); n != 0 {
				t.Errorf("after the reset: %s %d, want 0", k, n)
			}
		}
	})
}

// TestClassicWorkerRepliesAreFlat: the worker endpoints answer with the
// stats object itself, as the recipe's do.
func TestClassicWorkerRepliesAreFlat(t *testing.T) {
	onEachBackend(t, classicOpts, func(t *testing.T, p *classicPage) {
		for _, c := range []struct {
			path    string
			fields  url.Values
			workers int
		}{
			{"/workers/start", url.Values{"size": {"2"}, "work_latency_ms": {"400"}, "fail_rate": {"0"}, "hang_rate": {"0"}}, 2},
			{"/workers/configure", url.Values{"work_latency_ms": {"300"}, "fail_rate": {"0.1"}, "hang_rate": {"0"}}, 2},
			{"/workers/stop", nil, 0},
		} {
			code, body := p.post(c.path, c.fields)
			if code != http.StatusOK {
				t.Fatalf("POST %s: %d %v", c.path, code, body)
			}
			checkPageStats(t, "POST "+c.path, body)
			if _, wrapped := body["stats"]; wrapped || num(body["workers_running"]) != c.workers || body["queue"] == nil {
				t.Errorf("POST %s: %v, want the flat stats with %d workers", c.path, body, c.workers)
			}
		}
		for _, path := range []string{"/enqueue", "/reclaim", "/reset"} {
			var fields url.Values
			if path == "/enqueue" {
				fields = url.Values{"kind": {"email"}, "recipient": {""}, "count": {"1"}}
			}
			code, body := p.post(path, fields)
			st, _ := body["stats"].(map[string]any)
			if code != http.StatusOK || st == nil {
				t.Fatalf("POST %s: %d %v, want the stats under \"stats\"", path, code, body)
			}
			checkPageStats(t, "POST "+path, st)
		}
	})
}
