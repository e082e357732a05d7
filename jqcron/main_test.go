package jqcron

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: they
// run on the memory backend, which starts none of its own, or on Redis
// clients their cleanups close, so every goroutine left is a Scheduler's
// leak.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
