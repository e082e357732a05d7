package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/jobqueue-go/jobqueue"
)

func TestCLICancel(t *testing.T) {
	c := newCLI(t)
	a := strings.TrimSpace(c.ok("", "enqueue", `"a"`))
	b := strings.TrimSpace(c.ok("", "enqueue", "-delay", "1h", `"b"`))
	if out := c.ok("", "cancel", a, b); !strings.Contains(out, "cancelled 2 jobs") {
		t.Errorf("cancel: %q", out)
	}
	for _, id := range []string{a, b} {
		if info, err := c.q.Get(context.Background(), id); err != nil || info.State != jobqueue.StateCancelled {
			t.Errorf("cancelled job %s: %+v %v", id, info, err)
		}
	}
	if out := c.ok("", "list", "cancelled"); !strings.Contains(out, a) || !strings.Contains(out, b) || !strings.Contains(out, "FINISHED") {
		t.Errorf("list cancelled:\n%s", out)
	}
	out := c.ok("", "stats")
	for _, want := range []string{"cancelled   2", "cancelled  2"} {
		if !strings.Contains(out, want) {
			t.Errorf("stats table lacks %q:\n%s", want, out)
		}
	}
	var st queueStats
	if err := json.Unmarshal([]byte(c.ok("", "stats", "--json")), &st); err != nil || st.CancelledDepth != 2 || st.CancelledTotal != 2 {
		t.Errorf("stats --json: %+v %v", st, err)
	}
	r := c.run("", "cancel", a, "no-such-job", "--json")
	var rep struct{ Cancelled, Failed []string }
	if err := json.Unmarshal([]byte(r.stdout), &rep); r.code != exitError || err != nil ||
		len(rep.Cancelled) != 1 || len(rep.Failed) != 1 || !strings.Contains(r.stderr, "not found") {
		t.Errorf("cancel of a cancelled job and an unknown one: %+v %+v %v", r, rep, err)
	}
	if r := c.run("", "cancel"); r.code != exitUsage {
		t.Errorf("cancel without ids: %+v", r)
	}
}
