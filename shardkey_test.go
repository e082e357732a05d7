package jobqueue_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/memory"
)

// TestShardKeyUnsharded: on a backend that does not place jobs, a
// ShardKey changes nothing but is still checked, and still excludes
// WithID, so that code moving to a sharded queue meets no new refusal.
func TestShardKeyUnsharded(t *testing.T) {
	ctx := context.Background()
	q, err := jobqueue.New(memory.New(), "shardkey")
	require.NoError(t, err)
	id, err := q.Enqueue(ctx, 1, jobqueue.ShardKey("customer-7"))
	require.NoError(t, err)
	require.Len(t, id, 32, "a random id, as without the key")
	ids, err := q.EnqueueBatch(ctx, []any{1, 2}, jobqueue.ShardKey("customer-7"))
	require.NoError(t, err)
	require.Len(t, ids, 2)
	for _, bad := range []string{"", "with space", string(make([]byte, 257))} {
		_, err := q.Enqueue(ctx, 1, jobqueue.ShardKey(bad))
		require.ErrorIs(t, err, jobqueue.ErrInvalidArgument, "shard key %q", bad)
	}
	_, err = q.Enqueue(ctx, 1, jobqueue.ShardKey("k"), jobqueue.WithID("mine"))
	require.ErrorIs(t, err, jobqueue.ErrInvalidArgument)
	st, err := q.Stats(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 3, st.Pending, "nothing refused was stored")
}
