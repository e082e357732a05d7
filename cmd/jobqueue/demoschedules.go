package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/internal/webui"
	"github.com/jobqueue-go/jobqueue/jqcron"
)

// demoSchedule is one schedule the demo server runs on its queue: a demo
// job of a kind, to one recipient, at each tick of spec (UTC).
type demoSchedule struct {
	name, spec, kind, recipient string
}

// defaultDemoSchedules are what "jobqueue serve" runs unless -schedules is
// false: one that ticks often enough to watch, and a cron spec.
var defaultDemoSchedules = []demoSchedule{
	{name: "heartbeat", spec: "@every 30s", kind: "webhook", recipient: "https://status.example.com/heartbeat"},
	{name: "digest", spec: "*/5 * * * *", kind: "email", recipient: "team@example.com"},
}

// demoScheduler runs a jqcron.Scheduler with the demo's schedules on the
// server's queue, its jobs worked by the pool like the others. A Scheduler
// runs once, so restart makes a new one.
type demoScheduler struct {
	q    *jobqueue.Queue
	opts jqcron.Options
	defs []demoSchedule

	mu     sync.Mutex // serializes start, restart and stop
	closed bool
	cancel context.CancelFunc
	done   chan struct{}
}

// runSchedules starts a Scheduler with defs on the server's queue; close
// stops it. It returns an error, starting nothing, when a definition is
// refused.
func (s *server) runSchedules(defs []demoSchedule) error {
	d := &demoScheduler{q: s.q, opts: jqcron.Options{Logger: s.log}, defs: defs}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.start(); err != nil {
		return err
	}
	s.sched = d
	return nil
}

// start starts a new Scheduler; d.mu is held.
func (d *demoScheduler) start() error {
	sch, err := jqcron.NewScheduler(d.opts)
	if err != nil {
		return err
	}
	for _, def := range d.defs {
		// The same in every process, as the schedule's definition is:
		// whichever Scheduler enqueues a tick, the job is alike.
		payload := map[string]string{"kind": def.kind, "recipient": def.recipient, "schedule": def.name}
		if err := sch.Schedule(d.q, def.name, def.spec, payload, jqcron.JobOptions(jobqueue.Kind(def.kind))); err != nil {
			return fmt.Errorf("demo schedule: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = sch.Run(ctx) // it returns nil when ctx ends
	}()
	d.cancel, d.done = cancel, done
	return nil
}

// halt stops the running Scheduler and waits for it; d.mu is held.
func (d *demoScheduler) halt() {
	if d.cancel != nil {
		d.cancel()
		<-d.done
		d.cancel, d.done = nil, nil
	}
}

// around runs f with the Scheduler stopped, then runs a new one, which
// records the schedules in the store again: after a reset (Purge) deleted
// their records, the page lists them again at once rather than at their
// next tick, and no tick of the old Scheduler lands after the purge. Like
// any Scheduler that starts, the new one enqueues a tick that is still
// within its tolerance when no record says it was enqueued. On a nil d it
// just runs f.
func (d *demoScheduler) around(f func() error) error {
	if d == nil {
		return f()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.halt()
	err := f()
	if !d.closed {
		if serr := d.start(); serr != nil {
			err = errors.Join(err, serr)
		}
	}
	return err
}

// stop stops the Scheduler for good.
func (d *demoScheduler) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	d.halt()
}

// handleSchedules answers GET /api/schedules: the schedules recorded for
// the queue in its store, by whichever processes run them, as "jobqueue
// schedules --json" prints them.
func (s *server) handleSchedules(w http.ResponseWriter, r *http.Request) {
	infos, err := jqcron.Schedules(r.Context(), s.q)
	if err != nil {
		// 501 on a backend that keeps no schedules (webui.Status).
		s.writeQueueError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, webui.NewSchedules(s.q.Name(), infos))
}
