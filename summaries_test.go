package jobqueue

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/memory"
)

// getsOnly is a backend whose only methods are backend.Backend's, as a
// wrapper that embeds one has: it cannot read summaries.
type getsOnly struct{ backend.Backend }

// TestSummariesByGet reads summaries on a backend that cannot read them
// (by Get, a few at once) and on one that can: the same summaries, each
// preview valid UTF-8, with no character cut in half and U+FFFD for bytes
// that are not UTF-8.
func TestSummariesByGet(t *testing.T) {
	ctx := context.Background()
	mem := memory.New()
	direct, err := New(mem, "q")
	require.NoError(t, err)
	byGet, err := New(getsOnly{mem}, "q")
	require.NoError(t, err)

	payloads := map[string]string{
		"text":   `"aé€😀aé€😀"`,
		"binary": "\xff\xfeab\xc3",
		"empty":  "",
	}
	var ids []string
	for i := range 20 {
		id := fmt.Sprintf("job-%02d", i)
		payloads[id] = fmt.Sprintf(`{"n":%d}`, i)
		ids = append(ids, id)
	}
	var jobs []backend.NewJob
	for id, p := range payloads {
		jobs = append(jobs, backend.NewJob{ID: id, Payload: []byte(p), MaxAttempts: 1})
	}
	require.NoError(t, mem.Enqueue(ctx, backend.EnqueueParams{Queue: "q", Jobs: jobs}))
	ids = append(ids, "text", "no-such-job", "binary", "empty")

	for n := range 14 {
		want, err := direct.Summaries(ctx, ids, n)
		require.NoError(t, err)
		got, err := byGet.Summaries(ctx, ids, n)
		require.NoError(t, err)
		require.Equal(t, want, got, "summaries of previews of %d bytes, by Get", n)
		require.Len(t, got, 23, "the unknown id is left out")
		for _, s := range got {
			require.True(t, utf8.Valid(s.Preview), "the preview %q of %s", s.Preview, s.ID)
			require.Equal(t, len(payloads[s.ID]), s.PayloadBytes, "the size of %s", s.ID)
		}
	}
	got, err := byGet.Summaries(ctx, []string{"text", "binary", "job-07"}, 4)
	require.NoError(t, err)
	require.Equal(t, `"aé`, string(got[0].Preview), "the € that the cut split is left out")
	require.Equal(t, "\uFFFDab", string(got[1].Preview), "bytes that are not UTF-8")
	require.Equal(t, `{"n"`, string(got[2].Preview))
	require.Equal(t, len(`{"n":7}`), got[2].PayloadBytes)
}

// flakySummaries fails its first Summaries call as a lost reply does.
type flakySummaries struct {
	*memory.Backend
	calls atomic.Int64
}

func (b *flakySummaries) Summaries(ctx context.Context, p backend.SummariesParams) ([]backend.JobSummary, error) {
	if b.calls.Add(1) == 1 {
		return nil, fmt.Errorf("%w: the reply was lost", ErrUnavailable)
	}
	return b.Backend.Summaries(ctx, p)
}

// TestSummariesRetried: a Summaries call that fails with ErrUnavailable
// is repeated, as the other reads are; bad input is refused before the
// backend is called.
func TestSummariesRetried(t *testing.T) {
	ctx := context.Background()
	b := &flakySummaries{Backend: memory.New()}
	q, err := New(b, "q")
	require.NoError(t, err)
	id, err := q.Enqueue(ctx, map[string]int{"n": 1})
	require.NoError(t, err)
	got, err := q.Summaries(ctx, []string{id}, 100)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, `{"n":1}`, string(got[0].Preview))
	require.Equal(t, int64(2), b.calls.Load(), "one failed call, one repeat")

	for _, bad := range []struct {
		ids []string
		n   int
	}{
		{distinctIDs(MaxSummaries + 1), 10},
		{[]string{id}, MaxPreviewBytes + 1},
		{[]string{id}, -1},
	} {
		_, err := q.Summaries(ctx, bad.ids, bad.n)
		require.ErrorIs(t, err, ErrInvalidArgument, "%d ids, preview %d", len(bad.ids), bad.n)
	}
	require.Equal(t, int64(2), b.calls.Load(), "bad input reaches no backend")
}

func TestTextPreview(t *testing.T) {
	for _, tc := range []struct {
		preview string
		size    int
		want    string
	}{
		{"", 0, ""},
		{"abc", 3, "abc"},
		{"abc", 10, "abc"},
		{"a\xc3", 10, "a"},              // é cut after its first byte
		{"a\xe2\x82", 10, "a"},          // € cut after two bytes
		{"a\xf0\x9f\x98", 10, "a"},      // 😀 cut after three bytes
		{"a\xf0\x9f\x98\x80", 10, "a😀"}, // whole
		{"a\xc3", 2, "a\uFFFD"},         // not cut: the payload ends so
		{"\xff\xfeab", 10, "\uFFFDab"},
		{"ab\x80\x80\x80\x80", 10, "ab\uFFFD"}, // no character start near the end
	} {
		got := textPreview([]byte(tc.preview), tc.size)
		require.Equal(t, tc.want, string(got), "textPreview(%q, %d)", tc.preview, tc.size)
	}
	require.Nil(t, textPreview([]byte("\xc3"), 10), "a preview with nothing left")
}

// TestSummariesOfRepeatedIDs: an id given twice, as a list read page by
// page can give it, is read once, where the backend refuses the call.
func TestSummariesOfRepeatedIDs(t *testing.T) {
	ctx := context.Background()
	for _, b := range []backend.Backend{memory.New(), getsOnly{memory.New()}} {
		q, err := New(b, "repeats")
		require.NoError(t, err)
		a, err := q.Enqueue(ctx, "a")
		require.NoError(t, err)
		c, err := q.Enqueue(ctx, "c")
		require.NoError(t, err)
		got, err := q.Summaries(ctx, []string{a, c, a, c, a}, 10)
		require.NoError(t, err)
		ids := make([]string, len(got))
		for i, s := range got {
			ids[i] = s.ID
		}
		require.Equal(t, []string{a, c}, ids, "%T", b)
	}
}

// distinctIDs returns n distinct ids.
func distinctIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("id-%d", i)
	}
	return out
}
