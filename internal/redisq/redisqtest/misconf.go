// misconf.go checks that writes Redis stops after a failed snapshot
// (MISCONF) fail as backend.ErrUnavailable, and work again once Redis
// takes writes.

package redisqtest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
)

// WritesStopped starts a server that snapshots to a directory, takes that
// directory away and asks for a snapshot, which fails: Redis then refuses
// every write with MISCONF. Enqueue and Claim must fail with
// backend.ErrUnavailable and change nothing, reads go on, and once the
// server takes writes again (stop-writes-on-bgsave-error no) the same
// calls succeed.
func WritesStopped(t *testing.T, open Open) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "snapshots")
	require.NoError(t, os.Mkdir(dir, 0o755))
	srv := redistest.Start(t, redistest.RequireProcess(), redistest.WithArgs("--dir", dir, "--save", "3600 1"))
	admin := adminClient(t, srv.URL)
	b, _ := open(t, srv.URL)
	queue := QueueName(t)
	enqueue := func(id string) error {
		return b.Enqueue(ctx, backend.EnqueueParams{Queue: queue, RequestID: "enqueue-" + id,
			Jobs: []backend.NewJob{{ID: id, Payload: []byte("{}"), MaxAttempts: 1}}})
	}
	claim := backend.ClaimParams{Queue: queue, Max: 1, Lease: time.Minute, RequestID: "claim"}
	require.NoError(t, enqueue("before"))

	require.NoError(t, os.Remove(dir))
	require.NoError(t, admin.BgSave(ctx).Err())
	require.Eventually(t, func() bool {
		info, err := admin.Info(ctx, "persistence").Result()
		return err == nil && strings.Contains(info, "rdb_last_bgsave_status:err")
	}, 30*time.Second, 20*time.Millisecond, "the snapshot into a removed directory should fail")

	err := enqueue("while-stopped")
	assert.ErrorIs(t, err, backend.ErrUnavailable, "Enqueue while writes are stopped")
	assert.ErrorContains(t, err, "MISCONF")
	_, err = b.Claim(ctx, claim)
	assert.ErrorIs(t, err, backend.ErrUnavailable, "Claim while writes are stopped")
	stats, err := b.Stats(ctx, queue)
	require.NoError(t, err, "Stats while writes are stopped")
	assert.Equal(t, int64(1), stats.Pending, "the refused calls changed nothing")
	assert.Zero(t, stats.Processing, "the refused calls changed nothing")

	require.NoError(t, admin.ConfigSet(ctx, "stop-writes-on-bgsave-error", "no").Err())
	require.NoError(t, enqueue("while-stopped"), "the same Enqueue once writes are back")
	got, err := b.Claim(ctx, claim)
	require.NoError(t, err, "the same Claim once writes are back")
	require.Len(t, got, 1)
	assert.Equal(t, "before", got[0].ID)
}
