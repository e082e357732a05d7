package goredis_test

import (
	"testing"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance"
	"github.com/jobqueue-go/jobqueue/internal/redisq/redisqtest"
)

// TestConformance runs the shared suite on one backend that every test
// shares, as a process would, so queue isolation is exercised too.
func TestConformance(t *testing.T) {
	b := newBackend(t)
	conformance.Run(t, conformance.Harness{
		NewBackend:  func(*testing.T) backend.Backend { return b },
		LoseReplies: redisqtest.LoseReplies(redisqtest.GoRedis, "max_retries=-1"),
	})
}
