// Package conformance is the executable definition of the semantics of a
// jobqueue backend: one test suite that every backend.Backend runs, driving
// it directly and through the root jobqueue.Queue, so that the contract and
// the wrapper are checked together.
//
// A backend runs the suite from its own conformance_test.go:
//
//	func TestConformance(t *testing.T) {
//		b := mystore.New(dsn) // one backend, shared by every test
//		conformance.Run(t, conformance.Harness{NewBackend: func(*testing.T) backend.Backend { return b }})
//	}
//
// Each test works in its own queue, named after the test with a random
// suffix, so the tests run in parallel on one store and never flush it; a
// shared store is fine. A backend that lacks an optional capability
// declares it in Harness.Lacks, and the tests that need it skip with the
// reason given. Leases and delays are tens to hundreds of milliseconds, so
// the suite runs in seconds; run it with -race.
//
// The suite asserts errors with errors.Is against the values of the backend
// package, never their text, and it times only what the contract promises
// to be prompt (a blocked claim waking on new work, a cancelled claim
// returning), with limits far above what a blocking implementation needs.
package conformance

import (
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
)

// Harness connects the suite to the backend under test.
type Harness struct {
	// NewBackend returns the backend one test runs against. The suite
	// calls it once per test, which may build a fresh backend (and close
	// it with t.Cleanup) or return one shared by all tests: tests isolate
	// themselves by unique queue names, never by flushing the store.
	NewBackend func(t *testing.T) backend.Backend

	// LoseReplies, when set, returns a backend on the same store as
	// NewBackend's whose replies can be lost on the way back. The
	// LostReplies group then loses the reply of each mutating call (the
	// call runs in the store, and fails with an error wrapping
	// backend.ErrUnavailable, or succeeds when the client library sends it
	// again by itself), repeats the call, and checks what the repeat
	// returns and changes against the same scenario run once without a
	// loss. Without it, the group loses replies with DropReplies on
	// NewBackend's backend, which checks the same rules without a network.
	LoseReplies func(t *testing.T) ReplyLoser

	// Lacks names the optional capabilities the backend does not provide,
	// each with the reason. The tests that need one skip and log the
	// reason, so a report shows what was not checked. Every backend
	// shipped with jobqueue leaves it empty.
	Lacks map[Capability]string
}

// ReplyLoser is a backend whose replies can be lost, for
// Harness.LoseReplies.
type ReplyLoser struct {
	Backend backend.Backend
	// Lose makes the reply to the next call of the named Backend method
	// (such as "Enqueue") be lost after the store ran the call.
	Lose func(method string)
	// Lost counts the replies lost so far.
	Lost func() int
}

// Capability is an optional behaviour a Harness may declare missing.
type Capability string

// The optional capabilities.
const (
	// Events is backend.Subscriber: state changes published per queue. A
	// backend that does not implement the interface is skipped without
	// declaring it.
	Events Capability = "events"

	// PromptWakeup is a Claim that, while it waits, returns within tens of
	// milliseconds of a job becoming claimable (enqueued, or due after a
	// delay). A store that can only poll declares it missing; the tests
	// that time the wake-up skip, and the rest still require the job to
	// arrive before the wait ends.
	PromptWakeup Capability = "prompt-wakeup"

	// Workers is backend.WorkerTracker: Beat, and Stats.Workers counting
	// the processes that beat. Unlike Events, a backend that does not
	// implement the interface must declare it missing, or the group
	// fails: a wrapper that embeds backend.Backend hides the method, and
	// would otherwise pass unnoticed.
	Workers Capability = "workers"
	// History is backend.Historian: per-minute counts kept in the store.
	// Unlike Events, a backend that does not implement the interface
	// fails the History group unless it declares it missing.
	History Capability = "history"
	// Cancel is backend.Canceller: cancelling jobs, and the cancelled
	// state. Unlike Events, a backend that does not implement the
	// interface fails the Cancel group unless it declares it missing.
	Cancel Capability = "cancel"
	// Control is backend.Controller: pause, resume and limits, shown in
	// Stats. Unlike Events, a backend that does not implement the
	// interface fails the Control group unless it declares it missing.
	Control Capability = "control"
	// Schedules is backend.ScheduleKeeper: a queue's schedules and their
	// last ticks kept in the store. A backend that does not implement the
	// interface fails the Schedules group unless it declares it missing.
	Schedules Capability = "schedules"
	// Durability is backend.DurableWriter: Enqueue, Complete and Fail
	// that honour a Durability. A backend that does not implement the
	// interface fails the Durability group unless it declares it missing.
	Durability Capability = "durability"
	// Registry is backend.QueueRegistry: the list of the queues in use,
	// kept apart from every queue. A backend that does not implement the
	// interface fails the Registry group unless it declares it missing.
	Registry Capability = "registry"
	// Summaries is backend.Summarizer: job summaries read without their
	// payloads. A backend that does not implement the interface fails the
	// Summaries group unless it declares it missing.
	Summaries Capability = "summaries"

	// GlobalOrder is one order over every job of a queue, whichever call
	// enqueued it: claims in priority and FIFO order, events in the order
	// of the changes, histories trimmed oldest first. A backend that keeps
	// these orders within parts of a queue (shard.Backend, within a shard)
	// declares it missing; the suite's own jobs are then placed together
	// (see backend.IDMinter), and only the tests that span several
	// enqueues through the root skip.
	GlobalOrder Capability = "global-order"
	// AtomicBatches is an Enqueue that stores all of its jobs or none,
	// wherever they are placed. A backend whose batches are atomic only
	// within a part of the queue (shard.Backend, within a shard)
	// declares it missing.
	AtomicBatches Capability = "atomic-batches"
	// SharedLimits is a Controller whose limits are one budget for the
	// whole queue, of any size. A backend that splits a limit into parts
	// (shard.Backend, one per shard, refusing a limit below the number of
	// shards) declares it missing; the tests that count starts under a
	// limit skip.
	SharedLimits Capability = "shared-limits"
)

// testCase is one named test of the suite. Serial tests measure latency,
// so they run before their group's parallel tests start, and alone.
type testCase struct {
	name   string
	serial bool
	run    func(t *testing.T, f *fixture)
}

type group struct {
	name  string
	cases []testCase
}

// Run runs the whole suite against the backend of h, as subtests of t
// grouped by area (Enqueue, Claim, Ack, …). Groups run one after another;
// the tests of a group run in parallel.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.NewBackend == nil {
		t.Fatal("conformance: Harness.NewBackend is nil")
	}
	s := &suite{h: h}
	// Load time.Local before the parallel tests start. Two tests that fail
	// at once may both print a time.Time: testify reads its Location's
	// fields by reflection, outside the sync.Once by which the other
	// test's Format loads Local, and -race reports that (seen when the
	// suite runs a broken backend, whose tests fail on purpose).
	_ = time.Local.String()
	for _, g := range groups() {
		t.Run(g.name, func(t *testing.T) {
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					if !c.serial {
						t.Parallel()
					}
					c.run(t, s.fixture(t))
				})
			}
		})
	}
}

func groups() []group {
	return []group{
		{"Enqueue", enqueueTests()},
		{"Claim", claimTests()},
		{"Ack", ackTests()},
		{"Fail", failTests()},
		{"Extend", extendTests()},
		{"Release", releaseTests()},
		{"Reclaim", reclaimTests()},
		{"Delay", delayTests()},
		{"Kinds", kindTests()},
		{"Headers", headerTests()},
		{"Timeout", timeoutTests()},
		{"Priorities", priorityTests()},
		{"Expiry", expiryTests()},
		{"Snooze", snoozeTests()},
		{"Latency", latencyTests()},
		{"Workers", beatTests()},
		{"Retention", retentionTests()},
		{"Unique", uniqueTests()},
		{"Isolation", isolationTests()},
		{"Validation", validationTests()},
		{"Inspect", inspectTests()},
		{"Summaries", summariesTests()},
		{"Events", eventTests()},
		{"LostReplies", lostReplyTests()},
		{"History", historyTests()},
		{"Cancel", cancelTests()},
		{"Control", controlTests()},
		{"KindLimits", kindLimitTests()},
		{"Schedules", scheduleTests()},
		{"Durability", durabilityTests()},
		{"Queue", queueTests()},
		{"Worker", workerTests()},
		{"Observer", observerTests()},
		{"Mux", muxTests()},
		{"MultiQueue", multiQueueTests()},
		{"Registry", registryTests()},
	}
}

type suite struct {
	h Harness
}

// needing returns run, skipped when the harness declares c missing.
func needing(c Capability, run func(*testing.T, *fixture)) func(*testing.T, *fixture) {
	return func(t *testing.T, f *fixture) {
		f.s.needs(t, c)
		run(t, f)
	}
}

// withNeeds makes every test of cases need c.
func withNeeds(c Capability, cases []testCase) []testCase {
	for i := range cases {
		cases[i].run = needing(c, cases[i].run)
	}
	return cases
}

// needs skips t when the harness declares c missing, logging why.
func (s *suite) needs(t *testing.T, c Capability) {
	t.Helper()
	if reason, lacked := s.h.Lacks[c]; lacked {
		t.Skipf("conformance: the backend lacks %s: %s", c, reason)
	}
}
