package conformance_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance"
)

// The suite is tested by the backends it must fail: each of
// brokenBackends breaks one obligation of the contract, and the suite,
// run against it, has to fail a test. A Go test cannot expect a subtest
// to fail, so each run is a child process: this test binary again, with
// brokenEnv naming the backend, running TestBrokenChild only.

// brokenEnv names the broken backend a child process runs the suite on.
const brokenEnv = "JOBQUEUE_BROKEN"

const (
	// childSlots bounds the children running at once; the suite's tests
	// mostly sleep, but its latency checks want a core each.
	childSlots = 2
	// childTimeout ends a child whose suite hangs; the whole suite takes
	// about 10 s.
	childTimeout = 2 * time.Minute
)

// mustCatch names the broken backends of the obligations the issue lists:
// the suite fails none of them without the test failing. A miss of any
// other is reported, in the score, and does not fail the test.
var mustCatch = []string{
	"claim-ended-context",
	"repeat-publishes-event",
	"fail-first-item-delay",
	"reclaim-almost-expired",
	"stats-skip-expired-leases",
	"event-per-job",
	"id-truncated",
	"id-non-ascii-rewritten",
	"payload-aliased",
	"claim-over-max",
	// Issue 14.
	"claim-ignores-priority",
	"release-loses-level",
	"expired-job-returned",
	"snooze-uses-attempt",
	"headers-aliased",
	// Issue 16.
	"latency-from-enqueue",
	// Worker beats.
	"beat-zero-ttl-ignored",
	"beat-never-runs-out",
	// The per-minute history.
	"history-forgets-failed",
	"history-counts-snoozes",
	"history-counts-repeats",
	// Cancel.
	"cancel-ignores-running",
	"extend-hides-cancel",
	"cancel-request-id-ignored",
	"cancel-finished-succeeds",
	// Pause and limits.
	"pause-ignored",
	"concurrency-off-by-one",
	"rate-per-claim",
	"settings-unpublished",
	"settings-published-unchanged",
	// Unique keys.
	"unique-ignored",
	"unique-never-released",
	"unique-always-released",
	"unique-wrong-holder",
	"unique-batch-partial",
	"unique-before-repeat",
	// Schedules: the seen time and removal.
	"schedule-seen-moves-back",
	"schedule-remove-ignored",
	"schedule-remove-all",
	"schedule-remove-keeps-times",
	// Issue 17: ids a URL cannot carry.
	"dot-id-rewritten",
	// Durable writes.
	"durable-enqueue-not-stored",
	"durable-ack-whole-call",
	"durable-masks-refusal",
	// The registry of queues.
	"registry-forget-purges",
	"registry-last-seen-stuck",
	// Issue 17: job summaries, which lists read instead of whole payloads.
	"summary-whole-payload",
	"summary-size-of-preview",
	"summary-missing-fails",
	"summary-order-lost",
	"summary-previews-large",
	"summaries-unbounded",
}

// TestBrokenChild runs the suite on the broken backend brokenEnv names;
// it is meant to fail. It is skipped without brokenEnv.
func TestBrokenChild(t *testing.T) {
	name := os.Getenv(brokenEnv)
	if name == "" {
		t.Skipf("run by TestSuiteCatchesBrokenBackends, with %s naming a broken backend", brokenEnv)
	}
	for _, bb := range brokenBackends() {
		if bb.name == name {
			b := bb.new()
			conformance.Run(t, conformance.Harness{NewBackend: func(*testing.T) backend.Backend { return b }})
			return
		}
	}
	t.Fatalf("%s=%q names no broken backend", brokenEnv, name)
}

// TestSuiteCatchesBrokenBackends runs the suite on every broken backend,
// logs the first test that failed on each, and scores the suite: how many
// it caught. It fails when the suite misses one of mustCatch (a suite
// that panics or times out misses), or when a run says nothing about the
// suite (a data race, a child that did not run).
func TestSuiteCatchesBrokenBackends(t *testing.T) {
	if os.Getenv(brokenEnv) != "" {
		t.Skip("a child process runs TestBrokenChild only")
	}
	if testing.Short() {
		t.Skip("runs the conformance suite once per broken backend")
	}
	set := brokenBackends()
	for _, name := range mustCatch {
		if !slices.ContainsFunc(set, func(bb brokenBackend) bool { return bb.name == name }) {
			t.Fatalf("mustCatch names %q, which is not in brokenBackends", name)
		}
	}
	verdicts := make([]verdict, len(set))
	slots := make(chan struct{}, childSlots)
	start := time.Now()
	t.Run("Backend", func(t *testing.T) {
		for i, bb := range set {
			t.Run(bb.name, func(t *testing.T) {
				t.Parallel()
				slots <- struct{}{}
				defer func() { <-slots }()
				began := time.Now()
				v := runBroken(t, bb.name)
				verdicts[i] = v
				took := time.Since(began).Round(100 * time.Millisecond)
				switch {
				case v.broken != "":
					t.Errorf("the run says nothing about the suite: %s\n%s", v.broken, v.output)
				case !v.caught && slices.Contains(mustCatch, bb.name):
					t.Errorf("MISSED a required obligation (%v): %s", took, v.miss)
				case !v.caught:
					t.Logf("MISSED (%v): %s", took, v.miss)
				case !bb.meantFor(v.first):
					t.Logf("caught by %s (%v), not by a test meant for it (%s): %s", v.first, took, bb.meant, v.why)
				default:
					t.Logf("caught by %s (%v): %s", v.first, took, v.why)
				}
			})
		}
	})
	missed := []string{}
	for i, v := range verdicts {
		if !v.caught {
			missed = append(missed, set[i].name)
		}
	}
	t.Logf("caught %d of %d broken backends in %v; missed %q", len(set)-len(missed), len(set), time.Since(start).Round(time.Second), missed)
}

// verdict is what one child run says about the suite.
type verdict struct {
	caught bool
	// first is the first conformance test that failed, below the
	// child's TestBrokenChild, and why is its first error.
	first, why string
	// miss says why a run that did not catch the backend did not.
	miss string
	// broken is set when the run says nothing about the suite (a data
	// race in the test code, a child that could not run), with its
	// output.
	broken, output string
}

var (
	failLine    = regexp.MustCompile(`(?m)^\s*--- FAIL: (TestBrokenChild/\S+)`)
	panicLine   = regexp.MustCompile(`(?m)^panic: .*$`)
	timeoutLine = regexp.MustCompile(`(?m)^panic: test timed out after .*$`)
	errorLine   = regexp.MustCompile(`^\s*(Error|Messages):\s*(.*)$`)
)

// runBroken runs the suite on the broken backend name in a child process
// and judges its output.
func runBroken(t *testing.T, name string) verdict {
	cmd := exec.CommandContext(t.Context(), os.Args[0],
		"-test.run=^TestBrokenChild$", "-test.failfast", "-test.count=1",
		"-test.timeout="+childTimeout.String())
	cmd.Env = append(os.Environ(), brokenEnv+"="+name)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return verdict{broken: fmt.Sprintf("the child did not run: %v", err), output: string(out)}
	}
	return judge(string(out), err == nil)
}

// judge reads a child's output. A run catches its backend when it failed
// a conformance test, and did not panic or time out: a panic stops the
// whole suite, which then says nothing about the obligation.
func judge(out string, passed bool) verdict {
	switch {
	case strings.Contains(out, "WARNING: DATA RACE"):
		return verdict{broken: "a data race", output: out}
	case timeoutLine.MatchString(out):
		return verdict{miss: "the suite timed out: " + timeoutLine.FindString(out)}
	case panicLine.MatchString(out):
		return verdict{miss: "the suite panicked: " + panicLine.FindString(out)}
	case passed:
		return verdict{miss: "the suite passed"}
	}
	first, block := firstFailure(out)
	if first == "" {
		return verdict{broken: "the child failed without failing a conformance test", output: out}
	}
	return verdict{caught: true, first: first, why: firstError(block)}
}

// firstFailure returns the first failed conformance test in a child's
// output (one whose subtests all passed: the test that caught the
// backend, not the groups above it), and the lines it logged.
func firstFailure(out string) (name string, block []string) {
	var failed []string
	for _, m := range failLine.FindAllStringSubmatch(out, -1) {
		failed = append(failed, m[1])
	}
	for _, f := range failed {
		if strings.Count(f, "/") < 2 {
			continue // TestBrokenChild/Group
		}
		leaf := true
		for _, g := range failed {
			leaf = leaf && !strings.HasPrefix(g, f+"/")
		}
		if leaf {
			name = f
			break
		}
	}
	if name == "" {
		return "", nil
	}
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if strings.Contains(l, "--- FAIL: "+name+" ") {
			for _, l := range lines[i+1:] {
				if strings.Contains(l, "--- ") {
					break
				}
				block = append(block, l)
			}
			break
		}
	}
	return strings.TrimPrefix(name, "TestBrokenChild/"), block
}

// firstError condenses a failed test's log to where it failed, its first
// error and that error's message.
func firstError(block []string) string {
	var parts []string
	for _, l := range block {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l) // file.go:line:
			break
		}
	}
	for _, l := range block {
		if len(parts) > 1 && strings.Contains(l, "Error Trace:") {
			break // the next failure
		}
		if m := errorLine.FindStringSubmatch(l); m != nil {
			parts = append(parts, strings.TrimSpace(m[2]))
		}
	}
	s := strings.Join(parts, " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// meantFor reports whether test is one of the tests meant for bb's
// obligation.
func (bb brokenBackend) meantFor(test string) bool {
	for m := range strings.SplitSeq(bb.meant, ",") {
		if m = strings.TrimSpace(m); m != "" && strings.HasPrefix(test, m) {
			return true
		}
	}
	return false
}

// TestJudge reads outputs shaped as a child's: only a failed conformance
// test catches a backend.
func TestJudge(t *testing.T) {
	failed := `--- FAIL: TestBrokenChild (0.00s)
    --- FAIL: TestBrokenChild/Claim (0.00s)
        --- FAIL: TestBrokenChild/Claim/UpToMax (0.00s)
            claim.go:217: 
                	Error Trace:	/work/main/conformance/claim.go:217
                	Error:      	"[a b c d]" should have 3 item(s), but has 4
                	Test:       	TestBrokenChild/Claim/UpToMax
                	Messages:   	claim of 3 jobs that are pending
        --- FAIL: TestBrokenChild/Claim/FIFO (0.00s)
            claim.go:200: boom
FAIL
`
	panicked := `--- FAIL: TestBrokenChild (0.00s)
    --- FAIL: TestBrokenChild/Claim (0.00s)
        --- FAIL: TestBrokenChild/Claim/UpToMax (0.00s)
panic: runtime error: index out of range [3] with length 3 [recovered, repanicked]

goroutine 21 [running]:
`
	timedOut := `panic: test timed out after 2m0s
	running tests:
		TestBrokenChild/Claim/UpToMax (2m0s)
`
	for _, c := range []struct {
		name   string
		out    string
		passed bool
		want   verdict
	}{
		{"Failed", failed, false, verdict{caught: true, first: "Claim/UpToMax",
			why: `claim.go:217: "[a b c d]" should have 3 item(s), but has 4 claim of 3 jobs that are pending`}},
		{"Panicked", panicked, false, verdict{miss: "the suite panicked: panic: runtime error: index out of range [3] with length 3 [recovered, repanicked]"}},
		{"TimedOut", timedOut, false, verdict{miss: "the suite timed out: panic: test timed out after 2m0s"}},
		{"Passed", "PASS\n", true, verdict{miss: "the suite passed"}},
		{"GroupOnly", "--- FAIL: TestBrokenChild (0.00s)\n    --- FAIL: TestBrokenChild/Claim (0.00s)\nFAIL\n", false,
			verdict{broken: "the child failed without failing a conformance test"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := judge(c.out, c.passed)
			got.output = ""
			if got != c.want {
				t.Errorf("judge:\n got %+v\nwant %+v", got, c.want)
			}
		})
	}
	race := judge("WARNING: DATA RACE\n"+failed, false)
	if race.broken != "a data race" || race.caught {
		t.Errorf("judge of a run with a data race: %+v", race)
	}
}
