package reliability

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
)

// outageLog is the Worker's log message for a backend outage. Errors that
// wrap ErrUnavailable start with "jobqueue: backend unavailable" too, so
// the message is matched whole.
const outageLog = "jobqueue: backend unavailable, retrying with backoff"

// TestRedisKillAOF kills Redis with SIGKILL in the middle of a drain while
// a producer keeps enqueueing, and restarts it from its append-only file.
// With appendfsync always nothing acknowledged may be lost; with everysec
// the loss is counted, reported, and must be among the last writes before
// the kill.
func TestRedisKillAOF(t *testing.T) {
	for _, fsync := range []string{"always", "everysec"} {
		t.Run(fsync, func(t *testing.T) {
			forEachAdapter(t, []string{"--appendonly", "yes", "--appendfsync", fsync}, func(t *testing.T, adapter string, srv *redistest.Server) {
				redisKillAOF(t, adapter, srv, fsync, 1)
			})
		})
	}
}

// TestRedisKillAOFSharded is TestRedisKillAOF with appendfsync always on
// a queue of 3 shards (package shard): the outage hits every shard's
// claims and enqueues at once, and no acknowledged job may be lost.
func TestRedisKillAOFSharded(t *testing.T) {
	forEachAdapter(t, []string{"--appendonly", "yes", "--appendfsync", "always"}, func(t *testing.T, adapter string, srv *redistest.Server) {
		redisKillAOF(t, adapter, srv, "always", 3)
	})
}

func redisKillAOF(t *testing.T, adapter string, srv *redistest.Server, fsync string, shards int) {
	f := newFleet(t, srv.URL, childConfig{Adapter: adapter, URL: srv.URL, Shards: shards, Work: 2 * time.Millisecond})
	ids := f.enqueue(5_000)
	ctx, stopProducing := context.WithCancel(t.Context())
	p := f.produce(ctx, "live", 2000)
	f.spawn(2)
	time.Sleep(1500 * time.Millisecond)
	srv.Kill(t)
	killed := time.Now()
	time.Sleep(2 * time.Second)
	srv.Restart(t)
	time.Sleep(time.Second)
	stopProducing()
	ids = append(ids, p.stop()...)
	f.waitDrained(0, f.aftermath())
	f.stop()

	o := f.check(ids, checkOptions{mayLose: fsync != "always"})
	var oldest time.Duration
	for _, id := range o.lostIDs {
		at := p.ackedAt(id)
		if at.IsZero() {
			t.Errorf("job %s, enqueued before the drain started, was lost", id)
			continue
		}
		oldest = max(oldest, killed.Sub(at))
	}
	// everysec fsyncs once a second from a background thread
	// and, while a slow fsync is still running, postpones the
	// next write by up to another second: what can be lost is
	// at most the last 2 s of writes.
	if oldest > 2*time.Second {
		t.Errorf("a job acknowledged %v before the kill was lost; everysec loses at most the last 2 s", oldest)
	}
	// The Queue repeats a call that failed with ErrUnavailable
	// (WithRetries): an outage shorter than its repeats is
	// waited out, a longer one is an error. go-redis dials
	// for about 1.7 s before it fails a call, so with it a
	// 2 s outage is waited out; rueidis fails at once.
	if p.errs == 0 && p.slowest < time.Second {
		t.Error("the producer neither saw an error nor waited while Redis was down")
	}
	if p.errs > 0 && !errors.Is(p.sample, jobqueue.ErrUnavailable) {
		t.Errorf("the producer's error while Redis was down, %v, does not wrap ErrUnavailable", p.sample)
	}
	// The workers' claims are repeated the same way, but each
	// call's repeats run from its own start: a 2 s outage is
	// about as long as one call's repeats, so one enqueue that
	// began just before the kill may run out of them while
	// the claims, begun a little later, wait the outage out
	// (seen under CI load: 1 enqueue error, no worker log).
	// Two errors mean the outage outlasted the repeats of
	// calls made one after the other, which the claims cannot
	// wait out. (Scenario 6's outage is longer: there every
	// worker must log it.)
	if p.errs > 1 && f.logged(outageLog) == 0 {
		t.Errorf("the producer saw the outage in %d calls, but no worker process logged it", p.errs)
	}
	extra := fmt.Sprintf("%d enqueue errors while down, longest enqueue %.1f s", p.errs, p.slowest.Seconds())
	if o.lost > 0 {
		extra += fmt.Sprintf(", lost jobs acknowledged ≤ %.2f s before the kill", oldest.Seconds())
	}
	report(t, Row{
		Scenario: scenarioName("5 Redis SIGKILL, appendfsync "+fsync, shards),
		Injected: "SIGKILL Redis mid-drain with a producer running, down 2 s, restart from the AOF",
		Jobs:     len(ids), Lost: o.lost, Duplicates: o.duplicates,
		Result: o.result(extra),
	})
}

// TestRedisRestartEmpty restarts Redis without persistence, so every job
// is gone: the producer and the workers must see errors while it is down,
// and once it is back the workers must take new jobs within 5 s.
func TestRedisRestartEmpty(t *testing.T) {
	forEachAdapter(t, nil, func(t *testing.T, adapter string, srv *redistest.Server) {
		f := newFleet(t, srv.URL, childConfig{Adapter: adapter, URL: srv.URL, Work: 2 * time.Millisecond})
		before := f.enqueue(5_000)
		f.spawn(2)
		time.Sleep(500 * time.Millisecond)
		srv.Kill(t)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		_, err := f.q.Enqueue(ctx, map[string]int{"n": -1})
		cancel()
		if err == nil {
			t.Error("an enqueue while Redis was down reported success")
		}
		time.Sleep(2 * time.Second)
		srv.Restart(t)
		restarted := time.Now()
		after := f.enqueue(500)
		f.waitDrained(len(after), time.Until(restarted.Add(5*time.Second)))
		resumed := time.Since(restarted)
		f.stop()
		o := f.check(after, checkOptions{})
		if f.logged(outageLog) == 0 {
			t.Error("no worker process logged the outage")
		}
		report(t, Row{
			Scenario: "6 Redis restart, no persistence",
			Injected: fmt.Sprintf("SIGKILL Redis mid-drain of %d jobs, down 2 s, restart empty; then %d new jobs", len(before), len(after)),
			Jobs:     len(after), Lost: o.lost, Duplicates: o.duplicates,
			Result: o.result(fmt.Sprintf("enqueue error surfaced (%v); new jobs done %.1f s after the restart", err, resumed.Seconds())),
		})
	})
}
