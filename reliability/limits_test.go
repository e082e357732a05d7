package reliability

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
)

// run is one handler run, as a worker process recorded it.
type run struct {
	kid     int
	id      string
	attempt int
	// start and stop are the handler's start and return on the local
	// clock; stop is zero when the process died first.
	start, stop time.Time
	// leaseUntil is the end of the claim's lease as the claim set it, on
	// the store's clock (whole milliseconds); a heartbeat only moves it
	// later, and a reclaim takes the job back no sooner.
	leaseUntil time.Time
}

// runs reads every handler run the worker processes recorded.
func (f *fleet) runs() []run {
	f.t.Helper()
	f.mu.Lock()
	kids := f.kids
	f.mu.Unlock()
	var all []run
	for _, k := range kids {
		file, err := os.Open(k.records)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			f.t.Fatal(err)
		}
		open := map[string]int{} // "id attempt" -> index in all
		sc := bufio.NewScanner(file)
		for sc.Scan() {
			kind, rest, _ := strings.Cut(sc.Text(), " ")
			switch kind {
			case "run":
				r := run{kid: k.n}
				var start, until int64
				if _, err := fmt.Sscan(rest, &r.id, &r.attempt, &start, &until); err != nil {
					f.t.Fatalf("%s: %q: %v", k.records, rest, err)
				}
				r.start, r.leaseUntil = time.Unix(0, start), time.UnixMilli(until)
				open[fmt.Sprint(r.id, " ", r.attempt)] = len(all)
				all = append(all, r)
			case "stop":
				var id string
				var attempt int
				var stop int64
				if _, err := fmt.Sscan(rest, &id, &attempt, &stop); err != nil {
					f.t.Fatalf("%s: %q: %v", k.records, rest, err)
				}
				key := fmt.Sprint(id, " ", attempt)
				i, ok := open[key]
				if !ok {
					f.t.Fatalf("%s: stop of %s without its start", k.records, key)
				}
				all[i].stop = time.Unix(0, stop)
				delete(open, key)
			}
		}
		file.Close()
		if err := sc.Err(); err != nil {
			f.t.Fatal(err)
		}
	}
	return all
}

// maxOverlap is the most intervals [from, to) that hold one instant.
func maxOverlap(spans [][2]time.Time) int {
	type edge struct {
		at time.Time
		d  int
	}
	edges := make([]edge, 0, 2*len(spans))
	for _, s := range spans {
		if s[1].After(s[0]) {
			edges = append(edges, edge{s[0], +1}, edge{s[1], -1})
		}
	}
	// An end sorts before a start at the same instant: the intervals are
	// half-open.
	slices.SortFunc(edges, func(a, b edge) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.d - b.d
	})
	n, most := 0, 0
	for _, e := range edges {
		n += e.d
		most = max(most, n)
	}
	return most
}

// maxInWindow is the most of the sorted instants ts within any window
// [t, t+w).
func maxInWindow(ts []time.Time, w time.Duration) int {
	most, j := 0, 0
	for i := range ts {
		for j < len(ts) && ts[j].Sub(ts[i]) < w {
			j++
		}
		most = max(most, j-i)
	}
	return most
}

// sampler reads Stats.Processing until stopped, keeping the largest.
type sampler struct {
	stop    context.CancelFunc
	done    chan struct{}
	samples int
	most    int64
}

func (f *fleet) sampleProcessing() *sampler {
	ctx, stop := context.WithCancel(context.Background())
	s := &sampler{stop: stop, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for ctx.Err() == nil {
			if st, err := f.q.Stats(ctx); err == nil {
				s.samples++
				s.most = max(s.most, st.Processing)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return s
}

func (s *sampler) end() (samples int, most int64) {
	s.stop()
	<-s.done
	return s.samples, s.most
}

// killWhilePending SIGKILLs a worker process, the one kill picks, every
// 2 s and starts a new one in its place, until nothing is pending or after
// 10 kills. It returns when each killed process died, by its number.
// Fewer than 2 kills fail the test: the scenario needs more work.
func (f *fleet) killWhilePending(kill func() *kid) map[int]time.Time {
	f.t.Helper()
	killedAt := map[int]time.Time{}
	for len(killedAt) < 10 {
		time.Sleep(2 * time.Second)
		if st, err := f.q.Stats(f.t.Context()); err != nil || st.Pending == 0 {
			break
		}
		k := kill()
		killedAt[k.n] = time.Now()
		f.spawn(1)
	}
	if len(killedAt) < 2 {
		f.t.Fatalf("only %d kills before the queue ran dry; give it more work", len(killedAt))
	}
	return killedAt
}

// killRunning SIGKILLs a worker process that, by its records, is running
// the handler of a job in ids, or a random one when none is, and waits
// until it is gone. A handler may return between the look and the kill,
// so the records, read afterwards, tell what the kill landed on.
func (f *fleet) killRunning(ids map[string]bool) *kid {
	f.t.Helper()
	busy := map[int]bool{}
	for _, r := range f.runs() {
		if r.stop.IsZero() && ids[r.id] {
			busy[r.kid] = true
		}
	}
	var ks []*kid
	for _, k := range f.alive() {
		if busy[k.n] {
			ks = append(ks, k)
		}
	}
	if len(ks) == 0 {
		return f.killRandom()
	}
	return f.kill(ks[rand.N(len(ks))])
}

// slotUse is what the handlers' records show of a concurrency limit.
type slotUse struct {
	// mostRunning is the most handlers running at once, a killed
	// process's handlers ending at its death; mostHeld the most running
	// or killed within their lease.
	mostRunning, mostHeld int
	// killedMidRun counts the handlers whose process died under them;
	// cut those that outlived their claim's lease.
	killedMidRun, cut int
}

// checkSlots checks a concurrency limit from the handlers' records: of
// runs, some or all of a fleet's, whose killed processes died at killedAt,
// at most limit handlers ran at once, at most limit ran or were killed
// within their lease, and some kill landed while a handler ran. what names
// the handlers in the errors.
func (f *fleet) checkSlots(runs []run, killedAt map[int]time.Time, limit int, what string) slotUse {
	f.t.Helper()
	// running: each handler from its start until it returned or its
	// process died; held adds to it, for a killed handler, the rest of
	// its lease: its slot is not free before a reclaim takes it back.
	// Both end at the claim's lease: a handler that outlived it (none
	// should, at 50 ms against a 2 s lease) may have lost its slot.
	var running, held [][2]time.Time
	var u slotUse
	for _, r := range runs {
		end, dead := r.stop, false
		if end.IsZero() {
			k, ok := killedAt[r.kid]
			if !ok {
				f.t.Errorf("job %s attempt %d: the handler never returned in process %d, which was not killed", r.id, r.attempt, r.kid)
				continue
			}
			end, dead = k, true
			u.killedMidRun++
		}
		if end.After(r.leaseUntil) {
			end = r.leaseUntil
			u.cut++
		}
		running = append(running, [2]time.Time{r.start, end})
		if dead {
			end = r.leaseUntil
		}
		held = append(held, [2]time.Time{r.start, end})
	}
	u.mostRunning, u.mostHeld = maxOverlap(running), maxOverlap(held)
	if u.mostRunning > limit {
		f.t.Errorf("%d %s ran at once, above the limit of %d", u.mostRunning, what, limit)
	}
	if u.mostHeld > limit {
		f.t.Errorf("%d %s running or killed within their lease at once, above the limit of %d", u.mostHeld, what, limit)
	}
	if u.killedMidRun == 0 {
		f.t.Errorf("no kill landed while one of the %s ran", what)
	}
	return u
}

// TestLimitsConcurrencySIGKILL holds a queue to Limits{Concurrency: 5}
// while worker processes of 16 handlers each are SIGKILLed and replaced
// every 2 s. A killed process's jobs keep their slots until their leases
// run out and a reclaim takes them back, so the limit the store keeps is
// exact: the jobs in processing (sampled from Stats) never exceed 5, and,
// from the handlers' own records, the handlers running plus the killed
// handlers whose leases have not yet run out never exceed 5 either.
func TestLimitsConcurrencySIGKILL(t *testing.T) {
	forEachAdapter(t, nil, func(t *testing.T, adapter string, srv *redistest.Server) {
		const jobs, limit = 600, 5
		f := newFleet(t, srv.URL, childConfig{Adapter: adapter, URL: srv.URL, Concurrency: 16, Work: 50 * time.Millisecond})
		if err := f.q.SetLimits(t.Context(), jobqueue.Limits{Concurrency: limit}); err != nil {
			t.Fatal(err)
		}
		ids := f.enqueue(jobs)
		s := f.sampleProcessing()
		f.spawn(3)
		killedAt := f.killWhilePending(f.killRandom)
		kills := len(killedAt)
		took := f.waitDrained(jobs, f.aftermath())
		samples, mostProcessing := s.end()
		f.stop()
		o := f.check(ids, checkOptions{})

		if samples == 0 {
			t.Fatal("no Stats sample")
		}
		if mostProcessing > limit {
			t.Errorf("Stats.Processing reached %d, above the limit of %d", mostProcessing, limit)
		}
		u := f.checkSlots(f.runs(), killedAt, limit, "handlers")
		t.Logf("%d kills (%d handlers killed mid-run), %d handlers cut at their lease; most at once: %d running, %d running or held, Stats.Processing %d over %d samples",
			kills, u.killedMidRun, u.cut, u.mostRunning, u.mostHeld, mostProcessing, samples)
		report(t, Row{
			Scenario: "16 concurrency limit, worker SIGKILL",
			Injected: fmt.Sprintf("`Limits{Concurrency: %d}`, 3 processes × 16 handlers of 50 ms; SIGKILL one every 2 s (%d kills, %d handlers killed mid-run), a new one started", limit, kills, u.killedMidRun),
			Jobs:     jobs, Lost: o.lost, Duplicates: o.duplicates,
			Result: o.result(fmt.Sprintf("most at once: %d handlers running, %d running or killed within their lease, Stats.Processing %d (%d samples)", u.mostRunning, u.mostHeld, mostProcessing, samples),
				fmt.Sprintf("drained %.1f s after the kills ended", took.Seconds())),
		})
	})
}

// TestLimitsKindConcurrencySIGKILL limits one kind of a queue's jobs to
// Limits{Concurrency: 3} (SetKindLimits): 300 jobs of kind "limited" are
// enqueued first, then 300 of kind "free", and worker processes of 16
// handlers each are SIGKILLed and replaced every 2 s, each time one that
// is running a "limited" handler when one is. From the handlers' own
// records, as in TestLimitsConcurrencySIGKILL: the "limited" handlers
// running, plus the killed ones whose leases have not yet run out, never
// exceed 3. And the "free" jobs are not held up behind the limited
// backlog: claims pass the limited jobs by, so the last free job finishes
// before the last limited job starts.
func TestLimitsKindConcurrencySIGKILL(t *testing.T) {
	forEachAdapter(t, nil, func(t *testing.T, adapter string, srv *redistest.Server) {
		const perKind, limit = 300, 3
		f := newFleet(t, srv.URL, childConfig{Adapter: adapter, URL: srv.URL, Concurrency: 16, Work: 50 * time.Millisecond})
		if err := f.q.SetKindLimits(t.Context(), "limited", jobqueue.Limits{Concurrency: limit}); err != nil {
			t.Fatal(err)
		}
		limitedIDs := f.enqueue(perKind, jobqueue.Kind("limited"))
		freeIDs := f.enqueue(perKind, jobqueue.Kind("free"))
		limited := make(map[string]bool, perKind)
		for _, id := range limitedIDs {
			limited[id] = true
		}
		f.spawn(3)
		killedAt := f.killWhilePending(func() *kid { return f.killRunning(limited) })
		kills := len(killedAt)
		took := f.waitDrained(2*perKind, f.aftermath())
		f.stop()
		o := f.check(append(slices.Clone(limitedIDs), freeIDs...), checkOptions{})

		// first is the first handler's start; lastFree the last return of
		// a free handler (a killed one's job ran again and returned
		// later); lastLimited the last start of a limited handler.
		var limitedRuns []run
		var first, lastFree, lastLimited time.Time
		for _, r := range f.runs() {
			if first.IsZero() || r.start.Before(first) {
				first = r.start
			}
			switch {
			case limited[r.id]:
				limitedRuns = append(limitedRuns, r)
				if r.start.After(lastLimited) {
					lastLimited = r.start
				}
			case r.stop.After(lastFree):
				lastFree = r.stop
			}
		}
		u := f.checkSlots(limitedRuns, killedAt, limit, `"limited" handlers`)
		if lastFree.IsZero() || lastLimited.IsZero() {
			t.Fatalf("no free handler returned (%v) or no limited handler started (%v)", lastFree, lastLimited)
		}
		if !lastFree.Before(lastLimited) {
			t.Errorf("the last free job finished %v after the last limited job started: the free jobs were held up behind the limited ones", lastFree.Sub(lastLimited))
		}
		// The limited jobs whose first run started after the free jobs
		// were all done: the backlog the free jobs were claimed past.
		startedLater := map[string]bool{}
		for _, r := range limitedRuns {
			if r.attempt == 1 && r.start.After(lastFree) {
				startedLater[r.id] = true
			}
		}
		since := func(at time.Time) float64 { return at.Sub(first).Seconds() }
		t.Logf("%d kills (%d limited handlers killed mid-run), %d cut at their lease; most limited at once: %d running, %d running or held; the last free job finished %.2f s after the first start, the last limited job started at %.2f s; %d of %d limited jobs first started after the last free one finished",
			kills, u.killedMidRun, u.cut, u.mostRunning, u.mostHeld, since(lastFree), since(lastLimited), len(startedLater), perKind)
		report(t, Row{
			Scenario: "19 kind concurrency limit, worker SIGKILL",
			Injected: fmt.Sprintf("`SetKindLimits(ctx, \"limited\", Limits{Concurrency: %d})`; %d jobs of kind \"limited\" enqueued, then %d of kind \"free\"; 3 processes × 16 handlers of 50 ms; SIGKILL one running a limited handler every 2 s (%d kills, %d limited handlers killed mid-run), a new one started", limit, perKind, perKind, kills, u.killedMidRun),
			Jobs:     2 * perKind, Lost: o.lost, Duplicates: o.duplicates,
			Result: o.result(fmt.Sprintf("most limited handlers at once: %d running, %d running or killed within their lease", u.mostRunning, u.mostHeld),
				fmt.Sprintf("the last free job finished %.1f s after the first handler started, the last limited one started at %.1f s (%d of %d limited jobs started after every free job was done)", since(lastFree), since(lastLimited), len(startedLater), perKind),
				fmt.Sprintf("drained %.1f s after the kills ended", took.Seconds())),
		})
	})
}

// TestLimitsRate drains a backlog through Limits{Rate: 200, Per: time.Second}
// with 4 worker processes of 8 handlers, 32 in all. On the store's clock
// the limit is exact: the claims (read from each claim's lease end, less
// the lease) within any second never exceed 200. The handlers' starts,
// on the local clock, lag their claims by a little that varies, so a
// second of starts may also hold jobs claimed just before it; each of
// those holds a handler until it starts, so they are at most 32, every
// handler of every process: one claim of the whole fleet.
func TestLimitsRate(t *testing.T) {
	forEachAdapter(t, nil, func(t *testing.T, adapter string, srv *redistest.Server) {
		const jobs, rate, procs, handlers = 1000, 200, 4, 8
		const batch = procs * handlers
		f := newFleet(t, srv.URL, childConfig{Adapter: adapter, URL: srv.URL, Concurrency: handlers, Work: 10 * time.Millisecond})
		if err := f.q.SetLimits(t.Context(), jobqueue.Limits{Rate: rate, Per: time.Second}); err != nil {
			t.Fatal(err)
		}
		ids := f.enqueue(jobs)
		f.spawn(procs)
		f.waitDrained(jobs, time.Minute)
		f.stop()
		o := f.check(ids, checkOptions{})

		runs := f.runs()
		starts := make([]time.Time, len(runs))
		claims := make([]time.Time, len(runs))
		for i, r := range runs {
			starts[i] = r.start
			claims[i] = r.leaseUntil.Add(-f.cfg.Lease)
		}
		slices.SortFunc(starts, time.Time.Compare)
		slices.SortFunc(claims, time.Time.Compare)
		// The store's window is (now - 1 s, now] in whole milliseconds:
		// claims less than a second apart share one.
		byClaim, byStart := maxInWindow(claims, time.Second), maxInWindow(starts, time.Second)
		if byClaim > rate {
			t.Errorf("%d claims within one second on the store's clock, above the rate of %d", byClaim, rate)
		}
		if byStart > rate+batch {
			t.Errorf("%d handlers started within one second, above the rate of %d plus the %d handlers of the fleet", byStart, rate, batch)
		}
		t.Logf("most in any 1 s window: %d claims (store's clock), %d handler starts (local clock); %d runs", byClaim, byStart, len(runs))
		report(t, Row{
			Scenario: "17 rate limit",
			Injected: fmt.Sprintf("`Limits{Rate: %d, Per: time.Second}`, a backlog of %d, %d processes × %d handlers of 10 ms", rate, jobs, procs, handlers),
			Jobs:     jobs, Lost: o.lost, Duplicates: o.duplicates,
			Result: o.result(fmt.Sprintf("most in any sliding 1 s window: %d claims on the store's clock, %d handler starts on the local clock", byClaim, byStart)),
		})
	})
}

// TestCancelWorkerSIGKILL cancels half of a queue's jobs, those pending and
// those running alike, while worker processes are SIGKILLed and replaced
// every 2 s: every job whose cancel was accepted ends cancelled and never
// completes, whether its worker saw the cancel at a heartbeat or died and
// the reclaim found it; the others complete.
func TestCancelWorkerSIGKILL(t *testing.T) {
	forEachAdapter(t, nil, func(t *testing.T, adapter string, srv *redistest.Server) {
		const jobs = 300
		// Handlers of 1 s that ignore their context, with a heartbeat
		// every 200 ms: a cancelled handler runs on, and its outcome is
		// refused.
		f := newFleet(t, srv.URL, childConfig{Adapter: adapter, URL: srv.URL, Concurrency: 16, Heartbeat: 200 * time.Millisecond, Work: time.Second})
		ids := f.enqueue(jobs)
		f.spawn(3)
		for deadline := time.Now().Add(30 * time.Second); ; {
			if st, err := f.q.Stats(t.Context()); err == nil && st.Processing > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no job started within 30 s")
			}
			time.Sleep(10 * time.Millisecond)
		}
		// Cancel every other job, alternately from the front of the queue
		// and from its back, 10 every 400 ms, so the cancels meet running
		// and pending jobs; kill a worker process every 2 s meanwhile.
		var toCancel []string
		for lo, hi := 1, len(ids)-1; lo <= hi; lo, hi = lo+2, hi-2 {
			toCancel = append(toCancel, ids[lo])
			if hi != lo {
				toCancel = append(toCancel, ids[hi])
			}
		}
		var mu sync.Mutex
		cancelled := map[string]time.Time{} // when the cancel returned
		tooLate := map[string]bool{}
		cancelsDone := make(chan struct{})
		go func() {
			defer close(cancelsDone)
			for i, id := range toCancel {
				if i%10 == 0 {
					time.Sleep(400 * time.Millisecond)
				}
				err := f.q.Cancel(context.Background(), id)
				mu.Lock()
				switch {
				case err == nil:
					cancelled[id] = time.Now()
				case errors.Is(err, jobqueue.ErrWrongState):
					tooLate[id] = true // it had completed
				default:
					t.Errorf("cancel %s: %v", id, err)
				}
				mu.Unlock()
			}
		}()
		kills := 0
	killing:
		for {
			select {
			case <-cancelsDone:
				break killing
			case <-time.After(2 * time.Second):
			}
			f.killRandom()
			kills++
			f.spawn(1)
		}
		if kills < 2 {
			t.Fatalf("only %d kills while cancelling; cancel more slowly", kills)
		}
		var rest []string
		for _, id := range ids {
			if _, ok := cancelled[id]; !ok {
				rest = append(rest, id)
			}
		}
		f.waitDrained(len(rest), f.aftermath()+5*time.Second)
		f.stop()
		o := f.check(rest, checkOptions{})

		history, err := f.q.List(t.Context(), jobqueue.StateCompleted, 0, jobs+1000)
		if err != nil {
			t.Fatal(err)
		}
		completed := map[string]bool{}
		for _, id := range history {
			completed[id] = true
		}
		// A cancelled job is claimed no more: no claim (read from its
		// lease end, less the lease, on the store's clock, the same host
		// clock as the cancel's) comes after its cancel returned. A run
		// may well start after it: the claim came first, and the next
		// heartbeat cancels the handler. running counts the jobs cancelled while a handler ran
		// them, killed those whose process then died holding them, so
		// that a reclaim made them cancelled.
		last := map[string]run{}
		for _, r := range f.runs() {
			at, ok := cancelled[r.id]
			if !ok {
				continue
			}
			if claimed := r.leaseUntil.Add(-f.cfg.Lease); claimed.After(at) {
				t.Errorf("job %s: attempt %d claimed %v after its cancel", r.id, r.attempt, claimed.Sub(at))
			}
			if r.attempt > last[r.id].attempt {
				last[r.id] = r
			}
		}
		running, killed := 0, 0
		for _, r := range last {
			running++
			if r.stop.IsZero() {
				killed++
			}
		}
		for id := range cancelled {
			info, err := f.q.Get(t.Context(), id)
			if err != nil {
				t.Errorf("get cancelled job %s: %v", id, err)
				continue
			}
			if info.State != jobqueue.StateCancelled || completed[id] || info.Result != nil {
				t.Errorf("job %s: cancelled, but it ended %s (in the completed history: %v, result %q)", id, info.State, completed[id], info.Result)
			}
		}
		st, err := f.q.Stats(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if st.CompletedTotal != int64(len(rest)) {
			t.Errorf("%d completions counted, want the %d jobs not cancelled", st.CompletedTotal, len(rest))
		}
		if running == 0 || running == len(cancelled) {
			t.Errorf("%d jobs cancelled, %d of them after a handler started; want some of each", len(cancelled), running)
		}
		t.Logf("%d kills; %d cancels accepted (%d pending, %d started, %d of those held by a process then killed), %d too late (completed); %d others completed",
			kills, len(cancelled), len(cancelled)-running, running, killed, len(tooLate), o.completed)
		report(t, Row{
			Scenario: "18 cancel, worker SIGKILL",
			Injected: fmt.Sprintf("cancel every other job, 10 every 400 ms, while a worker process is SIGKILLed every 2 s (%d kills); handlers of 1 s ignore their context", kills),
			Jobs:     jobs, Lost: o.lost, Duplicates: o.duplicates,
			Result: o.result(fmt.Sprintf("%d cancels accepted (%d pending, %d started, %d of those held by a process that was killed, made cancelled by the reclaim), all ended cancelled, none completed or ran again; %d too late (already completed)",
				len(cancelled), len(cancelled)-running, running, killed, len(tooLate))),
		})
	})
}
