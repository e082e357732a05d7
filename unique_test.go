package jobqueue

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue/memory"
)

func TestUniqueDuplicateReturnsHolder(t *testing.T) {
	ctx := context.Background()
	b := memory.New()
	q, err := New(b, "u")
	require.NoError(t, err)
	first, err := q.Enqueue(ctx, 1, Unique("k", time.Hour))
	require.NoError(t, err)

	// A second Queue value on the same backend is another producer.
	q2, err := New(b, "u")
	require.NoError(t, err)
	id, err := q2.Enqueue(ctx, 2, Unique("k", time.Hour))
	require.ErrorIs(t, err, ErrDuplicate)
	assert.Equal(t, first, id)
	var de *DuplicateError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, []Duplicate{{Index: 0, Key: "k", ExistingID: first}}, de.Duplicates)

	s, err := q.Stats(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 1, s.EnqueuedTotal, "a duplicate stores nothing")
	assert.EqualValues(t, 0, q2.count.enqueued.Load())
}

func TestUniqueOptionsValidate(t *testing.T) {
	ctx := context.Background()
	q, err := New(memory.New(), "u")
	require.NoError(t, err)
	for name, opt := range map[string]EnqueueOption{
		"empty key":        Unique("", time.Second),
		"space in key":     Unique("a b", time.Second),
		"long key":         Unique(string(make([]byte, MaxUniqueKeyLen+1)), time.Second),
		"zero window":      Unique("k", 0),
		"sub-ms window":    Unique("k", time.Microsecond),
		"ByState no pend":  Unique("k", time.Second, ByState(StateScheduled, StateProcessing)),
		"ByState bad name": Unique("k", time.Second, ByState("nope")),
	} {
		_, err := q.Enqueue(ctx, 1, opt)
		assert.True(t, errors.Is(err, ErrInvalidArgument) || errors.Is(err, ErrInvalidState), "%s: %v", name, err)
	}
	_, err = q.EnqueueBatch(ctx, []any{1, 2}, Unique("k", time.Second))
	assert.ErrorIs(t, err, ErrInvalidArgument, "one key for a whole batch")
	s, err := q.Stats(ctx)
	require.NoError(t, err)
	assert.Zero(t, s.EnqueuedTotal)
}

// hourly is unique by arguments and hour.
type hourly struct{ N int }

func (hourly) Kind() string { return "hourly" }
func (hourly) UniqueOpts() UniqueOpts {
	return UniqueOpts{ByArgs: true, ByPeriod: time.Hour}
}

// windowless has UniqueOpts that say neither how long nor per what.
type windowless struct{}

func (windowless) Kind() string           { return "windowless" }
func (windowless) UniqueOpts() UniqueOpts { return UniqueOpts{ByArgs: true} }

func TestUniqueByKindKey(t *testing.T) {
	ctx := context.Background()
	r := newRecorder()
	q, err := New(r, "u")
	require.NoError(t, err)
	before := time.Now()
	_, err = q.EnqueueBatch(ctx, []any{hourly{N: 1}, hourly{N: 2}})
	require.NoError(t, err)
	after := time.Now()
	_, err = q.Enqueue(ctx, hourly{N: 1})
	require.ErrorIs(t, err, ErrDuplicate)
	jobs := r.enqueues[0].Jobs
	u1, u2 := jobs[0].Unique, jobs[1].Unique
	assert.NotEqual(t, u1.Key, u2.Key, "other arguments, other key")
	assert.Regexp(t, `^kind:hourly:args:[0-9a-f]{32}:period:[0-9]+$`, u1.Key)
	assert.LessOrEqual(t, u1.Window, time.Hour, "the hold lasts until the hour ends")
	// An hour divides a day: Truncate (from the zero time) and the
	// epoch agree. The enqueue ran between before and after.
	period := func(t time.Time) string { return ":period:" + strconv.FormatInt(t.Truncate(time.Hour).UnixMilli(), 10) }
	assert.True(t, strings.HasSuffix(u1.Key, period(before)) || strings.HasSuffix(u1.Key, period(after)), u1.Key)
	assert.Empty(t, u1.ReleaseOn)

	_, err = q.Enqueue(ctx, windowless{})
	assert.ErrorIs(t, err, ErrInvalidArgument)
}

func TestBatchItemOptionsStayTheirs(t *testing.T) {
	ctx := context.Background()
	r := newRecorder()
	q, err := New(r, "u")
	require.NoError(t, err)
	_, err = q.EnqueueBatch(ctx, []any{
		Item(1, Headers(map[string]string{"own": "1"}), Priority(2)),
		2,
	}, Headers(map[string]string{"all": "y"}))
	require.NoError(t, err)
	jobs := r.enqueues[0].Jobs
	assert.Equal(t, map[string]string{"all": "y", "own": "1"}, jobs[0].Headers)
	assert.Equal(t, map[string]string{"all": "y"}, jobs[1].Headers)
	assert.Equal(t, 2, jobs[0].Priority)
	assert.Equal(t, 0, jobs[1].Priority)

	_, err = q.EnqueueBatch(ctx, []any{1}, WithID("x"))
	assert.ErrorIs(t, err, ErrInvalidArgument)
	_, err = q.EnqueueBatch(ctx, []any{Item(Item(1))})
	assert.ErrorIs(t, err, ErrInvalidArgument)
}
