package shard_test

import (
	"testing"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance"
	"github.com/jobqueue-go/jobqueue/memory"
	"github.com/jobqueue-go/jobqueue/shard"
)

// lacks is what a sharded queue does not promise (see the package doc).
var lacks = map[conformance.Capability]string{
	conformance.GlobalOrder:   "jobs keep their order within a shard, not across shards",
	conformance.AtomicBatches: "an enqueue is atomic within a shard, not across shards",
	conformance.SharedLimits:  "a limit is split into one budget per shard",
}

// TestConformanceMemory runs the shared suite on every queue sharded 3
// ways over one memory backend.
func TestConformanceMemory(t *testing.T) {
	b, err := shard.New(memory.New(), map[string]int{shard.Every: 3})
	if err != nil {
		t.Fatal(err)
	}
	conformance.Run(t, conformance.Harness{NewBackend: func(*testing.T) backend.Backend { return b }, Lacks: lacks})
}
