package redisqtest

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
)

// CommandCounts measures how many Redis commands one enqueue, one claim and
// one complete of a single job cost in the steady state, from INFO
// commandstats deltas on a server of its own that nothing else uses, and
// logs them.
func CommandCounts(t *testing.T, open Open) map[string]map[string]int64 {
	ctx := context.Background()
	b, info := open(t, redistest.Start(t).URL)
	q := QueueName(t)
	snapshot := func() map[string]int64 {
		s, err := info(ctx, "commandstats")
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]int64{}
		for _, line := range strings.Split(s, "\n") {
			name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
			if !ok || !strings.HasPrefix(name, "cmdstat_") {
				continue
			}
			calls, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
			m[strings.TrimPrefix(name, "cmdstat_")], _ = strconv.ParseInt(calls, 10, 64)
		}
		return m
	}
	out := map[string]map[string]int64{}
	var first map[string]int64
	measure := func(op string, f func() error) {
		t.Helper()
		before := snapshot()
		if err := f(); err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		after := snapshot()
		d := map[string]int64{}
		for k, v := range after {
			if n := v - before[k]; n > 0 && k != "info" {
				d[k] = n
			}
		}
		if n := after["info"] - before["info"] - 1; n > 0 {
			d["info"] = n
		}
		if first == nil {
			first = d
		}
		out[op] = d
	}
	// The first round loads the function library (the first FCALL finds
	// no function, FUNCTION LOAD, FCALL again) and lets the client set up
	// its connections; the second is the steady state. The calls carry
	// request ids, as the Queue's do.
	for _, id := range []string{"warm-up", "measured"} {
		var job backend.ClaimedJob
		measure("enqueue", func() error {
			return b.Enqueue(ctx, backend.EnqueueParams{Queue: q, Jobs: []backend.NewJob{{ID: id, Payload: []byte("x"), MaxAttempts: 1}}, RequestID: "e-" + id})
		})
		if id == "warm-up" {
			t.Logf("first enqueue on a fresh server: %v", first)
			if first["function|load"] != 1 || first["fcall"] != 2 {
				t.Errorf("first enqueue on a fresh server: want one FUNCTION LOAD between two FCALLs, got %v", first)
			}
		}
		measure("claim", func() error {
			jobs, err := b.Claim(ctx, backend.ClaimParams{Queue: q, Max: 1, Lease: time.Minute, RequestID: "c-" + id})
			if err == nil && len(jobs) == 1 {
				job = jobs[0]
			}
			return err
		})
		measure("complete", func() error {
			errs, err := b.Complete(ctx, backend.CompleteParams{Queue: q, Items: []backend.Completion{{Ack: backend.Ack{ID: job.ID, Token: job.Token}}},
				Retention: backend.Retention{Max: 100, TTL: time.Minute}})
			return errors.Join(err, errors.Join(errs...))
		})
		measure("stats", func() error { _, err := b.Stats(ctx, q); return err })
		measure("get", func() error { _, err := b.Get(ctx, q, id); return err })
		measure("list", func() error {
			_, err := b.List(ctx, backend.ListParams{Queue: q, State: backend.StateCompleted, Limit: 50})
			return err
		})
	}
	reads := map[string]bool{"stats": true, "get": true, "list": true}
	for op, d := range out {
		t.Logf("%s: %v", op, d)
		call, other := "fcall", "fcall_ro"
		if reads[op] {
			call, other = other, call
			for cmd := range d {
				if writeCommands[cmd] {
					t.Errorf("%s, a read, ran %s: %v", op, cmd, d)
				}
			}
		}
		if d[call] != 1 || d[other]+d["function|load"] != 0 || len(d) < 2 {
			t.Errorf("%s: want one %s round trip, got %v", op, strings.ToUpper(call), d)
		}
	}
	_ = b.Purge(ctx, backend.PurgeParams{Queue: q})
	return out
}

// writeCommands are the commands that change data among those the scripts
// call.
var writeCommands = map[string]bool{
	"set": true, "del": true, "hset": true, "hdel": true, "hincrby": true, "lpush": true, "rpush": true,
	"lpop": true, "rpop": true, "lrem": true, "ltrim": true, "zadd": true, "zrem": true,
	"zremrangebyrank": true, "pexpire": true, "persist": true, "publish": true,
}
