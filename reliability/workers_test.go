package reliability

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue/conformance/redistest"
)

// forEachAdapter runs a scenario once per Redis adapter, each on a private
// server started with args.
func forEachAdapter(t *testing.T, args []string, scenario func(t *testing.T, adapter string, srv *redistest.Server)) {
	for _, a := range adapters {
		t.Run(a, func(t *testing.T) {
			srv := redistest.Start(t, redistest.RequireProcess(), redistest.WithArgs(args...))
			scenario(t, a, srv)
		})
	}
}

// TestBaseline drains 100,000 jobs with 4 worker processes of 32 workers
// each and no fault: the reference the fault scenarios compare with.
func TestBaseline(t *testing.T) {
	forEachAdapter(t, nil, func(t *testing.T, adapter string, srv *redistest.Server) {
		const jobs = 100_000
		f := newFleet(t, srv.URL, childConfig{Adapter: adapter, URL: srv.URL})
		ids := f.enqueue(jobs)
		start := time.Now()
		f.spawn(4)
		f.waitDrained(jobs, 5*time.Minute)
		took := time.Since(start)
		f.stop()
		o := f.check(ids, checkOptions{})
		if o.duplicates != 0 || o.reclaimed != 0 {
			t.Errorf("without faults: %d duplicate runs, %d reclaims; want none", o.duplicates, o.reclaimed)
		}
		report(t, Row{
			Scenario: "1 baseline", Injected: "none; 4 processes × 32 workers",
			Jobs: jobs, Lost: o.lost, Duplicates: o.duplicates,
			Result: o.result(fmt.Sprintf("drained in %.1f s", took.Seconds())),
		})
	})
}

// TestWorkerSIGKILL kills a random worker process every 2 s, starting a new
// one in its place, while the queue drains: the jobs the killed processes
// held come back through the reclaimer and nothing is lost.
func TestWorkerSIGKILL(t *testing.T) {
	forEachAdapter(t, nil, func(t *testing.T, adapter string, srv *redistest.Server) {
		workerSIGKILL(t, adapter, srv, 1)
	})
}

// TestWorkerSIGKILLSharded is TestWorkerSIGKILL on a queue of 3 shards
// (package shard): a killed process's jobs are on every shard, and come
// back from each.
func TestWorkerSIGKILLSharded(t *testing.T) {
	forEachAdapter(t, nil, func(t *testing.T, adapter string, srv *redistest.Server) {
		workerSIGKILL(t, adapter, srv, 3)
	})
}

func workerSIGKILL(t *testing.T, adapter string, srv *redistest.Server, shards int) {
	const jobs = 12_000
	f := newFleet(t, srv.URL, childConfig{Adapter: adapter, URL: srv.URL, Shards: shards, Work: 100 * time.Millisecond})
	ids := f.enqueue(jobs)
	f.spawn(4)
	// Kill until nothing is left to claim, so the kills land while
	// every process is busy.
	kills := 0
	for kills < 10 {
		time.Sleep(2 * time.Second)
		if s, err := f.q.Stats(t.Context()); err != nil || s.Pending == 0 {
			break
		}
		f.killRandom()
		kills++
		f.spawn(1)
	}
	if kills < 2 {
		t.Fatalf("only %d kills before the queue ran dry; give it more work", kills)
	}
	took := f.waitDrained(jobs, f.aftermath())
	f.stop()
	o := f.check(ids, checkOptions{})
	report(t, Row{
		Scenario: scenarioName("2 worker SIGKILL", shards), Injected: fmt.Sprintf("SIGKILL a random worker process every 2 s (%d kills), a new one started", kills),
		Jobs: jobs, Lost: o.lost, Duplicates: o.duplicates,
		Result: o.result(fmt.Sprintf("drained %.1f s after the kills ended", took.Seconds())),
	})
}

// TestWorkerSIGSTOP freezes a worker process past its lease, so its jobs
// are reclaimed by another process, then lets it go on while the other
// still runs them: every completion it then sends for the jobs it held is
// refused. The frozen process completes its jobs itself, without a Worker,
// because a Worker would learn of the lost leases from its next heartbeat
// and not send them at all: this way the token check in the backend is what
// is tested.
func TestWorkerSIGSTOP(t *testing.T) {
	forEachAdapter(t, nil, func(t *testing.T, adapter string, srv *redistest.Server) {
		const jobs = 32
		// The victim's handlers end while it is frozen, so it sends
		// their completions as soon as it wakes; the jobs' new owner
		// claims them about a second into the freeze and is still
		// running them then.
		vis, freeze := time.Second, 3*time.Second
		f := newFleet(t, srv.URL, childConfig{Adapter: adapter, URL: srv.URL, Concurrency: jobs, Lease: vis, Reclaim: vis / 2, Work: 3 * time.Second})
		ids := f.enqueue(jobs)
		victim := f.spawnManual()
		for deadline := time.Now().Add(10 * time.Second); ; {
			if len(f.records().runs) == jobs {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the victim did not start every job within 10 s")
			}
			time.Sleep(10 * time.Millisecond)
		}
		frozen := time.Now()
		victim.signal(syscall.SIGSTOP)
		f.spawn(1)
		time.Sleep(freeze)
		resumed := time.Now()
		victim.signal(syscall.SIGCONT)
		took := f.waitDrained(jobs, f.aftermath())
		f.stop()
		o := f.check(ids, checkOptions{})
		late, accepted := 0, 0
		for _, a := range f.records().acks {
			if a.kid != victim.n || !a.started.Before(frozen) || a.sent.Before(resumed) {
				continue
			}
			late++
			if a.said != "refused" {
				accepted++
				t.Errorf("job %s: a completion sent after SIGCONT for a lease lost while frozen got %q, want refused", a.id, a.said)
			}
		}
		if late != jobs {
			t.Errorf("the frozen worker sent %d completions after it woke up, want %d", late, jobs)
		}
		if o.reclaimed < jobs {
			t.Errorf("%d leases reclaimed while a worker was frozen, want %d", o.reclaimed, jobs)
		}
		report(t, Row{
			Scenario: "3 worker SIGSTOP", Injected: fmt.Sprintf("SIGSTOP a process holding every job for %v (lease %v), SIGCONT while another runs them", freeze, vis),
			Jobs: jobs, Lost: o.lost, Duplicates: o.duplicates,
			Result: o.result(fmt.Sprintf("%d late completions refused, %d accepted", late-accepted, accepted), fmt.Sprintf("drained %.1f s after SIGCONT", took.Seconds())),
		})
	})
}

// TestLongHandlers runs handlers five times longer than the lease: the
// heartbeat keeps every lease, so nothing is reclaimed and nothing runs
// twice.
func TestLongHandlers(t *testing.T) {
	forEachAdapter(t, nil, func(t *testing.T, adapter string, srv *redistest.Server) {
		const jobs = 64
		vis := time.Second
		f := newFleet(t, srv.URL, childConfig{Adapter: adapter, URL: srv.URL, Lease: vis, Reclaim: 200 * time.Millisecond, Work: 5 * vis})
		ids := f.enqueue(jobs)
		f.spawn(2)
		f.waitDrained(jobs, time.Minute)
		f.stop()
		o := f.check(ids, checkOptions{})
		if o.reclaimed != 0 || o.duplicates != 0 {
			t.Errorf("%d reclaims and %d duplicate runs of heartbeating jobs; want none", o.reclaimed, o.duplicates)
		}
		report(t, Row{
			Scenario: "4 long handlers", Injected: fmt.Sprintf("handlers of %v, 5× the %v lease, heartbeating", 5*vis, vis),
			Jobs: jobs, Lost: o.lost, Duplicates: o.duplicates, Result: o.result(),
		})
	})
}
