package conformance

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue/backend"
)

// The Summaries group pins down backend.Summarizer: a job's summary is
// what Get returns of it, less its payload and result, with the payload's
// exact size and its first bytes, cut at the preview's length whatever
// they hold, for payloads up to backend.MaxPreviewedPayload; ids without
// a record are left out, the others keep their order; bad input changes
// nothing.

func summariesTests() []testCase {
	return []testCase{
		{name: "EveryStateMatchesGet", run: testSummariesMatchGet},
		{name: "PreviewCut", run: testSummariesPreviewCut},
		{name: "LargePayloadNotPreviewed", run: testSummariesLargePayload},
		{name: "MissingLeftOutOrderKept", run: testSummariesMissing},
		{name: "MaxIDs", run: testSummariesMaxIDs},
		{name: "NoIDs", run: testSummariesNone},
		{name: "Invalid", run: testSummariesInvalid},
		{name: "ContextAlreadyEnded", run: testSummariesEndedContext},
		{name: "ThroughQueue", run: testSummariesQueue},
	}
}

// summarizer returns the backend's Summarizer. A backend without one
// fails the test, unless the harness declares Summaries missing: a
// wrapper that embeds backend.Backend hides the method, and must not pass
// unnoticed.
func (f *fixture) summarizer() backend.Summarizer {
	f.t.Helper()
	f.s.needs(f.t, Summaries)
	s, ok := f.b.(backend.Summarizer)
	if !ok {
		f.t.Fatalf("conformance: %T does not implement backend.Summarizer; a backend without it declares conformance.Summaries in Harness.Lacks", f.b)
	}
	return s
}

// summaries reads the summaries of ids with previews of n bytes.
func (f *fixture) summaries(n int, ids ...string) []backend.JobSummary {
	f.t.Helper()
	got, err := f.summarizer().Summaries(f.ctx, backend.SummariesParams{Queue: f.q, IDs: ids, PreviewBytes: n})
	require.NoError(f.t, err, "summaries of %v", ids)
	require.NotNil(f.t, got, "summaries of %v", ids)
	return got
}

// requireSummariesOfGet requires got to be the summaries, with previews
// of n bytes, of what Get returns of ids now, in that order.
func (f *fixture) requireSummariesOfGet(n int, ids []string, got []backend.JobSummary) {
	f.t.Helper()
	want := make([]backend.JobSummary, len(ids))
	for i, id := range ids {
		want[i] = f.get(id).Summary(n)
	}
	require.Equal(f.t, want, got, "summaries with previews of %d bytes: what Get returns, less payload and result", n)
}

// textPayload returns a payload of n bytes of text whose characters take
// one, two, three and four bytes, so that a cut may split one.
func textPayload(n int, seq int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "%d:", seq)
	for b.Len() < n {
		b.WriteString("aé€😀")
	}
	return []byte(b.String())[:n]
}

func withPayload(p []byte) func(*backend.NewJob) {
	return func(j *backend.NewJob) { j.Payload = p }
}

// everyState makes jobs in every state the queue has, each with a payload
// of 300 bytes of text but one whose payload is empty, and returns their
// ids: completed (with a result), dead, scheduled for a retry, processing,
// pending after a failure, a pending job with every option a job may have,
// a delayed job, a delayed job whose time has come (which reads as
// pending), one with an empty payload, and a cancelled one when the
// backend can cancel.
func (f *fixture) everyState() []string {
	f.t.Helper()
	text := func(j *backend.NewJob) { j.Payload = textPayload(300, f.seq) }
	claimed := f.claimN(len(f.enqueueN(5, text)), longLease)
	f.complete(claimed[0])
	f.fail(dead, claimed[1])
	f.fail(retryAfter(longLease), claimed[2])
	f.fail(retryNow, claimed[4])
	all := ids(claimed)
	all = append(all,
		f.enqueue1(text, ofKind("mail"), withHeaders(map[string]string{"tenant": "t1", "trace": "x"}), atLevel(2),
			withTimeout(time.Second), expiring(time.Hour)),
		f.enqueue1(text, delayed(longLease)),
		f.enqueue1(withPayload(nil)))
	due := f.enqueue1(text, delayed(time.Millisecond), ofKind("due"))
	require.Eventually(f.t, func() bool { return f.get(due).State == backend.StatePending }, eventually, tick,
		"a delayed job whose time has come reads as pending")
	all = append(all, due)
	if _, lacked := f.s.h.Lacks[Cancel]; !lacked {
		cancelled := f.enqueue1(text)
		f.cancel(cancelled)
		all = append(all, cancelled)
	}
	return all
}

func testSummariesMatchGet(t *testing.T, f *fixture) {
	f.summarizer()
	all := f.everyState()
	states := map[backend.State]bool{}
	for _, id := range all {
		states[f.get(id).State] = true
	}
	want := len(backend.States)
	if _, lacked := f.s.h.Lacks[Cancel]; lacked {
		want--
	}
	require.Len(t, states, want, "the jobs are in every state")
	for _, n := range []int{0, 1, 100, backend.MaxPreviewBytes} {
		f.requireSummariesOfGet(n, all, f.summaries(n, all...))
	}
	// The other order, as a page listed most recent first reads them.
	f.requireSummariesOfGet(50, reversed(all), f.summaries(50, reversed(all)...))
}

// testSummariesPreviewCut reads previews of every length around the
// characters of a payload longer than the longest preview: each is the
// payload's first bytes, cut where asked, even within a character.
func testSummariesPreviewCut(t *testing.T, f *fixture) {
	f.summarizer()
	long := textPayload(backend.MaxPreviewBytes+500, 0)
	short := textPayload(10, 1)
	ids := []string{f.enqueue1(withPayload(long)), f.enqueue1(withPayload(short))}
	for _, n := range []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 1000, backend.MaxPreviewBytes - 1, backend.MaxPreviewBytes} {
		got := f.summaries(n, ids...)
		require.Len(t, got, 2)
		for i, payload := range [][]byte{long, short} {
			want := payload[:min(n, len(payload))]
			if len(want) == 0 {
				want = nil
			}
			require.Equal(t, want, got[i].Preview, "the preview of %d bytes of a payload of %d", n, len(payload))
			require.Equal(t, len(payload), got[i].PayloadBytes, "the size of a payload of %d bytes", len(payload))
		}
		if n > 0 && n < len(long) && !utf8.RuneStart(long[n]) {
			require.False(t, utf8.Valid(got[0].Preview), "a cut within a character keeps its first bytes")
		}
	}
}

// testSummariesLargePayload reads the summaries of payloads around
// backend.MaxPreviewedPayload: the largest previewed has its preview, one
// byte more has none, and each has its exact size.
func testSummariesLargePayload(t *testing.T, f *fixture) {
	f.summarizer()
	at := textPayload(backend.MaxPreviewedPayload, 0)
	over := textPayload(backend.MaxPreviewedPayload+1, 1)
	ids := []string{f.enqueue1(withPayload(at)), f.enqueue1(withPayload(over))}
	got := f.summaries(100, ids...)
	require.Len(t, got, 2)
	require.Equal(t, at[:100], got[0].Preview, "the preview of a payload of MaxPreviewedPayload bytes")
	require.Nil(t, got[1].Preview, "the preview of a payload of MaxPreviewedPayload+1 bytes")
	require.Equal(t, []int{len(at), len(over)}, []int{got[0].PayloadBytes, got[1].PayloadBytes}, "the payloads' sizes")
}

// testSummariesMissing reads ids that have no record among those that do:
// unknown ones, a deleted one, one of another queue, a completed job's
// whose record expired; they are left out, the others keep their order.
func testSummariesMissing(t *testing.T, f *fixture) {
	f.summarizer()
	all := f.enqueueN(4)
	require.NoError(t, f.b.Delete(f.ctx, backend.DeleteParams{Queue: f.q, ID: all[1]}))
	g := f.other()
	elsewhere := g.enqueue1()
	later := f.enqueue1()
	c := f.claimID(all[0], longLease)
	errs, err := f.b.Complete(f.ctx, backend.CompleteParams{Queue: f.q, Items: []backend.Completion{{Ack: ack(c)}},
		Retention: backend.Retention{Max: 10, TTL: time.Millisecond}})
	requireAllOK(t, 1, errs, err)
	require.Eventually(t, func() bool {
		_, err := f.b.Get(f.ctx, f.q, all[0])
		return err != nil
	}, eventually, tick, "the completed job's record expires")
	f.requireGone(all[0])
	ask := []string{"no-such-job", all[3], all[1], elsewhere, later, all[0], all[2], "x"}
	got := f.summaries(20, ask...)
	f.requireSummariesOfGet(20, []string{all[3], later, all[2]}, got)
}

// testSummariesMaxIDs reads MaxSummaries ids, a few of them jobs.
func testSummariesMaxIDs(t *testing.T, f *fixture) {
	f.summarizer()
	jobs := f.enqueueN(3)
	ask := make([]string, 0, backend.MaxSummaries)
	for i := 0; len(ask) < backend.MaxSummaries-len(jobs); i++ {
		ask = append(ask, fmt.Sprintf("unknown-%d", i))
	}
	ask = slices.Insert(ask, 40, jobs[2])
	ask = slices.Insert(ask, 10, jobs[0])
	ask = append(ask, jobs[1])
	require.Len(t, ask, backend.MaxSummaries)
	f.requireSummariesOfGet(8, []string{jobs[0], jobs[2], jobs[1]}, f.summaries(8, ask...))
}

func testSummariesNone(t *testing.T, f *fixture) {
	f.summarizer()
	f.enqueue1()
	require.Empty(t, f.summaries(10), "the summaries of no ids")
	require.Empty(t, f.other().summaries(10, "job-0001"), "the summaries of a queue never used")
}

func testSummariesInvalid(t *testing.T, f *fixture) {
	s := f.summarizer()
	id := f.enqueue1()
	tooMany := make([]string, backend.MaxSummaries+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("id-%d", i)
	}
	tooMany[0] = id
	for _, tc := range []struct {
		name string
		p    backend.SummariesParams
		want error
	}{
		{"too many ids", backend.SummariesParams{Queue: f.q, IDs: tooMany}, backend.ErrInvalidArgument},
		{"empty id", backend.SummariesParams{Queue: f.q, IDs: []string{id, ""}}, backend.ErrInvalidArgument},
		{"id twice", backend.SummariesParams{Queue: f.q, IDs: []string{id, id}}, backend.ErrInvalidArgument},
		{"id with a space", backend.SummariesParams{Queue: f.q, IDs: []string{id, "a b"}}, backend.ErrInvalidArgument},
		{"negative preview", backend.SummariesParams{Queue: f.q, IDs: []string{id}, PreviewBytes: -1}, backend.ErrInvalidArgument},
		{"preview too long", backend.SummariesParams{Queue: f.q, IDs: []string{id}, PreviewBytes: backend.MaxPreviewBytes + 1}, backend.ErrInvalidArgument},
		{"bad queue", backend.SummariesParams{Queue: "no good", IDs: []string{id}}, backend.ErrInvalidQueueName},
		{"no queue", backend.SummariesParams{IDs: []string{id}}, backend.ErrInvalidQueueName},
	} {
		f.unchanged(func() {
			got, err := s.Summaries(f.ctx, tc.p)
			require.ErrorIs(t, err, tc.want, tc.name)
			require.Nil(t, got, tc.name)
		}, id)
	}
}

func testSummariesEndedContext(t *testing.T, f *fixture) {
	s := f.summarizer()
	id := f.enqueue1()
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	for _, ask := range [][]string{{id}, nil} {
		got, err := s.Summaries(ctx, backend.SummariesParams{Queue: f.q, IDs: ask, PreviewBytes: 10})
		require.ErrorIs(t, err, context.Canceled, "summaries of %v", ask)
		require.Nil(t, got)
	}
}

// testSummariesQueue reads summaries through the root Queue, which makes
// each preview valid UTF-8 by leaving out a character the cut split; on
// a backend without a Summarizer, it reads them with Get.
func testSummariesQueue(t *testing.T, f *fixture) {
	q := f.queue()
	payload := textPayload(200, 0)
	id := f.enqueue1(withPayload(payload))
	gone := f.enqueue1()
	require.NoError(t, f.b.Delete(f.ctx, backend.DeleteParams{Queue: f.q, ID: gone}))
	for n := range 12 {
		got, err := q.Summaries(f.ctx, []string{gone, id, "no-such-job"}, n)
		require.NoError(t, err)
		require.Len(t, got, 1)
		want := f.get(id).Summary(n)
		for len(want.Preview) > 0 && !utf8.Valid(want.Preview) {
			want.Preview = want.Preview[:len(want.Preview)-1]
		}
		if len(want.Preview) == 0 {
			want.Preview = nil
		}
		require.Equal(t, want, got[0], "the summary of a preview of %d bytes, through the Queue", n)
	}
	_, err := q.Summaries(f.ctx, make([]string, backend.MaxSummaries+1), 10)
	require.ErrorIs(t, err, backend.ErrInvalidArgument, "too many ids, through the Queue")
	_, err = q.Summaries(f.ctx, []string{id}, backend.MaxPreviewBytes+1)
	require.ErrorIs(t, err, backend.ErrInvalidArgument, "too long a preview, through the Queue")
}
