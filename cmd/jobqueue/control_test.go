package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/jobqueue-go/jobqueue"
)

// TestPauseResumeLimits drives pause, resume and limits, and reads them
// back from stats, in both forms.
func TestPauseResumeLimits(t *testing.T) {
	c := newCLI(t)
	if out := c.ok("", "pause"); !strings.Contains(out, "queue cli is paused") {
		t.Errorf("pause printed %q", out)
	}
	st, err := c.q.Stats(t.Context())
	if err != nil || !st.Paused {
		t.Fatalf("after pause: paused %v, %v", st.Paused, err)
	}
	if out := c.ok("", "stats"); !strings.Contains(out, "paused") {
		t.Errorf("stats of a paused queue:\n%s", out)
	}
	if out := c.ok("", "limits", "-concurrency", "5", "-rate", "200", "-per", "1s"); !strings.Contains(out, "concurrency 5, rate 200 per 1s") {
		t.Errorf("limits printed %q", out)
	}
	// Only the limits named change; 0 removes one.
	c.ok("", "limits", "-rate", "0")
	var got struct {
		Paused      bool  `json:"paused"`
		Concurrency int   `json:"concurrency_limit"`
		Rate        int   `json:"rate_limit"`
		PerMS       int64 `json:"rate_per_ms"`
	}
	if err := json.Unmarshal([]byte(c.ok("", "stats", "--json")), &got); err != nil {
		t.Fatal(err)
	}
	if !got.Paused || got.Concurrency != 5 || got.Rate != 0 || got.PerMS != 0 {
		t.Errorf("stats --json after limits -rate 0: %+v", got)
	}
	if out := c.ok("", "resume"); !strings.Contains(out, "queue cli is running") {
		t.Errorf("resume printed %q", out)
	}
	// A rate without its period is refused and changes nothing.
	if r := c.run("", "limits", "-rate", "5"); r.code != exitError || !strings.Contains(r.stderr, "rate period") {
		t.Errorf("limits -rate 5: code %d, stderr %q", r.code, r.stderr)
	}
	st, err = c.q.Stats(t.Context())
	if err != nil || st.Paused || st.Limits != (jobqueue.Limits{Concurrency: 5}) {
		t.Errorf("at the end: paused %v, limits %+v, %v", st.Paused, st.Limits, err)
	}
}
