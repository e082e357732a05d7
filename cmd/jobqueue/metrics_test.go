package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestMetrics checks that GET /metrics exposes the demo queue's metrics,
// from the Collector, and its pool's attempts, from the Observer, as the
// pool completes, retries and dead-letters jobs.
func TestMetrics(t *testing.T) {
	ts := newTestServer(t, time.Second)
	scrape := func() string {
		t.Helper()
		res, err := http.Get(ts.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("GET /metrics: %d %v", res.StatusCode, err)
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("GET /metrics: Content-Type %q", ct)
		}
		return string(body)
	}
	// lines reports whether the exposition has every one of want.
	lines := func(body string, want ...string) bool {
		have := map[string]bool{}
		for _, l := range strings.Split(body, "\n") {
			have[l] = true
		}
		for _, w := range want {
			if !have[w] {
				return false
			}
		}
		return true
	}

	ts.post("/api/enqueue", url.Values{"kind": {"email"}, "count": {"3"}})
	if body := scrape(); !lines(body, `jobqueue_jobs{queue="demo",state="pending"} 3`, `jobqueue_up{queue="demo"} 1`, `jobqueue_enqueued_total{queue="demo"} 3`) {
		t.Fatalf("GET /metrics before any work lacks the queue's depth:\n%s", body)
	}

	ts.post("/api/workers/start", url.Values{"size": {"2"}, "work_latency_ms": {"10"}, "fail_rate": {"0"}, "hang_rate": {"0"}})
	// One scrape reads the queue's stats and the pool's attempts at
	// once, so the two may be a moment apart: wait until both see it.
	var body string
	waitFor(t, "three completions in /metrics", 20*time.Second, func() bool {
		body = scrape()
		return lines(body,
			`jobqueue_attempts_total{kind="email",outcome="completed",queue="demo"} 3`,
			`jobqueue_in_flight{kind="email",queue="demo"} 0`,
			`jobqueue_completed_total{queue="demo"} 3`)
	})
	if !lines(body, `jobqueue_jobs{queue="demo",state="completed"} 3`,
		`jobqueue_handler_duration_seconds_count{kind="email",outcome="completed",queue="demo"} 3`) {
		t.Errorf("GET /metrics after three completions:\n%s", body)
	}

	// A job that always fails is retried, then dead-lettered (the demo
	// queue allows three attempts).
	ts.post("/api/workers/configure", url.Values{"fail_rate": {"1"}})
	ts.post("/api/enqueue", url.Values{"kind": {"webhook"}, "recipient": {"https://example.com/hook"}, "count": {"1"}})
	waitFor(t, "a dead-letter in /metrics", 20*time.Second, func() bool {
		body = scrape()
		return lines(body, `jobqueue_attempts_total{kind="webhook",outcome="dead",queue="demo"} 1`, `jobqueue_dead_total{queue="demo"} 1`)
	})
	if !lines(body, `jobqueue_attempts_total{kind="webhook",outcome="retried",queue="demo"} 2`,
		`jobqueue_retried_total{queue="demo"} 2`) {
		t.Errorf("GET /metrics after a dead-letter:\n%s", body)
	}
	if !strings.Contains(body, "\ngo_goroutines ") {
		t.Errorf("GET /metrics lacks the Go runtime's metrics")
	}
}
