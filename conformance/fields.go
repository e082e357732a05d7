package conformance

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue/backend"
)

// The Kinds, Headers and Timeout groups pin down the fields a backend only
// stores and returns: as given, on every claim of the job (retries
// included) and on Get, and never shared with the caller's memory.

func kindTests() []testCase {
	return []testCase{
		{name: "StoredAndReturned", run: testKindStored},
		{name: "Empty", run: testKindEmpty},
		{name: "InvalidRefused", run: testKindInvalid},
	}
}

func testKindStored(t *testing.T, f *fixture) {
	kinds := []string{"email", "image.resize-v2", strings.Repeat("K", backend.MaxKindLen)}
	jobs := make([]backend.NewJob, len(kinds))
	for i, k := range kinds {
		jobs[i] = f.job(ofKind(k))
	}
	f.enqueueIn(f.q, jobs...)
	for i, k := range kinds {
		require.Equal(t, k, f.requireState(jobs[i].ID, backend.StatePending).Kind, "Get of a pending job")
	}
	for i, c := range f.claimN(len(kinds), longLease) {
		require.Equal(t, jobs[i].ID, c.ID)
		require.Equal(t, kinds[i], c.Kind, "claim")
		require.Equal(t, kinds[i], f.get(c.ID).Kind, "Get of a processing job")
		f.fail(retryNow, c)
	}
	for i, c := range f.claimN(len(kinds), longLease) {
		require.Equal(t, kinds[i], c.Kind, "the claim of a retry")
		f.complete(c)
		require.Equal(t, kinds[i], f.requireState(c.ID, backend.StateCompleted).Kind, "Get of a completed job")
	}
}

func testKindEmpty(t *testing.T, f *fixture) {
	id := f.enqueue1()
	require.Empty(t, f.get(id).Kind)
	require.Empty(t, f.claimID(id, longLease).Kind)
}

func testKindInvalid(t *testing.T, f *fixture) {
	bad := map[string]func(*backend.NewJob){}
	for name, kind := range map[string]string{
		"Space":    "send email",
		"Colon":    "a:b",
		"Brace":    "a{b}",
		"NonASCII": "émail",
		"TooLong":  strings.Repeat("k", backend.MaxKindLen+1),
	} {
		bad[name] = ofKind(kind)
	}
	testRefused(t, f, ofKind("email"), bad)
}

// testRefused enqueues, on a queue of its own for each of bad, a good job
// made with good and one made with that bad change: the call is refused
// whole with ErrInvalidArgument, and nothing is written.
func testRefused(t *testing.T, f *fixture, good func(*backend.NewJob), bad map[string]func(*backend.NewJob)) {
	for name, mod := range bad {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g := f.s.fixture(t)
			p := g.populate()
			ok, refused := g.job(good), g.job(mod)
			g.unchanged(func() {
				require.ErrorIs(t, enqueueCall(g, ok, refused), backend.ErrInvalidArgument)
			}, append(p.ids, ok.ID, refused.ID)...)
		})
	}
}

func headerTests() []testCase {
	return []testCase{
		{name: "RoundTrip", run: testHeadersRoundTrip},
		{name: "Copied", run: testHeadersCopied},
		{name: "NilForNone", run: testHeadersNone},
		{name: "InvalidRefused", run: testHeadersInvalid},
	}
}

// sampleHeaders are headers with values a store could mangle: empty,
// non-ASCII, quotes and separators, and one as long as a value may be.
func sampleHeaders() map[string]string {
	return map[string]string{
		"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"tenant":      "acme",
		"empty":       "",
		"unicode":     "café ☕ 日本語",
		"separators":  `a=b; c="d", e:f {g} \h`,
		"long":        strings.Repeat("v", 4<<10),
	}
}

func testHeadersRoundTrip(t *testing.T, f *fixture) {
	want := sampleHeaders()
	id := f.enqueue1(withHeaders(sampleHeaders()))
	require.Equal(t, want, f.get(id).Headers, "Get of a pending job")
	c := f.claimID(id, longLease)
	require.Equal(t, want, c.Headers, "claim")
	require.Equal(t, want, f.get(id).Headers, "Get of a processing job")
	f.fail(retryNow, c)
	c = f.claimID(id, longLease)
	require.Equal(t, want, c.Headers, "the claim of a retry")
	require.NoError(t, releaseOp.one(f, ack(c)))
	require.Equal(t, want, f.claimID(id, longLease).Headers, "the claim of a released job")
}

// testHeadersCopied changes the caller's map after Enqueue returned, and
// the maps a claim and a Get returned: the stored headers change with
// none of them.
func testHeadersCopied(t *testing.T, f *fixture) {
	given := map[string]string{"tenant": "acme", "request-id": "r-1"}
	id := f.enqueue1(withHeaders(given))
	given["tenant"] = "changed"
	given["added"] = "x"
	want := map[string]string{"tenant": "acme", "request-id": "r-1"}
	require.Equal(t, want, f.get(id).Headers, "the stored headers changed with the caller's map")

	c := f.claimID(id, longLease)
	c.Headers["tenant"] = "changed by the claimer"
	delete(c.Headers, "request-id")
	require.Equal(t, want, f.get(id).Headers, "the stored headers changed with a claimed copy")

	got := f.get(id).Headers
	got["tenant"] = "changed by a reader"
	require.Equal(t, want, f.get(id).Headers, "the stored headers changed with the map Get returned")
	f.fail(retryNow, c)
	require.Equal(t, want, f.claimID(id, longLease).Headers, "the headers of the next claim")
}

// testHeadersNone: a job enqueued with no headers, nil or empty, is
// claimed with nil headers, and Get shows none.
func testHeadersNone(t *testing.T, f *fixture) {
	none := []string{f.enqueue1(), f.enqueue1(withHeaders(map[string]string{}))}
	for _, id := range none {
		require.Empty(t, f.get(id).Headers, "Get of a job with no headers")
	}
	for _, c := range f.claimN(len(none), longLease) {
		require.Nil(t, c.Headers, "the claim of a job with no headers")
	}
}

// testHeadersInvalid enqueues a good job with a bad one: the call is
// refused whole, as ValidateHeaders says, and nothing is written.
func testHeadersInvalid(t *testing.T, f *fixture) {
	many := map[string]string{}
	for i := range backend.MaxHeaders + 1 {
		many[strings.Repeat("h", i+1)] = "v"
	}
	bad := map[string]func(*backend.NewJob){}
	for name, h := range map[string]map[string]string{
		"TooMany":       many,
		"EmptyName":     {"": "v"},
		"NameTooLong":   {strings.Repeat("n", backend.MaxHeaderNameLen+1): "v"},
		"NameWithColon": {"a:b": "v"},
		"ValueTooLong":  {"a": strings.Repeat("v", 4<<10+1)},
		"ControlChar":   {"a": "line\nbreak"},
		"InvalidUTF8":   {"a": "caf\xe9"},
		"TotalTooLarge": {"a": strings.Repeat("v", 4<<10), "b": strings.Repeat("v", 4<<10), "c": "v"},
	} {
		bad[name] = withHeaders(h)
	}
	testRefused(t, f, withHeaders(sampleHeaders()), bad)
}

func timeoutTests() []testCase {
	return []testCase{
		{name: "RoundTrip", run: testTimeoutRoundTrip},
		{name: "ZeroForNone", run: testTimeoutNone},
	}
}

func testTimeoutRoundTrip(t *testing.T, f *fixture) {
	timeouts := []time.Duration{1500 * time.Millisecond, time.Hour, time.Millisecond}
	jobs := make([]backend.NewJob, len(timeouts))
	for i, d := range timeouts {
		jobs[i] = f.job(withTimeout(d))
	}
	f.enqueueIn(f.q, jobs...)
	cs := f.claimN(len(jobs), longLease)
	for i, c := range cs {
		require.Equal(t, jobs[i].ID, c.ID)
		require.Equal(t, timeouts[i], c.Timeout, "claim of %s", c.ID)
		require.Equal(t, timeouts[i], f.get(c.ID).Timeout, "Get of %s", c.ID)
	}
	f.fail(retryNow, cs[0])
	require.Equal(t, timeouts[0], f.get(cs[0].ID).Timeout, "Get of a retried job")
	require.Equal(t, timeouts[0], f.claimID(cs[0].ID, longLease).Timeout, "the claim of a retry")
}

func testTimeoutNone(t *testing.T, f *fixture) {
	id := f.enqueue1()
	require.Zero(t, f.get(id).Timeout)
	require.Zero(t, f.claimID(id, longLease).Timeout)
}
