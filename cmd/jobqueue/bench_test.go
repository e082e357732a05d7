package main

import (
	"context"
	"regexp"
	"strings"
	"testing"

	goredislib "github.com/redis/go-redis/v9"

	"github.com/jobqueue-go/jobqueue/conformance/redistest"
)

// drainRow matches the drain line of the report: phase, jobs, time, jobs/s.
var drainRow = regexp.MustCompile(`(?m)^\s*drain\s+(\d+)\s+\S+\s+(\d+)`)

func TestBenchOnMemory(t *testing.T) {
	c := &cli{t: t}
	out := c.ok("", "bench", "-backend", "memory", "-jobs", "400", "-producers", "4", "-workers", "8")
	m := drainRow.FindStringSubmatch(out)
	if m == nil || m[1] != "400" || m[2] == "0" {
		t.Fatalf("no drain row for 400 jobs:\n%s", out)
	}
	if !strings.Contains(out, "p99") {
		t.Errorf("no latency line:\n%s", out)
	}
	if r := c.run("", "bench", "-backend", "memory", "-jobs", "0"); r.code != exitUsage || !strings.Contains(r.stderr, "-jobs must be positive") {
		t.Errorf("-jobs 0: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestBenchOnRedis runs the bench on each adapter, on a server of its own,
// and then looks for what it left behind with SCAN: the bench works in a
// queue of its own, which it must remove whole, the wake-up marker of its
// idle workers included.
func TestBenchOnRedis(t *testing.T) {
	srv := redistest.Start(t)
	opt, err := goredislib.ParseURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := goredislib.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	for _, kind := range []string{backendGoredis, backendRueidis} {
		t.Run(kind, func(t *testing.T) {
			c := &cli{t: t, getenv: func(k string) string {
				if k == "REDIS_URL" {
					return srv.URL
				}
				return ""
			}}
			out := c.ok("", "bench", "-backend", kind, "-jobs", "300", "-producers", "4", "-workers", "8")
			m := drainRow.FindStringSubmatch(out)
			if m == nil || m[1] != "300" {
				t.Fatalf("no drain row for 300 jobs:\n%s", out)
			}
			// Redis figures come from INFO: the round trips per job of the
			// drain are a number, not a dash.
			line := m[0] + strings.SplitN(out[strings.Index(out, m[0])+len(m[0]):], "\n", 2)[0]
			if strings.Count(line, " - ") > 0 {
				t.Errorf("drain row lacks Redis figures: %q", line)
			}
			var left []string
			iter := rdb.Scan(context.Background(), 0, "*", 1000).Iterator()
			for iter.Next(context.Background()) {
				left = append(left, iter.Val())
			}
			if err := iter.Err(); err != nil {
				t.Fatal(err)
			}
			if len(left) > 0 {
				t.Errorf("the bench left %d keys behind, such as %q", len(left), left[:min(len(left), 5)])
			}
		})
	}
}
