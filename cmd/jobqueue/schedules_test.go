package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/internal/webui"
	"github.com/jobqueue-go/jobqueue/jqcron"
)

func TestCLISchedules(t *testing.T) {
	c := newCLI(t)
	if out := c.ok("", "schedules"); !strings.Contains(out, `no schedule recorded for queue "cli"`) {
		t.Errorf("schedules of an unscheduled queue: %q", out)
	}
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	s, err := jqcron.NewScheduler(jqcron.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Schedule(c.q, "report", "30 2 * * *", nil, jqcron.In(paris), jqcron.OnMissed(jqcron.RunOnceMissed)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		infos, err := jqcron.Schedules(ctx, c.q)
		if err == nil && len(infos) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the running Scheduler recorded no schedule: %v, %v", infos, err)
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	out := c.ok("", "schedules")
	if !strings.Contains(out, "NAME") || !strings.Contains(out, "report") || !strings.Contains(out, "30 2 * * *") ||
		!strings.Contains(out, "Europe/Paris") || !strings.Contains(out, "run-once") || !strings.Contains(out, "never") {
		t.Errorf("schedules table:\n%s", out)
	}

	// The tick a Scheduler enqueued, as it records it.
	tick := time.Date(2026, 3, 1, 1, 30, 0, 0, time.UTC)
	keeper := c.q.Backend().(backend.ScheduleKeeper)
	def := `{"spec":"30 2 * * *","tz":"Europe/Paris","missed":"run-once"}`
	if err := keeper.MarkSchedule(context.Background(), backend.MarkScheduleParams{Queue: "cli", Name: "report", Definition: def, Tick: tick}); err != nil {
		t.Fatal(err)
	}
	if err := keeper.MarkSchedule(context.Background(), backend.MarkScheduleParams{Queue: "cli", Name: "zz-future", Definition: `{"spec":"@weird"}`}); err != nil {
		t.Fatal(err)
	}
	rows := schedulesOf(t, c.ok("", "schedules", "--json"))
	if len(rows) != 2 {
		t.Fatalf("schedules --json: %v", rows)
	}
	r := rows[0]
	if r.Name != "report" || r.Spec != "30 2 * * *" || r.Location != "Europe/Paris" || r.Missed != "run-once" ||
		r.LastTick == nil || !r.LastTick.Equal(tick) || len(r.Next) != 3 || r.Error != "" {
		t.Errorf("schedules --json row: %+v", r)
	}
	for _, next := range r.Next {
		if h, m, _ := next.In(paris).Clock(); h != 2 || m != 30 || !next.After(time.Now()) {
			t.Errorf("next tick %v: want a coming 02:30 in Paris", next)
		}
	}
	if rows[1].Name != "zz-future" || rows[1].Error == "" {
		t.Errorf("a record this version cannot read: %+v", rows[1])
	}
	if out := c.ok("", "schedules"); !strings.Contains(out, "2026-03-01 02:30") || !strings.Contains(out, "unreadable") {
		t.Errorf("schedules table with a last tick:\n%s", out)
	}
	// The running Scheduler was seen as it started, moments ago.
	if r.Seen == nil || time.Since(*r.Seen) > time.Minute || r.Abandoned {
		t.Errorf("the report's seen time %v, abandoned %v: want moments ago, not abandoned", r.Seen, r.Abandoned)
	}

	// A schedule whose Scheduler was last seen in 2020.
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := keeper.MarkSchedule(context.Background(), backend.MarkScheduleParams{Queue: "cli", Name: "old", Definition: `{"spec":"@every 1m","tz":"UTC","missed":"skip"}`, Tick: old, Seen: old}); err != nil {
		t.Fatal(err)
	}
	if out := c.ok("", "schedules"); !strings.Contains(out, "SEEN") || !regexp.MustCompile(`(?m)^old .* abandoned$`).MatchString(out) {
		t.Errorf("schedules table with an abandoned schedule:\n%s", out)
	}
	if rows = schedulesOf(t, c.ok("", "schedules", "--json")); len(rows) != 3 || rows[0].Name != "old" || !rows[0].Abandoned {
		t.Fatalf("schedules --json with an abandoned schedule: %+v", rows)
	}

	res := c.run("", "schedules", "-rm", "old")
	if res.code != exitOK || !strings.Contains(res.stdout, `removed schedule "old" of queue "cli"`) || strings.Contains(res.stderr, "abandoned") {
		t.Errorf("schedules -rm of an abandoned schedule: %+v", res)
	}
	res = c.run("", "schedules", "-rm", "report")
	if res.code != exitOK || !strings.Contains(res.stderr, "does not look abandoned") {
		t.Errorf("schedules -rm of a schedule seen moments ago: %+v", res)
	}
	res = c.run("", "schedules", "-rm", "old")
	if res.code != exitError || !strings.Contains(res.stderr, `no schedule "old" recorded for queue "cli"`) {
		t.Errorf("schedules -rm of a schedule not recorded: %+v", res)
	}
	if rows = schedulesOf(t, c.ok("", "schedules", "--json")); len(rows) != 1 || rows[0].Name != "zz-future" {
		t.Errorf("schedules after two removals: %+v", rows)
	}
}

// schedulesOf decodes what "jobqueue schedules --json" printed.
func schedulesOf(t *testing.T, out string) []webui.ScheduleRow {
	t.Helper()
	var list webui.Schedules
	if err := json.Unmarshal([]byte(out), &list); err != nil || list.Queue != "cli" {
		t.Fatalf("schedules --json: %+v, %v\n%s", list, err, out)
	}
	return list.Schedules
}
