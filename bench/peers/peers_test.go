package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestComparison runs every workload once for every library, tiny,
// against servers of its own, and checks that each library ran every job
// exactly once and that the report has a row for each. It is the smoke
// test that keeps the comparison from rotting; it measures nothing.
func TestComparison(t *testing.T) {
	for _, bin := range []string{"redis-server", "redis-benchmark"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("JOBQUEUE_REQUIRE_REDIS") == "1" {
				t.Fatalf("JOBQUEUE_REQUIRE_REDIS=1 but %s is not on PATH", bin)
			}
			t.Skipf("%s is not on PATH", bin)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := comparison{
		cfg: config{jobs: 200, payload: 100, producers: 4, handlers: 8, batch: 10,
			rate: 200, steadyFor: time.Second, idleFor: time.Second,
			settle: 200 * time.Millisecond, stall: 20 * time.Second},
		runs: 1, libraries: libraries, benchRequests: 2000,
		serverBin: "redis-server", benchBin: "redis-benchmark",
	}
	rep, err := c.run(ctx, testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	batches := map[string]bool{"jobqueue (go-redis)": true, "jobqueue (rueidis)": true, "rmq v5.2.0": true, "BLMOVE recipe (go-redis)": true}
	for _, r := range rep.rows {
		if len(r.errors) > 0 || len(r.results) != 1 {
			t.Errorf("%s: errors %q, %d results", r.lib.name, r.errors, len(r.results))
			continue
		}
		res := r.results[0]
		if len(res.problems) > 0 {
			t.Errorf("%s: %s", r.lib.name, strings.Join(res.problems, "; "))
		}
		if res.batchOK != batches[r.lib.name] {
			t.Errorf("%s: batch enqueue supported %v, want %v", r.lib.name, res.batchOK, batches[r.lib.name])
		}
		for name, m := range map[string]measured{"single": res.single, "drain": res.drain, "steady": res.steady} {
			if m.jobs == 0 || m.perSecond() <= 0 || m.cost.Commands <= 0 || m.cost.Reads <= 0 {
				t.Errorf("%s %s: %+v", r.lib.name, name, m)
			}
		}
		if res.p50 <= 0 || res.p50 > res.p99 {
			t.Errorf("%s: steady latency p50 %v, p99 %v", r.lib.name, res.p50, res.p99)
		}
	}

	rep.command = "go test"
	var md strings.Builder
	if err := rep.writeMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	text := md.String()
	t.Logf("\n%s", text)
	for _, lib := range libraries {
		// The summary, the redis-benchmark ratios and the five workload
		// rows of the costs, and for jobqueue the ratios to the peers.
		want := 7
		if !lib.peer {
			want++
		}
		if got := strings.Count(text, "\n| "+lib.name+" |"); got != want {
			t.Errorf("%d rows for %s in the report, want %d", got, lib.name, want)
		}
	}
	if !strings.Contains(text, "Jobs lost or run twice: none") {
		t.Error("report does not say that no job was lost or run twice")
	}
}

// testLog writes the progress lines to the test log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func TestPayload(t *testing.T) {
	for _, size := range []int{1, 48, 100, 1000} {
		p := encodePayload(1234567890123456789, 42, size)
		if size >= 48 && len(p) != size {
			t.Errorf("payload of size %d has %d bytes", size, len(p))
		}
		at, i, ok := decodePayload(p)
		if !ok || at != 1234567890123456789 || i != 42 {
			t.Errorf("decodePayload(%s) = %d, %d, %v", p, at, i, ok)
		}
	}
	if _, _, ok := decodePayload([]byte(`{"x":1}`)); ok {
		t.Error("decodePayload accepted a foreign payload")
	}
}

func TestThousands(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 999.4: "999", 1000: "1,000", 1234567.8: "1,234,568", -1234: "-1,234"} {
		if got := thousands(v); got != want {
			t.Errorf("thousands(%v) = %q, want %q", v, got, want)
		}
	}
}
