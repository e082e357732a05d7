package bench

import (
	"context"
	"flag"
	"os"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/internal/load"
	"github.com/jobqueue-go/jobqueue/internal/redisq/redisqtest"
)

var (
	measure     = flag.Bool("measure", false, "run TestMeasure: load.Run on both Redis adapters against a Redis of its own")
	measureJobs = flag.Int("measure.n", load.DefaultJobs, "jobs per throughput run of TestMeasure")
	measureRate = flag.Float64("measure.rate", 1000, "offered jobs/s of TestMeasure's latency run")
	measureFor  = flag.Duration("measure.for", 5*time.Second, "length of TestMeasure's latency run")
	measureURL  = flag.String("measure.url", "", "Redis URL for TestMeasure instead of a server of its own, to inspect it afterwards")
	measureRun  = flag.String("measure.only", "", "run only the TestMeasure runs whose name (single, batch100, latency) is this")
)

// TestMeasure prints load.Run reports for both Redis adapters: single and
// batched enqueue followed by a drain, then the latency mode. It runs only
// with -measure, on a redis-server of its own, so that INFO counts this
// test's commands and nothing else's.
func TestMeasure(t *testing.T) {
	if !*measure {
		t.Skip("run with -measure")
	}
	url := *measureURL
	if url == "" {
		url = redistest.Start(t).URL
	}
	adapters := []struct {
		name string
		open redisqtest.Open
	}{
		{"goredis", redisqtest.GoRedis},
		{"rueidis", redisqtest.Rueidis},
	}
	runs := []struct {
		name string
		cfg  load.Config
	}{
		{"single", load.Config{Jobs: *measureJobs}},
		{"batch100", load.Config{Jobs: *measureJobs, Batch: 100, Producers: 4}},
		{"latency", load.Config{Rate: *measureRate, Duration: *measureFor}},
	}
	for _, a := range adapters {
		for _, r := range runs {
			if *measureRun != "" && r.name != *measureRun {
				continue
			}
			t.Run(a.name+"/"+r.name, func(t *testing.T) {
				b, info := a.open(t, url)
				cfg := r.cfg
				cfg.Name, cfg.Queue, cfg.Info = a.name, newQueue(t, b), info
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				rep, err := load.Run(ctx, cfg, load.Terminal(os.Stderr))
				if err != nil {
					t.Fatal(err)
				}
				if err := rep.WriteTable(os.Stdout); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}
