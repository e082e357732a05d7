package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/internal/redisq"
	"github.com/jobqueue-go/jobqueue/memory"
)

// queueStatsKeys are the names of a queue's stats in "jobqueue stats
// --json" and the HTTP API alike: the classic demo's, which its clients
// read.
var queueStatsKeys = []string{
	"queue", "pending_depth", "scheduled_depth", "processing_depth", "completed_depth", "failed_depth",
	"enqueued_total", "claimed_total", "completed_total", "retried_total", "failed_total", "reclaimed_total",
	"queue_latency_ms", "workers", "cancelled_depth", "cancelled_total", "paused", "concurrency_limit", "rate_limit", "rate_per_ms",
}

// demoStatsKeys are the names the HTTP API adds for the demo.
var demoStatsKeys = []string{
	"backend", "hung_total", "visibility_ms", "workers_running", "worker_processed_total", "work_latency_ms", "fail_rate", "hang_rate",
}

// TestOneStatsShape checks that "jobqueue stats --json" and GET /stats give
// a queue's stats under the same names, GET /stats adding only the demo's.
func TestOneStatsShape(t *testing.T) {
	ts := newTestServer(t, time.Second)
	ts.post("/api/enqueue", url.Values{"count": {"2"}})
	c := &cli{t: t, q: ts.q}
	var fromCLI map[string]any
	if err := json.Unmarshal([]byte(c.ok("", "stats", "--json")), &fromCLI); err != nil {
		t.Fatal(err)
	}
	fromAPI := ts.stats()
	// The command adds the store it used, as every JSON object it prints.
	if fromCLI["redis"] != "memory" {
		t.Errorf("stats --json names the store %v, want memory", fromCLI["redis"])
	}
	delete(fromCLI, "redis")
	if got := slices.Sorted(maps.Keys(fromCLI)); !slices.Equal(got, slices.Sorted(slices.Values(queueStatsKeys))) {
		t.Errorf("stats --json names %v, want %v", got, queueStatsKeys)
	}
	want := slices.Sorted(slices.Values(append(slices.Clone(queueStatsKeys), demoStatsKeys...)))
	if got := slices.Sorted(maps.Keys(fromAPI)); !slices.Equal(got, want) {
		t.Errorf("GET /stats names %v, want %v", got, want)
	}
	for k, v := range fromCLI {
		if k == "queue_latency_ms" {
			// It grows between the two reads.
			if a, c := num(fromAPI[k]), num(v); a < c {
				t.Errorf("%s: %v from stats --json, then %v from GET /stats", k, c, a)
			}
			continue
		}
		if fromAPI[k] != v {
			t.Errorf("%s: %v from stats --json, %v from GET /stats", k, v, fromAPI[k])
		}
	}
	if num(fromCLI["pending_depth"]) != 2 || fromCLI["queue"] != "demo" {
		t.Errorf("stats --json: %v", fromCLI)
	}
}

func TestEnqueueReplyAndLists(t *testing.T) {
	ts := newTestServer(t, time.Second)
	code, body := ts.post("/api/enqueue", url.Values{"kind": {"webhook"}, "recipient": {"https://example.com/hook"}, "count": {"3"}})
	if code != http.StatusOK {
		t.Fatalf("POST /enqueue: %d %v", code, body)
	}
	ids := strs(body["enqueued"])
	if len(ids) != 3 {
		t.Fatalf("enqueued %v, want 3 ids", body["enqueued"])
	}
	st := body["stats"].(map[string]any)
	for _, k := range append(slices.Clone(queueStatsKeys), demoStatsKeys...) {
		if _, ok := st[k]; !ok {
			t.Errorf("stats lack %q: %v", k, st)
		}
	}
	if num(st["pending_depth"]) != 3 || num(st["enqueued_total"]) != 3 || num(st["visibility_ms"]) != 1000 || num(st["workers_running"]) != 0 {
		t.Errorf("stats after enqueue: %v", st)
	}

	code, jobs := ts.get("/api/jobs")
	if code != http.StatusOK {
		t.Fatalf("GET /jobs: %d %v", code, jobs)
	}
	for _, state := range []string{"pending", "scheduled", "processing", "completed", "failed"} {
		if _, ok := jobs[state].([]any); !ok {
			t.Errorf("GET /jobs: %s is %T, want a list", state, jobs[state])
		}
	}
	pending := jobs["pending"].([]any)
	if len(pending) != 3 {
		t.Fatalf("pending list %v", pending)
	}
	first := pending[0].(map[string]any)
	if first["id"] != ids[0] || first["kind"] != "webhook" || first["recipient"] != "https://example.com/hook" ||
		first["state"] != "pending" || num(first["attempts"]) != 0 || num(first["max_attempts"]) != 3 {
		t.Errorf("first pending job: %v", first)
	}
	if _, ok := jobs["stats"].(map[string]any); !ok {
		t.Errorf("GET /jobs has no stats: %v", jobs)
	}

	code, d := ts.get("/api/jobs/" + ids[1])
	if code != http.StatusOK || d["id"] != ids[1] || d["state"] != "pending" {
		t.Fatalf("GET /jobs/{id}: %d %v", code, d)
	}
	payload := d["payload"].(map[string]any)
	if payload["kind"] != "webhook" || payload["recipient"] != "https://example.com/hook" {
		t.Errorf("payload %v", payload)
	}
	if d["enqueued_at"] == nil {
		t.Errorf("detail lacks enqueued_at: %v", d)
	}

	code, st = ts.get("/stats")
	if code != http.StatusOK || num(st["pending_depth"]) != 3 {
		t.Errorf("GET /stats: %d %v", code, st)
	}
}

func TestEnqueueDefaultsAndEveryKind(t *testing.T) {
	ts := newTestServer(t, time.Second)
	code, body := ts.post("/api/enqueue", nil)
	if code != http.StatusOK || len(strs(body["enqueued"])) != 1 {
		t.Fatalf("POST /enqueue with no fields: %d %v", code, body)
	}
	for _, kind := range demoKinds {
		code, body := ts.post("/api/enqueue", url.Values{"kind": {kind}, "count": {"2"}})
		if code != http.StatusOK {
			t.Fatalf("kind %s: %d %v", kind, code, body)
		}
		info, err := ts.q.Get(context.Background(), strs(body["enqueued"])[0])
		if err != nil {
			t.Fatal(err)
		}
		if s := summarize(info.Summary(listPreviewBytes)); s.Kind != kind || s.Recipient == "" {
			t.Errorf("kind %s: a list's preview of payload %s shows kind %q, recipient %q", kind, info.Payload, s.Kind, s.Recipient)
		}
		if info.Kind != kind || info.Priority != 0 {
			t.Errorf("kind %s: the job's own kind is %q, priority %d", kind, info.Kind, info.Priority)
		}
	}
}

// TestEnqueuePriority: the dashboard's priority reaches the jobs, which
// then come first in the pending list and in claims.
// TestDemoFields reads the kind and recipient of demo payloads from their
// first bytes, cut anywhere: a field is read when it came whole before
// the cut, and a recipient of the longest kind a form may give, in the
// payload of every kind, comes whole in a list's preview.
func TestDemoFields(t *testing.T) {
	full := `{"attempt_timeout_ms":3000,"event":"order.paid","kind":"webhook","recipient":"https://h.example.com/x","sizes":[1,{"a":2}],"z":"` +
		strings.Repeat("x", 5000) + `"}`
	kindEnd := strings.Index(full, `,"recipient"`)
	recipientEnd := strings.Index(full, `,"sizes"`)
	for n := 0; n <= len(full); n += 1 + n/50 {
		got := demoFields([]byte(full[:n]))
		want := demoPayload{}
		if n >= kindEnd {
			want.Kind = "webhook"
		}
		if n >= recipientEnd {
			want.Recipient = "https://h.example.com/x"
		}
		if got != want {
			t.Fatalf("demoFields of the first %d bytes = %+v, want %+v", n, got, want)
		}
	}
	for _, bad := range []string{"", "[1,2]", `"text"`, `{"kind":1,"recipient":["x"]}`, "\xff\xfe", `{"kind"`} {
		if got := demoFields([]byte(bad)); got != (demoPayload{}) {
			t.Errorf("demoFields(%q) = %+v, want nothing", bad, got)
		}
	}
	longest := strings.Repeat("é", maxRecipient/2)
	for _, kind := range demoKinds {
		b, err := json.Marshal(newDemoPayload(kind, longest))
		if err != nil {
			t.Fatal(err)
		}
		if got := demoFields(b[:min(len(b), listPreviewBytes)]); got.Kind != kind || got.Recipient != longest {
			t.Errorf("kind %s: a list's preview of %s shows %+v", kind, b, got)
		}
	}
}

func TestEnqueuePriority(t *testing.T) {
	ts := newTestServer(t, time.Second)
	ts.post("/api/enqueue", url.Values{"count": {"2"}})
	code, body := ts.post("/api/enqueue", url.Values{"kind": {"invoice"}, "priority": {"3"}})
	if code != http.StatusOK {
		t.Fatalf("POST /api/enqueue: %d %v", code, body)
	}
	urgent := strs(body["enqueued"])[0]
	_, jobs := ts.get("/api/jobs")
	first := jobs["pending"].([]any)[0].(map[string]any)
	if first["id"] != urgent || num(first["priority"]) != 3 || first["kind"] != "invoice" {
		t.Errorf("first pending job %v, want %s at priority 3", first, urgent)
	}
	_, d := ts.get("/api/jobs/" + urgent)
	if num(d["priority"]) != 3 {
		t.Errorf("detail %v", d)
	}
	claimed, err := ts.q.Claim(context.Background(), 1, 0)
	if err != nil || len(claimed) != 1 || claimed[0].ID != urgent || claimed[0].Kind != "invoice" {
		t.Fatalf("first claim %v %v, want %s", claimed, err, urgent)
	}
}

func TestBadValuesAre400(t *testing.T) {
	ts := newTestServer(t, time.Second)
	cases := []struct {
		path   string
		fields url.Values
		field  string
	}{
		{"/api/enqueue", url.Values{"count": {"0"}}, "count"},
		{"/api/enqueue", url.Values{"count": {"abc"}}, "count"},
		{"/api/enqueue", url.Values{"count": {"100000"}}, "count"},
		{"/api/enqueue", url.Values{"count": {"-3"}}, "count"},
		{"/api/enqueue", url.Values{"count": {"2.5"}}, "count"},
		{"/api/enqueue", url.Values{"count": {"1", "2"}}, "count"},
		{"/api/enqueue", url.Values{"kind": {"sms"}}, "kind"},
		{"/api/enqueue", url.Values{"priority": {"4"}}, "priority"},
		{"/api/enqueue", url.Values{"priority": {"-1"}}, "priority"},
		{"/api/enqueue", url.Values{"recipient": {strings.Repeat("x", 201)}}, "recipient"},
		{"/api/enqueue", url.Values{"recipient": {"a\x00b"}}, "recipient"},
		{"/api/workers/start", url.Values{"size": {"-1"}}, "size"},
		{"/api/workers/start", url.Values{"size": {"0"}}, "size"},
		{"/api/workers/start", url.Values{"size": {"65"}}, "size"},
		{"/api/workers/start", url.Values{"size": {"four"}}, "size"},
		{"/api/workers/start", url.Values{"fail_rate": {"1.5"}}, "fail_rate"},
		{"/api/workers/start", url.Values{"fail_rate": {"-0.1"}}, "fail_rate"},
		{"/api/workers/start", url.Values{"fail_rate": {"NaN"}}, "fail_rate"},
		{"/api/workers/start", url.Values{"hang_rate": {"2"}}, "hang_rate"},
		{"/api/workers/start", url.Values{"hang_rate": {"Inf"}}, "hang_rate"},
		{"/api/workers/start", url.Values{"work_latency_ms": {"-1"}}, "work_latency_ms"},
		{"/api/workers/start", url.Values{"work_latency_ms": {"60001"}}, "work_latency_ms"},
		{"/api/workers/configure", url.Values{"size": {"-1"}}, "size"},
		{"/api/workers/configure", url.Values{"fail_rate": {"x"}}, "fail_rate"},
	}
	for _, c := range cases {
		code, body := ts.post(c.path, c.fields)
		msg, _ := body["error"].(string)
		if code != http.StatusBadRequest || !strings.Contains(msg, c.field) {
			t.Errorf("POST %s %s: %d %v, want 400 naming %s", c.path, c.fields.Encode(), code, body, c.field)
		}
	}
	st := ts.stats()
	if num(st["enqueued_total"]) != 0 || num(st["workers_running"]) != 0 || st["fail_rate"] != 0.0 || st["hang_rate"] != 0.0 {
		t.Errorf("refused requests changed something: %v", st)
	}
	if code, body := ts.get("/api/jobs?limit=0"); code != http.StatusBadRequest {
		t.Errorf("GET /jobs?limit=0: %d %v", code, body)
	}
}

func TestRequestGuards(t *testing.T) {
	ts := newTestServer(t, time.Second)
	send := func(method, path, contentType, body string, header map[string]string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		for k, v := range header {
			if k == "Host" {
				req.Host = v
			} else {
				req.Header.Set(k, v)
			}
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return decode(t, res)
	}
	const form = "application/x-www-form-urlencoded"

	for _, h := range []map[string]string{
		{"Origin": "http://evil.example"},
		{"Sec-Fetch-Site": "cross-site"},
		{"Sec-Fetch-Site": "same-site", "Origin": "http://sub.localhost:8798"},
	} {
		for _, path := range []string{"/enqueue", "/workers/start", "/reclaim", "/reset", "/jobs/x/delete", "/api/enqueue", "/api/workers/start", "/api/reset", "/api/jobs/x/delete"} {
			if code, body := send("POST", path, form, "count=1", h); code != http.StatusForbidden {
				t.Errorf("cross-origin POST %s %v: %d %v, want 403", path, h, code, body)
			}
		}
	}
	if code, body := send("DELETE", "/jobs/x", "", "", map[string]string{"Origin": "http://evil.example"}); code != http.StatusForbidden {
		t.Errorf("cross-origin DELETE: %d %v", code, body)
	}
	if code, body := send("POST", "/enqueue", form, "count=1", map[string]string{"Origin": ts.URL, "Sec-Fetch-Site": "same-origin"}); code != http.StatusOK {
		t.Errorf("same-origin POST: %d %v", code, body)
	}
	if code, body := send("GET", "/stats", "", "", map[string]string{"Origin": "http://evil.example"}); code != http.StatusOK {
		t.Errorf("cross-origin GET: %d %v", code, body)
	}
	if code, body := send("GET", "/stats", "", "", map[string]string{"Host": "evil.example:8798"}); code != http.StatusForbidden {
		t.Errorf("GET with a foreign Host (DNS rebinding): %d %v", code, body)
	}
	for _, host := range []string{"localhost:8798", "[::1]:8798", "127.0.0.1"} {
		if code, body := send("GET", "/stats", "", "", map[string]string{"Host": host}); code != http.StatusOK {
			t.Errorf("GET with Host %s: %d %v", host, code, body)
		}
	}

	big := "kind=email&recipient=" + strings.Repeat("x", maxBody+10)
	if code, body := send("POST", "/enqueue", form, big, nil); code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d %v", code, body)
	}
	if code, body := send("POST", "/enqueue", "application/json", `{"count": 5}`, nil); code != http.StatusUnsupportedMediaType {
		t.Errorf("JSON body: %d %v", code, body)
	}
	if code, body := send("POST", "/enqueue", "", "count=5", nil); code != http.StatusUnsupportedMediaType {
		t.Errorf("form body without a Content-Type: %d %v, want 415 rather than acting on the query alone", code, body)
	}
	if code, body := send("POST", "/enqueue", "multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=\"count\"\r\n\r\n2\r\n--b--\r\n", nil); code != http.StatusOK || len(strs(body["enqueued"])) != 2 {
		t.Errorf("multipart form: %d %v", code, body)
	}
	if res, err := http.Get(ts.URL + "/enqueue"); err != nil || res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /enqueue: %v %v, want 405", res.Status, err)
	} else {
		res.Body.Close()
	}
	if st := ts.stats(); num(st["enqueued_total"]) != 3 {
		t.Errorf("refused requests enqueued: %v", st)
	}
}

func TestPageIsServed(t *testing.T) {
	ts := newTestServer(t, time.Second)
	for path, want := range map[string]string{"/": "<title>jobqueue", "/assets/app.js": "REFRESH_MS = 800", "/assets/style.css": "--processing"} {
		res, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %d, body without %q", path, res.StatusCode, want)
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
	}
}

func TestWorkersCompleteFailRetryDelete(t *testing.T) {
	ts := newTestServer(t, time.Second)
	code, body := ts.post("/api/workers/start", url.Values{"size": {"3"}, "work_latency_ms": {"10"}})
	if code != http.StatusOK || num(body["stats"].(map[string]any)["workers_running"]) != 3 || len(body["workers"].([]any)) != 3 {
		t.Fatalf("POST /workers/start: %d %v", code, body)
	}
	ts.post("/api/enqueue", url.Values{"count": {"20"}, "kind": {"thumbnail"}})
	waitFor(t, "20 completions", 10*time.Second, func() bool { return num(ts.stats()["completed_total"]) == 20 })

	code, body = ts.post("/api/workers/configure", url.Values{"size": {"1"}, "fail_rate": {"1"}})
	if st := body["stats"].(map[string]any); code != http.StatusOK || num(st["workers_running"]) != 1 || st["fail_rate"] != 1.0 || num(st["work_latency_ms"]) != 10 {
		t.Fatalf("POST /workers/configure: %d %v", code, body)
	}
	_, body = ts.post("/api/enqueue", url.Values{"kind": {"invoice"}})
	id := strs(body["enqueued"])[0]
	waitFor(t, "the failing job to be dead-lettered", 10*time.Second, func() bool { return num(ts.stats()["failed_total"]) == 1 })

	_, d := ts.get("/api/jobs/" + id)
	if d["state"] != "failed" || num(d["attempts"]) != 3 || !strings.Contains(d["last_error"].(string), "simulated invoice failure on attempt 3 of 3") || d["finished_at"] == nil {
		t.Fatalf("dead job: %v", d)
	}
	if st := ts.stats(); num(st["failed_depth"]) != 1 || num(st["retried_total"]) != 2 {
		t.Errorf("stats after the dead letter: %v", st)
	}
	// The API names the dead state "failed", as the classic demo did.
	_, jobs := ts.get("/api/jobs")
	if dead, _ := jobs["failed"].([]any); len(dead) != 1 || dead[0].(map[string]any)["id"] != id || dead[0].(map[string]any)["state"] != "failed" {
		t.Errorf("GET /jobs: failed list %v", jobs["failed"])
	}
	if _, ok := jobs["dead"]; ok {
		t.Errorf("GET /jobs has a dead list besides the failed one: %v", jobs)
	}

	ts.post("/api/workers/configure", url.Values{"fail_rate": {"0"}})
	code, body = ts.post("/api/jobs/"+id+"/retry", nil)
	if code != http.StatusOK || body["retried"] != id {
		t.Fatalf("retry: %d %v", code, body)
	}
	waitFor(t, "the retried job to complete", 10*time.Second, func() bool {
		_, d := ts.get("/api/jobs/" + id)
		return d["state"] == "completed"
	})
	_, d = ts.get("/api/jobs/" + id)
	if r, _ := d["result"].(map[string]any); r["invoice_no"] == nil {
		t.Errorf("completed invoice without a result: %v", d)
	}

	if code, body := ts.post("/api/jobs/"+id+"/retry", nil); code != http.StatusConflict {
		t.Errorf("retry of a completed job: %d %v, want 409", code, body)
	}
	if code, body := ts.post("/api/jobs/nope/retry", nil); code != http.StatusNotFound {
		t.Errorf("retry of an unknown job: %d %v, want 404", code, body)
	}
	code, body = ts.post("/api/jobs/"+id+"/delete", nil)
	if code != http.StatusOK || body["deleted"] != id {
		t.Fatalf("delete: %d %v", code, body)
	}
	if code, _ := ts.get("/api/jobs/" + id); code != http.StatusNotFound {
		t.Errorf("GET a deleted job: %d, want 404", code)
	}
	req, _ := http.NewRequest(http.MethodDelete, ts.URL+"/jobs/"+id, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := decode(t, res); code != http.StatusNotFound {
		t.Errorf("DELETE of a deleted job: %d, want 404", code)
	}

	code, body = ts.post("/api/workers/stop", nil)
	if code != http.StatusOK || num(body["stats"].(map[string]any)["workers_running"]) != 0 {
		t.Errorf("POST /workers/stop: %d %v", code, body)
	}
}

// TestResizeLosesNoJob stops workers while they hold jobs: those go back to
// pending at once, so everything completes without a reclaim.
func TestResizeLosesNoJob(t *testing.T) {
	ts := newTestServer(t, 10*time.Second)
	ts.post("/api/workers/start", url.Values{"size": {"4"}, "work_latency_ms": {"300"}})
	ts.post("/api/enqueue", url.Values{"count": {"8"}})
	waitFor(t, "4 jobs in flight", 5*time.Second, func() bool { return num(ts.stats()["processing_depth"]) == 4 })
	code, body := ts.post("/api/workers/configure", url.Values{"size": {"1"}})
	if code != http.StatusOK {
		t.Fatalf("resize: %d %v", code, body)
	}
	st := body["stats"].(map[string]any)
	if num(st["workers_running"]) != 1 || num(st["processing_depth"]) > 1 {
		t.Errorf("after shrinking to 1 worker: %v", st)
	}
	ts.post("/api/workers/configure", url.Values{"size": {"3"}, "work_latency_ms": {"20"}})
	waitFor(t, "all 8 jobs to complete", 10*time.Second, func() bool { return num(ts.stats()["completed_total"]) == 8 })
	if st := ts.stats(); num(st["reclaimed_total"]) != 0 || num(st["processing_depth"]) != 0 || num(st["pending_depth"]) != 0 {
		t.Errorf("after the resizes: %v", st)
	}
}

// TestHungJobsComeBackOnlyByReclaim checks that a hung worker stops
// heartbeating its job while healthy workers keep theirs alive past the
// lease.
func TestHungJobsComeBackOnlyByReclaim(t *testing.T) {
	ts := newTestServer(t, 150*time.Millisecond)
	ts.post("/api/workers/start", url.Values{"size": {"3"}, "work_latency_ms": {"20"}, "hang_rate": {"1"}})
	_, body := ts.post("/api/enqueue", url.Values{"count": {"3"}})
	ids := strs(body["enqueued"])
	waitFor(t, "3 hung jobs", 5*time.Second, func() bool {
		_, jobs := ts.get("/api/jobs")
		n := 0
		for _, j := range jobs["processing"].([]any) {
			if j.(map[string]any)["hung"] == true {
				n++
			}
		}
		return n == 3
	})
	_, d := ts.get("/api/jobs/" + ids[0])
	if d["hung"] != true || d["state"] != "processing" {
		t.Errorf("hung job detail: %v", d)
	}
	ts.post("/api/workers/configure", url.Values{"hang_rate": {"0"}, "work_latency_ms": {"400"}})
	time.Sleep(300 * time.Millisecond) // past the hung jobs' leases
	if st := ts.stats(); num(st["processing_depth"]) != 3 || num(st["completed_total"]) != 0 {
		t.Fatalf("hung jobs should wait for a sweep: %v", st)
	}
	code, body := ts.post("/api/reclaim", nil)
	if code != http.StatusOK {
		t.Fatalf("POST /reclaim: %d %v", code, body)
	}
	got := strs(body["reclaimed"])
	slices.Sort(got)
	slices.Sort(ids)
	if !slices.Equal(got, ids) || len(strs(body["requeued"])) != 3 || len(body["dead"].([]any)) != 0 {
		t.Fatalf("reclaim reply: %v, want the 3 hung ids", body)
	}
	if st := body["stats"].(map[string]any); num(st["reclaimed_total"]) != 3 || num(st["hung_total"]) != 3 {
		t.Errorf("stats after the sweep: %v", st)
	}

	// The jobs now take 400 ms, well past the 150 ms lease: the healthy
	// workers' heartbeats must keep every sweep away from them.
	waitFor(t, "the reclaimed jobs to be claimed again", 5*time.Second, func() bool { return num(ts.stats()["processing_depth"]) == 3 })
	for range 3 {
		time.Sleep(100 * time.Millisecond)
		if _, body := ts.post("/api/reclaim", nil); len(body["reclaimed"].([]any)) != 0 {
			t.Fatalf("a sweep took a heartbeated job: %v", body)
		}
	}
	waitFor(t, "3 completions", 5*time.Second, func() bool { return num(ts.stats()["completed_total"]) == 3 })
}

func TestReset(t *testing.T) {
	ts := newTestServer(t, time.Second)
	ts.post("/api/enqueue", url.Values{"count": {"5"}})
	code, body := ts.post("/api/reset", nil)
	st := body["stats"].(map[string]any)
	if code != http.StatusOK || num(st["pending_depth"]) != 0 || num(st["enqueued_total"]) != 0 {
		t.Errorf("POST /reset: %d %v", code, body)
	}
}

func TestQueueErrorsMapToStatus(t *testing.T) {
	ts := newTestServer(t, time.Second)
	for _, c := range []struct {
		err  error
		code int
	}{
		{jobqueue.ErrNotFound, http.StatusNotFound},
		{jobqueue.ErrWrongState, http.StatusConflict},
		{jobqueue.ErrInvalidArgument, http.StatusBadRequest},
		{fmt.Errorf("%w: OOM command not allowed when used memory > 'maxmemory'.", jobqueue.ErrFull), http.StatusInsufficientStorage},
		{errors.New("dial tcp: refused"), http.StatusServiceUnavailable},
	} {
		rec := httptest.NewRecorder()
		ts.srv.writeQueueError(rec, c.err)
		if rec.Code != c.code {
			t.Errorf("%v: %d, want %d", c.err, rec.Code, c.code)
		}
	}
}

// TestHistoryEndpoint reads GET /api/history after the workers completed
// and dead-lettered jobs: one point per minute, oldest first, under the
// names "jobqueue history --json" prints.
func TestHistoryEndpoint(t *testing.T) {
	ts := newTestServer(t, time.Second)
	ts.post("/api/workers/start", url.Values{"size": {"2"}, "work_latency_ms": {"0"}})
	ts.post("/api/enqueue", url.Values{"count": {"4"}})
	waitFor(t, "4 completions", 10*time.Second, func() bool { return num(ts.stats()["completed_total"]) == 4 })
	ts.post("/api/workers/configure", url.Values{"fail_rate": {"1"}})
	ts.post("/api/enqueue", url.Values{"count": {"1"}})
	waitFor(t, "the failing job to be dead-lettered", 10*time.Second, func() bool { return num(ts.stats()["failed_total"]) == 1 })

	code, body := ts.get("/api/history")
	points, _ := body["points"].([]any)
	if code != http.StatusOK || body["queue"] != "demo" || num(body["minutes"]) != 60 || len(points) != 60 {
		t.Fatalf("GET /api/history: %d, %d points, %v", code, len(points), body["minutes"])
	}
	sum := map[string]int{}
	var prev time.Time
	for i, p := range points {
		pt := p.(map[string]any)
		if got := slices.Sorted(maps.Keys(pt)); !slices.Equal(got, []string{"cancelled", "completed", "dead", "enqueued", "failed", "minute", "reclaimed", "retried"}) {
			t.Fatalf("point %d names %v", i, got)
		}
		at, err := time.Parse(time.RFC3339, pt["minute"].(string))
		if err != nil || (i > 0 && at.Sub(prev) != time.Minute) {
			t.Errorf("point %d: minute %v (%v) after %v; want one minute apart, oldest first", i, pt["minute"], err, prev)
		}
		prev = at
		for k, v := range pt {
			if k != "minute" {
				sum[k] += num(v)
			}
		}
	}
	if since := time.Since(prev); since < 0 || since > time.Minute+time.Second {
		t.Errorf("the last point is the minute of %v, %v ago; want the current minute", prev, since)
	}
	// The failing job is tried 3 times: 2 retries, then dead.
	want := map[string]int{"enqueued": 5, "completed": 4, "failed": 3, "retried": 2, "dead": 1, "reclaimed": 0, "cancelled": 0}
	if !maps.Equal(sum, want) {
		t.Errorf("the hour adds up to %v, want %v", sum, want)
	}

	if code, body := ts.get("/api/history?minutes=2"); code != http.StatusOK || len(body["points"].([]any)) != 2 {
		t.Errorf("GET /api/history?minutes=2: %d %v", code, body)
	}
	for _, bad := range []string{"0", "1441", "-1", "x", "1.5"} {
		if code, body := ts.get("/api/history?minutes=" + bad); code != http.StatusBadRequest || body["error"] == nil {
			t.Errorf("GET /api/history?minutes=%s: %d %v, want 400", bad, code, body)
		}
	}

	// A backend that keeps no history.
	q, err := jobqueue.New(struct{ backend.Backend }{memory.New()}, "plain")
	if err != nil {
		t.Fatal(err)
	}
	if code, body := serveQueue(t, q, "memory").get("/api/history"); code != http.StatusNotImplemented || body["error"] == nil {
		t.Errorf("GET /api/history on a backend without history: %d %v, want 501", code, body)
	}
}

// TestSchedulesEndpoint reads GET /api/schedules while the demo's
// Scheduler runs: the schedules the store records, under the names
// "jobqueue schedules --json" prints, with next ticks and, once one
// ticked, its last tick; the ticks' jobs land in the demo queue.
func TestSchedulesEndpoint(t *testing.T) {
	ts := newTestServer(t, time.Second)
	if code, body := ts.get("/api/schedules"); code != http.StatusOK || body["queue"] != "demo" || len(body["schedules"].([]any)) != 0 {
		t.Fatalf("GET /api/schedules before any Scheduler ran: %d %v", code, body)
	}
	if err := ts.srv.runSchedules([]demoSchedule{
		{name: "tick", spec: "@every 1s", kind: "webhook", recipient: "https://status.example.com/tick"},
		{name: "nightly", spec: "30 2 * * *", kind: "invoice"},
	}); err != nil {
		t.Fatal(err)
	}
	var rows []any
	waitFor(t, "a tick of the 1 s schedule to be recorded", 10*time.Second, func() bool {
		code, body := ts.get("/api/schedules")
		if code != http.StatusOK {
			t.Fatalf("GET /api/schedules: %d %v", code, body)
		}
		rows = body["schedules"].([]any)
		return len(rows) == 2 && rows[1].(map[string]any)["last_tick"] != nil
	})
	// By name.
	nightly, tick := rows[0].(map[string]any), rows[1].(map[string]any)
	if got := slices.Sorted(maps.Keys(tick)); !slices.Equal(got, []string{"abandoned", "last_tick", "missed", "name", "next", "seen", "spec", "tz"}) {
		t.Errorf("a schedule's names %v", got)
	}
	if tick["name"] != "tick" || tick["spec"] != "@every 1s" || tick["tz"] != "UTC" || tick["missed"] != "skip" || len(tick["next"].([]any)) != 3 || tick["abandoned"] != false {
		t.Errorf("the 1 s schedule: %v", tick)
	}
	last, err := time.Parse(time.RFC3339, tick["last_tick"].(string))
	if err != nil || last.Nanosecond() != 0 || last.After(time.Now()) {
		t.Errorf("last_tick %v (%v): want a past whole second", tick["last_tick"], err)
	}
	if nightly["name"] != "nightly" || nightly["spec"] != "30 2 * * *" || nightly["last_tick"] != nil {
		t.Errorf("the nightly schedule: %v", nightly)
	}
	for _, v := range nightly["next"].([]any) {
		next, err := time.Parse(time.RFC3339, v.(string))
		if h, m, _ := next.Clock(); err != nil || h != 2 || m != 30 || !next.After(time.Now()) {
			t.Errorf("nightly's next tick %v (%v): want a coming 02:30 UTC", v, err)
		}
	}
	// The ticks' jobs are demo jobs of the queue.
	code, jobs := ts.get("/api/jobs")
	if code != http.StatusOK || len(jobs["pending"].([]any)) == 0 {
		t.Fatalf("GET /api/jobs after a tick: %d %v", code, jobs["pending"])
	}
	if j := jobs["pending"].([]any)[0].(map[string]any); j["kind"] != "webhook" || j["recipient"] != "https://status.example.com/tick" {
		t.Errorf("a tick's job: %v", j)
	}
	ts.post("/api/workers/start", url.Values{"size": {"1"}, "work_latency_ms": {"0"}})
	waitFor(t, "a worker to complete a tick's job", 10*time.Second, func() bool {
		_, jobs := ts.get("/api/jobs")
		for _, j := range jobs["completed"].([]any) {
			if j.(map[string]any)["recipient"] == "https://status.example.com/tick" {
				return true
			}
		}
		return false
	})

	// A reset deletes the records, and the restarted Scheduler records
	// the schedules again at once.
	if code, body := ts.post("/api/reset", nil); code != http.StatusOK {
		t.Fatalf("POST /api/reset: %d %v", code, body)
	}
	waitFor(t, "the schedules to be recorded again after the reset", 10*time.Second, func() bool {
		_, body := ts.get("/api/schedules")
		return len(body["schedules"].([]any)) == 2
	})

	// A backend that keeps no schedules.
	q, err := jobqueue.New(struct{ backend.Backend }{memory.New()}, "plain")
	if err != nil {
		t.Fatal(err)
	}
	if code, body := serveQueue(t, q, "memory").get("/api/schedules"); code != http.StatusNotImplemented || !strings.Contains(errText(body), "keeps no schedules") {
		t.Errorf("GET /api/schedules on a backend without schedules: %d %v, want 501", code, body)
	}
	// A store that does not answer.
	q, err = jobqueue.New(unavailableSchedules{memory.New()}, "down", jobqueue.WithRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	if code, body := serveQueue(t, q, "memory").get("/api/schedules"); code != http.StatusServiceUnavailable || !strings.Contains(errText(body), "queue unavailable") {
		t.Errorf("GET /api/schedules with the store down: %d %v, want 503", code, body)
	}
}

// unavailableSchedules is a backend whose store does not answer a read of
// its schedules.
type unavailableSchedules struct{ *memory.Backend }

func (unavailableSchedules) Schedules(context.Context, string) ([]backend.ScheduleRecord, error) {
	return nil, fmt.Errorf("%w: dial tcp 127.0.0.1:1: connection refused", backend.ErrUnavailable)
}

// errText returns the error a reply gives, "" when it gives none.
func errText(body map[string]any) string {
	s, _ := body["error"].(string)
	return s
}

// TestOutageErrorIsOneLine checks that a read of several lists, each of
// which fails for the same outage, answers with the reason once, on one
// line, rather than once per list; and that the 503 says when the outage
// began, the same on every reply, and carries the worker pool's state,
// which this process knows all the same.
func TestOutageErrorIsOneLine(t *testing.T) {
	q, err := jobqueue.New(unavailableLists{memory.New()}, "down", jobqueue.WithRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	ts := serveQueue(t, q, "memory")
	if code, body := ts.post("/api/workers/start", url.Values{"size": {"3"}}); code != http.StatusOK {
		t.Fatalf("POST /api/workers/start: %d %v", code, body)
	}
	var since any
	for _, path := range []string{"/jobs", "/api/jobs", "/jobs"} {
		code, body := ts.get(path)
		msg := errText(body)
		if code != http.StatusServiceUnavailable || strings.Contains(msg, "\n") || strings.Count(msg, "connection refused") != 1 || !strings.HasPrefix(msg, "queue unavailable: ") {
			t.Errorf("GET %s with the store down: %d %q, want a 503 naming the reason once", path, code, msg)
		}
		if since == nil {
			since = body["since"]
		}
		if at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(body["since"])); err != nil || body["since"] != since || body["queue"] != "down" {
			t.Errorf("GET %s with the store down: since %v (%v), queue %v; want the same start on every reply", path, body["since"], err, body["queue"])
		} else if time.Since(at) < 0 {
			t.Errorf("GET %s: the outage begins in the future, at %v", path, at)
		}
		pool, _ := body["pool"].(map[string]any)
		if workers, _ := pool["workers"].([]any); num(pool["running"]) != 3 || len(workers) != 3 {
			t.Errorf("GET %s with the store down: pool %v, want its 3 workers running", path, body["pool"])
		}
	}
}

// unavailableLists is a backend whose store does not answer a list.
type unavailableLists struct{ *memory.Backend }

func (unavailableLists) List(context.Context, backend.ListParams) ([]string, error) {
	return nil, fmt.Errorf("%w: dial tcp 127.0.0.1:1: connection refused", backend.ErrUnavailable)
}

// TestJobByQueryParameter opens, retries and deletes a job named ".." by
// the id parameter the page uses (api/job?id=), as a store written
// before such ids were refused may hold one: in a path, a browser
// resolves ".." away before the request is sent.
func TestJobByQueryParameter(t *testing.T) {
	srv := redistest.Shared(t)
	ctx := context.Background()
	ob, err := openBackend(ctx, backendGoredis, srv.URL, "", memoryBounds{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ob.Close)
	name := fmt.Sprintf("demo-dotdot-%d", time.Now().UnixNano())
	q, err := jobqueue.New(ob.Backend, name, jobqueue.WithMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Enqueue(ctx, map[string]string{"kind": "email"}, jobqueue.WithID("legacy")); err != nil {
		t.Fatal(err)
	}
	// What an older version stored: the same job under the id "..".
	raw := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = raw.Close() })
	k := redisq.KeysFor(name)
	if _, err := raw.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Rename(ctx, k.Job("legacy"), k.Job(".."))
		p.HSet(ctx, k.Job(".."), "id", "..")
		p.LSet(ctx, k.Pending, 0, "..")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ts := serveQueue(t, q, "redis")

	code, d := ts.get("/api/job?id=..")
	if code != http.StatusOK || d["id"] != ".." || d["state"] != "pending" {
		t.Fatalf("GET /api/job?id=..: %d %v", code, d)
	}
	if code, body := ts.post("/api/job/retry", url.Values{"id": {".."}}); code != http.StatusConflict {
		t.Errorf("retry of the pending job ..: %d %v, want 409", code, body)
	}
	if code, body := ts.post("/api/job/delete", url.Values{}); code != http.StatusBadRequest {
		t.Errorf("delete without an id: %d %v, want 400", code, body)
	}
	code, body := ts.post("/api/job/delete", url.Values{"id": {".."}})
	if code != http.StatusOK || body["deleted"] != ".." {
		t.Fatalf("POST /api/job/delete id=..: %d %v", code, body)
	}
	if _, err := q.Get(ctx, ".."); !errors.Is(err, jobqueue.ErrNotFound) {
		t.Errorf("job .. after the delete: %v", err)
	}
}
