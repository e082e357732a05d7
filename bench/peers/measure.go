package main

import (
	"bufio"
	"context"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// cost is what a stretch of a workload cost, as deltas of counters. Redis
// counts the whole server, so a server nothing else uses is measured.
type cost struct {
	// commands is the sum of the calls of every command in INFO
	// commandstats (those run inside scripts included) less the probe's
	// own INFO calls.
	commands int64
	// reads is INFO stats total_reads_processed less the probe's own:
	// the socket reads Redis served, about one per round trip (a pipeline
	// that arrives at once is one read).
	reads int64
	// redisCPU is used_cpu_user + used_cpu_sys of the server.
	redisCPU time.Duration
	// clientCPU is this process's user and system time (getrusage).
	clientCPU time.Duration
}

// reading is one reading of the counters a cost is the difference of.
type reading struct {
	commands, infoCalls, reads int64
	redisCPU, clientCPU        time.Duration
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
	text, err := p.c.Info(ctx, "commandstats", "cpu", "stats").Result()
	if err != nil {
		return reading{}, err
	}
	r := parseInfo(text)
	r.clientCPU = processCPU()
	return r, nil
}

// since is the cost between an earlier reading a and r. The stretch
// between them holds one INFO call of the probe's and the socket read
// that carried it, which are left out.
func (r reading) since(a reading) cost {
	return cost{
		commands:  r.commands - a.commands - (r.infoCalls - a.infoCalls),
		reads:     r.reads - a.reads - (r.infoCalls - a.infoCalls),
		redisCPU:  r.redisCPU - a.redisCPU,
		clientCPU: r.clientCPU - a.clientCPU,
	}
}

// parseInfo reads the counters a reading needs from an INFO reply.
func parseInfo(text string) reading {
	var r reading
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		name, value, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if !ok {
			continue
		}
		switch {
		case strings.HasPrefix(name, "cmdstat_"):
			calls := statField(value, "calls")
			r.commands += calls
			if name == "cmdstat_info" {
				r.infoCalls = calls
			}
		case name == "used_cpu_user" || name == "used_cpu_sys":
			f, _ := strconv.ParseFloat(value, 64)
			r.redisCPU += time.Duration(f * float64(time.Second))
		case name == "total_reads_processed":
			r.reads, _ = strconv.ParseInt(value, 10, 64)
		}
	}
	return r
}

// statField returns one integer field of a commandstats value such as
// "calls=12,usec=40,usec_per_call=3.33".
func statField(value, field string) int64 {
	for kv := range strings.SplitSeq(value, ",") {
		if k, v, _ := strings.Cut(kv, "="); k == field {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// processCPU returns the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
