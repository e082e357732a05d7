package redisqtest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/internal/load"
)

// CommandCounts measures how many Redis commands one enqueue, one claim,
// one complete, one failure (retried, and dead) and one reclaim of a
// single job cost in the steady state (and claims on a queue that uses
// priority levels, a worker's beat and the reads, summaries included), from INFO
// commandstats deltas on a server of its own that nothing else uses, and
// logs them.
func CommandCounts(t *testing.T, open Open) map[string]map[string]int64 {
	ctx := context.Background()
	b, info := open(t, redistest.Start(t).URL)
	q := QueueName(t)
	snapshot := func() map[string]int64 {
		m, err := Commandstats(ctx, info)
		if err != nil {
			t.Fatal(err)
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
		d := CommandsSince(before, snapshot())
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
		// Claims on a queue that uses priority levels: one job at the top
		// level, and a batch that takes one job of the top level and one
		// of level 0, which is one pop more.
		for _, c := range []struct {
			op     string
			levels []int
		}{{"claim-level-3", []int{backend.MaxPriority}}, {"claim-levels-3-and-0", []int{backend.MaxPriority, 0}}} {
			jobs := make([]backend.NewJob, len(c.levels))
			for i, l := range c.levels {
				jobs[i] = backend.NewJob{ID: fmt.Sprintf("%s-%s-%d", id, c.op, i), Payload: []byte("x"), MaxAttempts: 1, Priority: l}
			}
			if err := b.Enqueue(ctx, backend.EnqueueParams{Queue: q, Jobs: jobs}); err != nil {
				t.Fatal(err)
			}
			measure(c.op, func() error {
				got, err := b.Claim(ctx, backend.ClaimParams{Queue: q, Max: len(jobs), Lease: time.Minute, RequestID: "c-" + c.op + id})
				if err == nil && len(got) != len(jobs) {
					err = fmt.Errorf("claimed %d jobs of %d", len(got), len(jobs))
				}
				return err
			})
		}
		tracker, ok := b.(backend.WorkerTracker)
		if !ok {
			t.Fatalf("%T does not implement backend.WorkerTracker", b)
		}
		measure("beat", func() error {
			return tracker.Beat(ctx, backend.BeatParams{Queue: q, ID: "process-" + id, TTL: time.Minute})
		})
		reg, ok := b.(backend.QueueRegistry)
		if !ok {
			t.Fatalf("%T does not implement backend.QueueRegistry", b)
		}
		measure("register", func() error { return reg.RegisterQueue(ctx, q) })
		measure("queues", func() error { _, err := reg.Queues(ctx); return err })
		// A retry and a dead-letter by Fail, and a reclaim that requeues:
		// each job ends completed, so the next round starts empty.
		mustClaim := func(n int, lease time.Duration) []backend.ClaimedJob {
			t.Helper()
			got, err := b.Claim(ctx, backend.ClaimParams{Queue: q, Max: n, Lease: lease})
			if err == nil && len(got) != n {
				err = fmt.Errorf("claimed %d jobs of %d", len(got), n)
			}
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		ackOf := func(j backend.ClaimedJob) backend.Ack { return backend.Ack{ID: j.ID, Token: j.Token} }
		fail := func(j backend.ClaimedJob, dead bool) error {
			errs, err := b.Fail(ctx, backend.FailParams{Queue: q, Items: []backend.Failure{{Ack: ackOf(j), Error: "boom", Dead: dead}},
				Retention: backend.Retention{Max: 100, TTL: time.Minute}})
			return errors.Join(err, errors.Join(errs...))
		}
		finish := func(j backend.ClaimedJob) {
			t.Helper()
			errs, err := b.Complete(ctx, backend.CompleteParams{Queue: q, Items: []backend.Completion{{Ack: ackOf(j)}},
				Retention: backend.Retention{Max: 100, TTL: time.Minute}})
			if err := errors.Join(err, errors.Join(errs...)); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Enqueue(ctx, backend.EnqueueParams{Queue: q, Jobs: []backend.NewJob{
			{ID: id + "-retried", Payload: []byte("x"), MaxAttempts: 2}, {ID: id + "-dead", Payload: []byte("x"), MaxAttempts: 2}}}); err != nil {
			t.Fatal(err)
		}
		failing := mustClaim(2, time.Minute)
		measure("fail-retry", func() error { return fail(failing[0], false) })
		measure("fail-dead", func() error { return fail(failing[1], true) })
		finish(mustClaim(1, time.Minute)[0])
		if err := b.Enqueue(ctx, backend.EnqueueParams{Queue: q, Jobs: []backend.NewJob{{ID: id + "-reclaimed", Payload: []byte("x"), MaxAttempts: 2}}}); err != nil {
			t.Fatal(err)
		}
		expiring := mustClaim(1, time.Millisecond)[0]
		// The lease runs out on Redis's clock, which is this machine's.
		for !time.Now().After(expiring.LeaseUntil.Add(time.Millisecond)) {
			time.Sleep(time.Until(expiring.LeaseUntil.Add(time.Millisecond)))
		}
		measure("reclaim", func() error {
			r, err := b.Reclaim(ctx, backend.ReclaimParams{Queue: q, Max: 10, RequestID: "r-" + id})
			if err == nil && len(r.Requeued) != 1 {
				err = fmt.Errorf("reclaimed %v, want the one expired lease requeued", r)
			}
			return err
		})
		finish(mustClaim(1, time.Minute)[0])
		measure("stats", func() error { _, err := b.Stats(ctx, q); return err })
		measure("history", func() error {
			h, ok := b.(backend.Historian)
			if !ok {
				return fmt.Errorf("%T is no backend.Historian", b)
			}
			_, err := h.History(ctx, backend.HistoryParams{Queue: q, Minutes: 60})
			return err
		})
		measure("get", func() error { _, err := b.Get(ctx, q, id); return err })
		measure("summaries", func() error {
			s, ok := b.(backend.Summarizer)
			if !ok {
				return fmt.Errorf("%T is no backend.Summarizer", b)
			}
			_, err := s.Summaries(ctx, backend.SummariesParams{Queue: q, IDs: []string{id, id + "-retried", id + "-dead"}, PreviewBytes: 100})
			return err
		})
		measure("list", func() error {
			_, err := b.List(ctx, backend.ListParams{Queue: q, State: backend.StateCompleted, Limit: 50})
			return err
		})
		// A job of a kind with a limit no claim meets, claimed and
		// completed: what a kind's bookkeeping costs.
		ctl, ok := b.(backend.Controller)
		if !ok {
			t.Fatalf("%T does not implement backend.Controller", b)
		}
		if err := ctl.SetLimits(ctx, backend.LimitParams{Queue: q, Kind: "limited", Limits: backend.Limits{Concurrency: 1000}}); err != nil {
			t.Fatal(err)
		}
		if err := b.Enqueue(ctx, backend.EnqueueParams{Queue: q, Jobs: []backend.NewJob{{ID: id + "-kind", Kind: "limited", Payload: []byte("x"), MaxAttempts: 1}}}); err != nil {
			t.Fatal(err)
		}
		measure("claim-kind-limited", func() error {
			jobs, err := b.Claim(ctx, backend.ClaimParams{Queue: q, Max: 1, Lease: time.Minute, RequestID: "ck-" + id})
			if err == nil && len(jobs) == 1 {
				job = jobs[0]
			}
			return err
		})
		measure("complete-kind-limited", func() error {
			errs, err := b.Complete(ctx, backend.CompleteParams{Queue: q, Items: []backend.Completion{{Ack: backend.Ack{ID: job.ID, Token: job.Token}}},
				Retention: backend.Retention{Max: 100, TTL: time.Minute}})
			return errors.Join(err, errors.Join(errs...))
		})
		if err := ctl.SetLimits(ctx, backend.LimitParams{Queue: q, Kind: "limited"}); err != nil {
			t.Fatal(err)
		}
	}
	reads := map[string]bool{"stats": true, "get": true, "summaries": true, "list": true, "history": true, "queues": true}
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
	// A claim of one job on a queue that only uses level 0 costs what it
	// did before priority levels: TIME, ZRANGEBYSCORE (promotion), one pop
	// (LMPOP, was LPOP), HMGET, HSET, ZADD, SET (request record), one look
	// for jobs left (EXISTS of level 0, was LLEN), ZRANGE (next due),
	// HINCRBY, PUBLISH, and the GET of the request record; and, since
	// pause and limits, the HMGET of the queue's settings.
	if n := Commands(out["claim"]) - 1; n > claimCommands {
		t.Errorf("a claim on a one-level queue ran %d commands besides FCALL, more than %d: %v", n, claimCommands, out["claim"])
	}
	if n := Commands(out["claim-level-3"]) - 1; n > claimCommands {
		t.Errorf("a claim of a job of the top level ran %d commands besides FCALL, more than %d: %v", n, claimCommands, out["claim-level-3"])
	}
	// A batch across two levels pops twice, and reads and leases its
	// second job.
	if n := Commands(out["claim-levels-3-and-0"]) - 1; n > claimCommands+3 {
		t.Errorf("a claim of two jobs of two levels ran %d commands besides FCALL, more than %d: %v", n, claimCommands+3, out["claim-levels-3-and-0"])
	}
	// A beat: TIME, ZADD, and the ZREMRANGEBYSCORE that drops the
	// processes whose beats ran out.
	if n := Commands(out["beat"]) - 1; n > beatCommands {
		t.Errorf("a beat ran %d commands besides FCALL, more than %d: %v", n, beatCommands, out["beat"])
	}
	// A registration: TIME and the ZADD on the registry; a read of the
	// registry: one ZRANGE, whatever it holds.
	for op, most := range map[string]int64{"register": 2, "queues": 1} {
		if n := Commands(out[op]) - 1; n > most {
			t.Errorf("%s ran %d commands besides its FCALL, more than %d: %v", op, n, most, out[op])
		}
	}
	// The state changes that count into the per-minute history pay one
	// HINCRBY per counter they touch (a failure touches two: retried or
	// dead, and failed), and the first call of a minute that creates a
	// field one PEXPIREAT more. A claim that dead-letters nothing pays
	// nothing. An acknowledgement that takes jobs out of processing
	// without arming the marker (a completion, a dead-letter) reads the
	// queue's slot_wanted setting (one HGET), which pause and limits added.
	for op, most := range map[string]int64{"enqueue": 8 + 2, "complete": 12 + 2, "fail-retry": 8 + 3, "fail-dead": 12 + 3, "reclaim": 11 + 2} {
		if n := Commands(out[op]) - 1; n > most {
			t.Errorf("%s ran %d commands besides FCALL, more than %d: %v", op, n, most, out[op])
		}
	}
	// A kind with limits costs its claim the HGETALL of the kinds' limits,
	// the SMEMBERS of the kinds with held jobs, and per kind met the ZCARD
	// of its jobs in processing and the ZADD of those claimed; and its
	// acknowledgement per kind the ZREM of its jobs and the EXISTS of its
	// held lists.
	for op, most := range map[string]int64{"claim-kind-limited": Commands(out["claim"]) + 4, "complete-kind-limited": Commands(out["complete"]) + 2} {
		if n := Commands(out[op]); n > most {
			t.Errorf("%s ran %d commands, more than %d: %v", op, n, most, out[op])
		}
	}
	// A read of the last hour's history: TIME and one HGETALL per hour it
	// touches.
	if n := Commands(out["history"]) - 1; n > 3 {
		t.Errorf("a History of 60 minutes ran %d commands besides FCALL_RO, more than 3: %v", n, out["history"])
	}
	// Summaries of three jobs: TIME, and per job HKEYS, HMGET, and, for
	// its payload, HSTRLEN and the HGET that the preview is cut from.
	if n := Commands(out["summaries"]) - 1; n > 1+3*4 {
		t.Errorf("Summaries of 3 jobs ran %d commands besides FCALL_RO, more than %d: %v", n, 1+3*4, out["summaries"])
	}
	_ = b.Purge(ctx, backend.PurgeParams{Queue: q})
	if reg, ok := b.(backend.QueueRegistry); ok {
		_ = reg.ForgetQueue(ctx, q)
	}
	return out
}

// beatCommands is what a beat costs besides its FCALL.
const beatCommands = 3

// claimCommands is what a claim of one job costs besides its FCALL; it
// counts nothing into the history.
const claimCommands = 13

// Commandstats returns the calls of each command the server has run, by
// its name in INFO commandstats ("fcall_ro", "function|load"), those run
// inside functions included.
func Commandstats(ctx context.Context, info load.InfoFunc) (map[string]int64, error) {
	s, err := info(ctx, "commandstats")
	if err != nil {
		return nil, err
	}
	return parseCommandstats(s), nil
}

// parseCommandstats reads the commandstats section of an INFO reply s.
func parseCommandstats(s string) map[string]int64 {
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

// CommandsSince returns the commands run between two Commandstats
// readings, less the INFO of the later reading itself: what was measured
// when nothing else uses the server.
func CommandsSince(before, after map[string]int64) map[string]int64 {
	d := map[string]int64{}
	for k, v := range after {
		if n := v - before[k]; n > 0 && k != "info" {
			d[k] = n
		}
	}
	if n := after["info"] - before["info"] - 1; n > 0 {
		d["info"] = n
	}
	return d
}

// Commands sums the calls of a CommandsSince.
func Commands(d map[string]int64) int64 {
	var n int64
	for _, c := range d {
		n += c
	}
	return n
}

// writeCommands are the commands that change data among those the scripts
// call.
var writeCommands = map[string]bool{
	"set": true, "del": true, "hset": true, "hdel": true, "hincrby": true, "lpush": true, "rpush": true,
	"lpop": true, "rpop": true, "lrem": true, "ltrim": true, "zadd": true, "zrem": true,
	"zremrangebyrank": true, "zremrangebyscore": true, "pexpire": true, "pexpireat": true, "persist": true, "publish": true, "lmpop": true,
}

// Cost is what a call cost the Redis server.
type Cost struct {
	load.Counters
	// ByCommand are the commands run, as CommandsSince gives them, less
	// those that set up a connection (HELLO, CLIENT …, AUTH, SELECT): a
	// client that opens one more connection for a call has not made the
	// call dearer.
	ByCommand map[string]int64
}

// Measure runs f and returns what it cost the Redis server behind info,
// from INFO readings before and after: a server nothing else uses while
// f runs, since Redis counts the whole server. Its OutputBytes include
// the first reading's INFO reply, a few KiB.
func Measure(t testing.TB, info load.InfoFunc, f func()) Cost {
	t.Helper()
	read := func() (load.Counters, map[string]int64) {
		t.Helper()
		text, err := info(context.Background(), load.InfoSections...)
		if err != nil {
			t.Fatalf("INFO: %v", err)
		}
		c, err := load.ParseInfo(text)
		if err != nil {
			t.Fatalf("INFO: %v", err)
		}
		return c, parseCommandstats(text)
	}
	c0, m0 := read()
	f()
	c1, m1 := read()
	cost := Cost{Counters: c1.Since(c0), ByCommand: CommandsSince(m0, m1)}
	for name := range cost.ByCommand {
		if cmd, _, _ := strings.Cut(name, "|"); cmd == "hello" || cmd == "client" || cmd == "auth" || cmd == "select" {
			delete(cost.ByCommand, name)
		}
	}
	return cost
}

// PollBytes bounds what Redis may send for one poll of a page of job
// summaries, whatever the jobs' payloads: the summaries of a page of 50
// jobs with their previews, and the INFO reply of Measure, come to a few
// tens of KiB.
const PollBytes = 256 << 10

// RequirePreviewsOnly checks what one read of a page of jobs cost Redis
// when their payloads are small and when they are large (1 MiB): the same
// calls with no command more inside them, at most PollBytes with the
// large payloads, and no more bytes
// than with the small ones but the large payloads' longer previews, jobs
// previews of previewBytes at the most. The read sent previews, not
// payloads.
func RequirePreviewsOnly(t testing.TB, small, large Cost, jobs, previewBytes int) {
	t.Helper()
	if large.OutputBytes > PollBytes {
		t.Errorf("a read of jobs of large payloads cost %d bytes from Redis, more than %d", large.OutputBytes, PollBytes)
	}
	if grown, most := large.OutputBytes-small.OutputBytes, int64(jobs*previewBytes); grown > most {
		t.Errorf("a read of jobs of large payloads cost %d bytes from Redis, one of small payloads %d: %d more than %d jobs' previews of %d bytes",
			large.OutputBytes, small.OutputBytes, grown-most, jobs, previewBytes)
	}
	// The same calls, and inside them no command more: a payload too
	// large to preview is not read at all (backend.MaxPreviewedPayload).
	more := false
	for cmd, n := range large.ByCommand {
		more = more || n > small.ByCommand[cmd]
	}
	for _, call := range []string{"fcall", "fcall_ro"} {
		more = more || large.ByCommand[call] != small.ByCommand[call]
	}
	if more {
		t.Errorf("a read of jobs of small payloads ran %v, one of large payloads %v: want the same calls, and no command more", small.ByCommand, large.ByCommand)
	}
}
