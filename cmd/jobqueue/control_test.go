package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

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
	if r := c.run("", "limits", "-rate", "5"); r.code != exitUsage || !strings.Contains(r.stderr, "needs -per") {
		t.Errorf("limits -rate 5: code %d, stderr %q", r.code, r.stderr)
	}
	st, err = c.q.Stats(t.Context())
	if err != nil || st.Paused || st.Limits != (jobqueue.Limits{Concurrency: 5}) {
		t.Errorf("at the end: paused %v, limits %+v, %v", st.Paused, st.Limits, err)
	}
}

// TestKindLimits sets, shows and removes a kind's limits, which leave the
// queue's own alone and show in stats, in both forms.
func TestKindLimits(t *testing.T) {
	c := newCLI(t)
	if out := c.ok("", "limits", "-kind", "video", "-concurrency", "2"); !strings.Contains(out, "kind video limits: concurrency 2") {
		t.Errorf("limits -kind printed %q", out)
	}
	c.ok("", "limits", "-kind", "email", "-rate", "10", "-per", "1m")
	c.ok("", "limits", "-concurrency", "8")
	out := c.ok("", "limits")
	for _, want := range []string{"queue cli limits: concurrency 8", "kind email: rate 10 per 1m0s", "kind video: concurrency 2"} {
		if !strings.Contains(out, want) {
			t.Errorf("limits printed %q, want %q in it", out, want)
		}
	}
	if out := c.ok("", "stats"); !strings.Contains(out, "limits of kind video") {
		t.Errorf("stats:\n%s", out)
	}
	var got struct {
		Concurrency int `json:"concurrency_limit"`
		Kinds       map[string]struct {
			Concurrency int   `json:"concurrency_limit"`
			Rate        int   `json:"rate_limit"`
			PerMS       int64 `json:"rate_per_ms"`
		} `json:"kind_limits"`
	}
	if err := json.Unmarshal([]byte(c.ok("", "stats", "--json")), &got); err != nil {
		t.Fatal(err)
	}
	if got.Concurrency != 8 || len(got.Kinds) != 2 || got.Kinds["video"].Concurrency != 2 || got.Kinds["email"].PerMS != 60000 {
		t.Errorf("stats --json: %+v", got)
	}
	// 0 removes a kind's limit; a kind with none left is gone.
	c.ok("", "limits", "-kind", "video", "-concurrency", "0")
	if r := c.run("", "limits", "-kind", "a b", "-concurrency", "1"); r.code != exitUsage || !strings.Contains(r.stderr, "kind") {
		t.Errorf("limits -kind 'a b': code %d, stderr %q", r.code, r.stderr)
	}
	if r := c.run("", "limits", "-kind", "", "-concurrency", "1"); r.code != exitUsage {
		t.Errorf("limits -kind '': code %d, stderr %q", r.code, r.stderr)
	}
	st, err := c.q.Stats(t.Context())
	want := map[string]jobqueue.Limits{"email": {Rate: 10, Per: time.Minute}}
	if err != nil || !reflect.DeepEqual(st.KindLimits, want) || st.Limits != (jobqueue.Limits{Concurrency: 8}) {
		t.Errorf("at the end: kinds %+v, limits %+v, %v", st.KindLimits, st.Limits, err)
	}
}
