package jobqueue

import (
	"context"
	"errors"
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
