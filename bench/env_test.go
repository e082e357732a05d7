package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/internal/load"
	"github.com/jobqueue-go/jobqueue/internal/redisq/redisqtest"
	"github.com/jobqueue-go/jobqueue/memory"
)

// Sizes of the workloads that pre-load a queue; flags so a measurement can
// raise them (go test -bench Reclaim -args -reclaim.n=1000000).
var (
	drainJobs   = flag.Int("drain.n", 50_000, "jobs drained per iteration of BenchmarkDrain")
	reclaimJobs = flag.Int("reclaim.n", 100_000, "in-flight jobs of BenchmarkReclaim")
)

func TestMain(m *testing.M) { redistest.Main(m) }

// payloadSize is the size of every benchmark job's JSON payload.
const payloadSize = 100

// target is one backend under test: a name for the sub-benchmark and a
// constructor that registers its own cleanup on tb.
type target struct {
	name string
	open func(tb testing.TB) (backend.Backend, load.InfoFunc)
}

// onShared opens a Redis adapter on the shared server.
func onShared(open redisqtest.Open) func(testing.TB) (backend.Backend, load.InfoFunc) {
	return func(tb testing.TB) (backend.Backend, load.InfoFunc) { return open(tb, redistest.Shared(tb).URL) }
}

// targets are the backends every workload runs on, all on one Redis server
// per test binary.
var targets = []target{
	{"memory", func(testing.TB) (backend.Backend, load.InfoFunc) { return memory.New(), nil }},
	{"goredis", onShared(redisqtest.GoRedis)},
	{"rueidis", onShared(redisqtest.Rueidis)},
}

// newQueue opens a queue with a name unique to this run on b, purged when
// tb ends.
func newQueue(tb testing.TB, b backend.Backend, opts ...jobqueue.Option) *jobqueue.Queue {
	var r [6]byte
	_, _ = rand.Read(r[:])
	q, err := jobqueue.New(b, "bench-"+hex.EncodeToString(r[:]), opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := q.Purge(ctx); err != nil {
			tb.Error(err)
		}
	})
	return q
}

// payload is a 100-byte JSON payload.
func payload() []byte { return load.Payload(time.Now().UnixNano(), payloadSize) }
