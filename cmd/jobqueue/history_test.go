package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue/internal/webui"
)

func TestCLIHistory(t *testing.T) {
	c := newCLI(t)
	if out := c.ok("", "history"); !strings.Contains(out, `nothing happened in queue "cli" in the last 60 minutes`) {
		t.Errorf("history of an unused queue: %q", out)
	}
	ctx := context.Background()
	deadJob(t, c.q, `{"n":1}`)
	if _, err := c.q.Enqueue(ctx, 2); err != nil {
		t.Fatal(err)
	}
	jobs, err := c.q.Claim(ctx, 1, 0)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %v %v", jobs, err)
	}
	if err := jobs[0].Complete(ctx, nil); err != nil {
		t.Fatal(err)
	}

	var h webui.History
	if err := json.Unmarshal([]byte(c.ok("", "history", "--json", "-minutes", "5")), &h); err != nil || len(h.Points) != 5 || h.Queue != "cli" || h.Minutes != 5 {
		t.Fatalf("history --json -minutes 5: %+v, %v", h, err)
	}
	points := h.Points
	var sum webui.HistoryPoint
	for i, p := range points {
		if i > 0 && p.Minute.Sub(points[i-1].Minute) != time.Minute {
			t.Errorf("points %d and %d: %v, %v; want one minute apart, oldest first", i-1, i, points[i-1].Minute, p.Minute)
		}
		sum.Enqueued += p.Enqueued
		sum.Completed += p.Completed
		sum.Failed += p.Failed
		sum.Dead += p.Dead
	}
	if want := (webui.HistoryPoint{Enqueued: 2, Completed: 1, Failed: 1, Dead: 1}); sum != want {
		t.Errorf("history --json adds up to %+v, want %+v", sum, want)
	}

	// The table lists the minutes with activity only: one, or two when a
	// minute ended between the calls.
	out := c.ok("", "history")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.Contains(lines[0], "MINUTE") || !strings.Contains(lines[0], "COMPLETED") || len(lines) < 2 || len(lines) > 3 {
		t.Errorf("history table:\n%s", out)
	}
	if len(lines) == 2 && !strings.HasSuffix(strings.Join(strings.Fields(lines[1])[2:], " "), "2 1 1 0 1 0") {
		t.Errorf("history table row %q: want 2 enqueued, 1 completed, 1 failed, 0 retried, 1 dead, 0 reclaimed", lines[1])
	}

	for _, bad := range []string{"0", "1441", "x"} {
		if r := c.run("", "history", "-minutes", bad); r.code != exitUsage || r.stderr == "" {
			t.Errorf("history -minutes %s: exit %d, stderr %q", bad, r.code, r.stderr)
		}
	}
}
