package shard_test

import (
	"testing"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance"
	"github.com/jobqueue-go/jobqueue/internal/redisq/redisqtest"
	"github.com/jobqueue-go/jobqueue/memory"
	"github.com/jobqueue-go/jobqueue/shard"
)

// TestConformanceMemory runs the shared suite on every queue sharded 3
// ways over one memory backend. The Redis adapters run it on a Cluster
// (TestClusterSharded).
func TestConformanceMemory(t *testing.T) {
	b, err := shard.New(memory.New(), map[string]int{shard.Every: 3})
	if err != nil {
		t.Fatal(err)
	}
	conformance.Run(t, conformance.Harness{NewBackend: func(*testing.T) backend.Backend { return b }, Lacks: redisqtest.ShardLacks})
}
