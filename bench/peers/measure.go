package main

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobqueue-go/jobqueue/internal/load"
)

// cost is what a stretch of a workload cost: the server's counters'
// difference (load.Counters.Since, which leaves out the probe's own INFO
// calls) and this process's CPU time (getrusage).
type cost struct {
	load.Counters
	clientCPU time.Duration
}

// reading is one reading of the counters a cost is the difference of.
type reading struct {
	counters  load.Counters
	clientCPU time.Duration
}

// probe is the measurement's own connection to a server: it reads INFO
// and flushes between workloads. It holds one connection, opened before
// any reading, so that only its INFO calls (and the read of each) fall
// inside a measured stretch, and those are subtracted.
type probe struct {
	c *redis.Client
}

func newProbe(ctx context.Context, addr string) (*probe, error) {
	c := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 1, MinIdleConns: 1})
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		return nil, err
	}
	return &probe{c: c}, nil
}

func (p *probe) close() { _ = p.c.Close() }

// flush empties the server, so that a workload starts from nothing
// another left behind.
func (p *probe) flush(ctx context.Context) error {
	return p.c.FlushAll(ctx).Err()
}

// read takes a reading of the server's counters and of this process's
// CPU time.
func (p *probe) read(ctx context.Context) (reading, error) {
	text, err := p.c.Info(ctx, load.InfoSections...).Result()
	if err != nil {
		return reading{}, err
	}
	c, err := load.ParseInfo(text)
	if err != nil {
		return reading{}, err
	}
	return reading{counters: c, clientCPU: load.ProcessCPU()}, nil
}

// since is the cost between an earlier reading a and r.
func (r reading) since(a reading) cost {
	return cost{Counters: r.counters.Since(a.counters), clientCPU: r.clientCPU - a.clientCPU}
}
