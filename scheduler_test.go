package jobqueue

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSchedulerStalledClaimHoldsNoOneBack grants the queue that goes first
// a claim that never returns: the other queue must be given slots once
// that claim counts as stalled, by weight and by strict priority, and the
// stalled queue must not bank the claims it missed.
func TestSchedulerStalledClaimHoldsNoOneBack(t *testing.T) {
	for name, strict := range map[string]bool{"weights": false, "strict priority": true} {
		t.Run(name, func(t *testing.T) {
			s := newScheduler(8, 2, strict, []int{2, 1})
			s.stall = 20 * time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			n, busy, ok := s.acquire(ctx, 0)
			require.True(t, ok)
			require.True(t, busy)
			require.Equal(t, 2, n)
			// Queue 0 now goes first, by pass or by rank, and its claim
			// hangs: queue 1 claims around it, again and again.
			for range 3 {
				n, busy, ok = s.acquire(ctx, 1)
				require.True(t, ok, "queue 1 never got a slot")
				require.True(t, busy)
				s.claimed(1, n, n, busy, false)
				s.release()
				s.release()
			}
			s.claimed(0, 2, 2, true, false)
			if !strict {
				s.mu.Lock()
				assert.GreaterOrEqual(t, s.qs[0].pass, s.qs[1].pass, "the stalled queue banked the claims it missed")
				s.mu.Unlock()
			}
		})
	}
}
