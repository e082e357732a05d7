package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/memory"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// testServer is a dashboard on a fresh in-memory queue, served by httptest.
type testServer struct {
	t   *testing.T
	srv *server
	q   *jobqueue.Queue
	hs  *httptest.Server
	URL string
}

func newTestServer(t *testing.T, lease time.Duration) *testServer {
	t.Helper()
	q, err := jobqueue.New(memory.New(), "demo", jobqueue.WithLease(lease), jobqueue.WithBackoff(jobqueue.ConstantBackoff(50*time.Millisecond)))
	if err != nil {
		t.Fatal(err)
	}
	return serveQueue(t, q, "memory")
}

func serveQueue(t *testing.T, q *jobqueue.Queue, desc string) *testServer {
	t.Helper()
	s := newServer(q, desc, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.pool.claimWait = 100 * time.Millisecond
	hs := httptest.NewServer(s.handler())
	t.Cleanup(func() {
		s.close()
		hs.Close()
	})
	return &testServer{t: t, srv: s, q: q, hs: hs, URL: hs.URL}
}

// post sends form fields and returns the status and the decoded JSON reply.
func (ts *testServer) post(path string, fields url.Values) (int, map[string]any) {
	ts.t.Helper()
	res, err := http.PostForm(ts.URL+path, fields)
	if err != nil {
		ts.t.Fatal(err)
	}
	return decode(ts.t, res)
}

func (ts *testServer) get(path string) (int, map[string]any) {
	ts.t.Helper()
	res, err := http.Get(ts.URL + path)
	if err != nil {
		ts.t.Fatal(err)
	}
	return decode(ts.t, res)
}

func decode(t *testing.T, res *http.Response) (int, map[string]any) {
	t.Helper()
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want JSON", ct)
	}
	var body map[string]any
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatalf("decode reply: %v", err)
	}
	return res.StatusCode, body
}

// stats returns the dashboard's stats as numbers.
func (ts *testServer) stats() map[string]any {
	ts.t.Helper()
	code, body := ts.get("/stats")
	if code != http.StatusOK {
		ts.t.Fatalf("GET /stats: %d %v", code, body)
	}
	return body
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func num(v any) int {
	f, _ := v.(float64)
	return int(f)
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}
