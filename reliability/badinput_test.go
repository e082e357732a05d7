package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/internal/redisq"
	"github.com/jobqueue-go/jobqueue/internal/redisq/redisqtest"
	"github.com/jobqueue-go/jobqueue/memory"
)

// TestBadInput is scenario 13: input no caller should send and records no
// process should have written. On each Redis adapter, with a server of its
// own:
//
//   - unsafe queue names are refused by jobqueue.New and by every backend
//     method with ErrInvalidQueueName, without a panic and before anything
//     reaches Redis;
//   - payloads at the limit are stored and come back byte for byte, one
//     byte over is refused with ErrPayloadTooLarge and stores nothing, and
//     an empty payload gets the same answer as on the memory backend;
//   - job hashes corrupted by hand read as ErrCorruptJob, are dead-lettered
//     with the reason by the claim that meets them, and the rest of the
//     queue drains through a Worker with coherent counters.
func TestBadInput(t *testing.T) {
	for _, a := range []struct {
		name string
		open redisqtest.Open
	}{{"goredis", redisqtest.GoRedis}, {"rueidis", redisqtest.Rueidis}} {
		t.Run(a.name, func(t *testing.T) {
			srv := redistest.Start(t, redistest.RequireProcess())
			b, _ := a.open(t, srv.URL)
			raw := rawClient(t, srv.URL)
			var names nameResult
			var records recordResult
			t.Run("QueueNames", func(t *testing.T) { names = badQueueNames(t, b, raw) })
			t.Run("Payloads", func(t *testing.T) { badPayloads(t, b, raw) })
			t.Run("CorruptRecords", func(t *testing.T) { records = corruptRecords(t, b, raw) })
			report(t, Row{
				Scenario: "13 bad input",
				Injected: fmt.Sprintf("%d unsafe queue names × %d calls; payloads of 0 B, 1 MiB, 1 MiB + 1 B; %d job hashes corrupted by hand among %d jobs",
					names.names, names.calls, records.corrupt, records.jobs),
				Jobs: records.jobs, Lost: records.lost, Duplicates: records.duplicates,
				Result: fmt.Sprintf("%d of %d calls refused with ErrInvalidQueueName, %d keys written; 1 MiB payload byte-exact, 1 MiB + 1 B refused; %d corrupt records read as ErrCorruptJob and dead-lettered with the reason, %d good jobs completed",
					names.refused, names.names*names.calls, names.keys, records.deadLettered, records.completed),
			})
		})
	}
}

// errClass names the error of the contract that err wraps, for messages
// and for comparing backends.
func errClass(err error) string {
	if err == nil {
		return "ok"
	}
	for _, e := range []error{backend.ErrInvalidQueueName, backend.ErrInvalidArgument, backend.ErrPayloadTooLarge,
		backend.ErrCorruptJob, backend.ErrNotFound, backend.ErrInvalidState} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "other error: " + err.Error()
}

// noPanic runs f and turns a panic into an error, so one bad call is
// reported with its name instead of ending the test binary.
func noPanic(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return f()
}

// unsafeQueueNames are names that could break a hash tag ({ }), a key
// layout (:), a SCAN or KEYS pattern (* ? [ ] \), a log line, or a key's
// size, or that are no names at all.
var unsafeQueueNames = []string{
	"", " ", "a b", "{", "}", "a{b}c", "{jobs}", "a:b", "jobs:job", "*", "a?", "[a]", `a\b`, "a\x00b", "a\nb",
	"\xff\xfe", "caf\xc3\xa9", strings.Repeat("q", backend.MaxQueueNameLen+1), strings.Repeat("q", 10<<10),
}

type nameResult struct{ names, calls, refused, keys int }

// badQueueNames calls jobqueue.New and every backend method with each
// unsafe name. Each must be refused with ErrInvalidQueueName and a short
// message, and none may reach Redis: the database stays empty and the
// server ran no command but the test's own.
func badQueueNames(t *testing.T, b backend.Backend, raw *redis.Client) nameResult {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if n := raw.DBSize(ctx).Val(); n != 0 {
		t.Fatalf("the server starts with %d keys", n)
	}
	before := commandCalls(t, raw)
	ack := backend.Ack{ID: "j1", Token: "t"}
	calls := []struct {
		name string
		call func(queue string) error
	}{
		{"jobqueue.New", func(q string) error {
			queue, err := jobqueue.New(b, q)
			if err == nil || queue != nil {
				return fmt.Errorf("got a queue %v and %v", queue, err)
			}
			return err
		}},
		{"Enqueue", func(q string) error {
			return b.Enqueue(ctx, backend.EnqueueParams{Queue: q, Jobs: []backend.NewJob{{ID: "j1", Payload: []byte("{}"), MaxAttempts: 1}}})
		}},
		{"Claim", func(q string) error {
			_, err := b.Claim(ctx, backend.ClaimParams{Queue: q, Max: 1, Lease: time.Second, Wait: time.Second})
			return err
		}},
		{"Complete", func(q string) error {
			_, err := b.Complete(ctx, backend.CompleteParams{Queue: q, Items: []backend.Completion{{Ack: ack}}})
			return err
		}},
		{"Fail", func(q string) error {
			_, err := b.Fail(ctx, backend.FailParams{Queue: q, Items: []backend.Failure{{Ack: ack, Error: "x"}}})
			return err
		}},
		{"Release", func(q string) error {
			_, err := b.Release(ctx, backend.ReleaseParams{Queue: q, Items: []backend.Ack{ack}})
			return err
		}},
		{"Extend", func(q string) error {
			_, err := b.Extend(ctx, backend.ExtendParams{Queue: q, Items: []backend.Ack{ack}, Lease: time.Second})
			return err
		}},
		{"Reclaim", func(q string) error {
			_, err := b.Reclaim(ctx, backend.ReclaimParams{Queue: q, Max: 1})
			return err
		}},
		{"Get", func(q string) error { _, err := b.Get(ctx, q, "j1"); return err }},
		{"List", func(q string) error {
			_, err := b.List(ctx, backend.ListParams{Queue: q, State: backend.StatePending, Limit: 1})
			return err
		}},
		{"Stats", func(q string) error { _, err := b.Stats(ctx, q); return err }},
		{"History", func(q string) error {
			h, ok := b.(backend.Historian)
			if !ok {
				return errors.New("the backend keeps no history")
			}
			_, err := h.History(ctx, backend.HistoryParams{Queue: q, Minutes: 60})
			return err
		}},
		{"Purge", func(q string) error { return b.Purge(ctx, backend.PurgeParams{Queue: q}) }},
		{"RetryDead", func(q string) error { return b.RetryDead(ctx, backend.RetryDeadParams{Queue: q, ID: "j1"}) }},
		{"Delete", func(q string) error { return b.Delete(ctx, backend.DeleteParams{Queue: q, ID: "j1"}) }},
		{"RegisterQueue", func(q string) error {
			r, ok := b.(backend.QueueRegistry)
			if !ok {
				return errors.New("the backend keeps no registry of queues")
			}
			return r.RegisterQueue(ctx, q)
		}},
		{"ForgetQueue", func(q string) error {
			r, ok := b.(backend.QueueRegistry)
			if !ok {
				return errors.New("the backend keeps no registry of queues")
			}
			return r.ForgetQueue(ctx, q)
		}},
		{"Subscribe", func(q string) error {
			s, ok := b.(backend.Subscriber)
			if !ok {
				return errors.New("the backend does not publish events")
			}
			sctx, stop := context.WithCancel(ctx)
			defer stop()
			ch, err := s.Subscribe(sctx, q)
			if err == nil || ch != nil {
				return fmt.Errorf("got a subscription and %v", err)
			}
			return err
		}},
	}
	r := nameResult{names: len(unsafeQueueNames), calls: len(calls)}
	for _, name := range unsafeQueueNames {
		for _, c := range calls {
			err := noPanic(func() error { return c.call(name) })
			short := name
			if len(short) > 20 {
				short = short[:20] + "…"
			}
			switch {
			case !errors.Is(err, backend.ErrInvalidQueueName):
				t.Errorf("%s(%q): %v, want ErrInvalidQueueName", c.name, short, err)
			case !strings.HasPrefix(err.Error(), "jobqueue: invalid queue name: ") || len(err.Error()) > 200:
				t.Errorf("%s(%q): message %q: want it to start with the error and stay short", c.name, short, err)
			default:
				r.refused++
			}
		}
	}
	r.keys = int(raw.DBSize(ctx).Val())
	if r.keys != 0 {
		keys, _ := raw.Keys(ctx, "*").Result()
		t.Errorf("bad queue names left %d keys: %q", r.keys, keys)
	}
	after := commandCalls(t, raw)
	for cmd, n := range after {
		if n > before[cmd] && !ownCommands[cmd] {
			t.Errorf("bad queue names reached Redis: %s ran %d times", cmd, n-before[cmd])
		}
	}

	// The longest safe name works: the refusals above are the names', not
	// the server's.
	longest := strings.Repeat("q", backend.MaxQueueNameLen)
	q, err := jobqueue.New(b, longest)
	if err != nil {
		t.Fatalf("a %d-byte safe name: %v", len(longest), err)
	}
	if _, err := q.Enqueue(ctx, "hi"); err != nil {
		t.Fatalf("enqueue on a %d-byte safe name: %v", len(longest), err)
	}
	if err := q.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	return r
}

// ownCommands are what the test itself and a client connecting send:
// anything else in the command statistics came from a refused call.
var ownCommands = map[string]bool{"info": true, "dbsize": true, "hello": true, "ping": true,
	"client|setinfo": true, "client|setname": true, "client|id": true,
	"client|tracking": true, "cluster|slots": true}

// commandCalls reads the calls of each command from INFO commandstats.
func commandCalls(t *testing.T, raw *redis.Client) map[string]int64 {
	info, err := raw.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]int64{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		var n int64
		if _, err := fmt.Sscanf(rest, "calls=%d", &n); err == nil {
			calls[strings.TrimPrefix(name, "cmdstat_")] = n
		}
	}
	return calls
}

// jsonString returns a JSON string of exactly n bytes (n >= 2) that holds
// ASCII, escapes, a NUL escape, DEL and multi-byte UTF-8, so a payload that
// comes back changed in any byte is noticed.
func jsonString(n int) []byte {
	pieces := []string{"abc", `\"`, `\\`, `\n`, `\u0000`, "é", "€", "𝄞", " ", "\x7f", "{}"}
	b := make([]byte, 0, n)
	b = append(b, '"')
	for i := 0; len(b) < n-1; i++ {
		p := pieces[i%len(pieces)]
		if len(b)+len(p) > n-1 {
			p = strings.Repeat("x", n-1-len(b))
		}
		b = append(b, p...)
	}
	return append(b, '"')
}

// badPayloads runs payloadOutcomes on the adapter and on the memory
// backend: both must give the same answers.
func badPayloads(t *testing.T, b backend.Backend, raw *redis.Client) {
	// The registry of queues is left out: the Queue registers its queue
	// in the background after its first enqueue, which may create the
	// registry's key while a refused enqueue is being checked. Both counts
	// are read in one transaction, so that the key cannot appear between
	// them.
	keys := func() int64 {
		var size, registry *redis.IntCmd
		_, err := raw.TxPipelined(context.Background(), func(p redis.Pipeliner) error {
			size, registry = p.DBSize(context.Background()), p.Exists(context.Background(), redisq.RegistryKey)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return size.Val() - registry.Val()
	}
	got := payloadOutcomes(t, b, keys)
	want := payloadOutcomes(t, memory.New(), nil)
	if !slices.Equal(got, want) {
		t.Errorf("the adapter and the memory backend disagree:\nadapter: %q\nmemory:  %q", got, want)
	}
}

// payloadOutcomes checks the payload edges on b and returns what happened
// at each, in words, for comparing backends. keys counts the keys in the
// store (nil: not known).
func payloadOutcomes(t *testing.T, b backend.Backend, keys func() int64) []string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out []string
	note := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }

	// roundTrip enqueues v on q and, when it is accepted, claims it back
	// and checks its bytes; refused, it checks that nothing was stored.
	roundTrip := func(q *jobqueue.Queue, what string, v any, want []byte) {
		t.Helper()
		before, err := q.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var keysBefore int64
		if keys != nil {
			keysBefore = keys()
		}
		id, err := q.Enqueue(ctx, v)
		if err != nil {
			note("%s: %s", what, errClass(err))
			after, serr := q.Stats(ctx)
			if serr != nil || after.EnqueuedTotal != before.EnqueuedTotal || after.Pending != before.Pending {
				t.Errorf("%s: refused (%v) but the queue went from %+v to %+v (%v)", what, err, before.Stats, after.Stats, serr)
			}
			if keys != nil && keys() != keysBefore {
				t.Errorf("%s: refused (%v) but the store went from %d to %d keys", what, err, keysBefore, keys())
			}
			return
		}
		jobs, err := q.Claim(ctx, 1, time.Second)
		if err != nil || len(jobs) != 1 || jobs[0].ID != id {
			t.Fatalf("%s: claim = %v, %v", what, jobs, err)
		}
		info, err := q.Get(ctx, id)
		if err != nil {
			t.Fatalf("%s: Get: %v", what, err)
		}
		exact := bytes.Equal(jobs[0].Payload, want) && bytes.Equal(info.Payload, want)
		if !exact {
			t.Errorf("%s: %d bytes enqueued, %d claimed and %d read back, or different bytes", what, len(want), len(jobs[0].Payload), len(info.Payload))
		}
		if err := jobs[0].Complete(ctx, nil); err != nil {
			t.Fatalf("%s: complete: %v", what, err)
		}
		note("%s: ok, %d bytes back, exact %v", what, len(jobs[0].Payload), exact)
	}

	q, err := jobqueue.New(b, "payloads")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Purge(context.Background()) })

	// Empty payloads. JSON has no empty value, so the Queue, which stores
	// JSON, refuses every form of it as invalid input; a nil value is the
	// JSON null.
	roundTrip(q, "json.RawMessage{}", json.RawMessage{}, nil)
	roundTrip(q, "json.RawMessage(nil)", json.RawMessage(nil), nil)
	roundTrip(q, "[]byte{}", []byte{}, nil)
	roundTrip(q, "nil", nil, []byte("null"))
	// The backend contract is bytes, so the backend itself stores an empty
	// payload and hands it back empty.
	err = b.Enqueue(ctx, backend.EnqueueParams{Queue: "payloads", Jobs: []backend.NewJob{{ID: "empty", MaxAttempts: 1}}})
	if err != nil {
		t.Fatalf("backend enqueue of an empty payload: %v", err)
	}
	claimed, err := b.Claim(ctx, backend.ClaimParams{Queue: "payloads", Max: 1, Lease: time.Minute, Wait: time.Second})
	if err != nil || len(claimed) != 1 || claimed[0].ID != "empty" {
		t.Fatalf("backend claim of an empty payload: %v, %v", claimed, err)
	}
	note("backend, 0 bytes: %d bytes back", len(claimed[0].Payload))

	// The limits: the default 1 MiB, and a small one.
	for _, limit := range []int{jobqueue.DefaultPayloadLimit, 100} {
		var opts []jobqueue.Option
		if limit != jobqueue.DefaultPayloadLimit {
			opts = append(opts, jobqueue.WithPayloadLimit(limit))
		}
		ql, err := jobqueue.New(b, "payloads", opts...)
		if err != nil {
			t.Fatal(err)
		}
		at, over := jsonString(limit), jsonString(limit+1)
		if !json.Valid(at) || !json.Valid(over) || len(at) != limit || len(over) != limit+1 {
			t.Fatalf("the test's payloads are wrong: %d and %d bytes", len(at), len(over))
		}
		roundTrip(ql, fmt.Sprintf("%d bytes, limit %d", limit, limit), json.RawMessage(at), at)
		roundTrip(ql, fmt.Sprintf("%d bytes, limit %d", limit+1, limit), json.RawMessage(over), nil)
		// One payload over the limit refuses the whole batch.
		before, _ := ql.Stats(ctx)
		_, err = ql.EnqueueBatch(ctx, []any{json.RawMessage(`{"ok":1}`), json.RawMessage(over)})
		after, _ := ql.Stats(ctx)
		if after.EnqueuedTotal != before.EnqueuedTotal || after.Pending != before.Pending {
			t.Errorf("a refused batch stored jobs: %+v -> %+v", before.Stats, after.Stats)
		}
		note("batch with one payload of %d bytes, limit %d: %s", limit+1, limit, errClass(err))
	}
	want := []string{
		"json.RawMessage{}: " + backend.ErrInvalidArgument.Error(),
		"json.RawMessage(nil): " + backend.ErrInvalidArgument.Error(),
		"[]byte{}: " + backend.ErrInvalidArgument.Error(),
		"nil: ok, 4 bytes back, exact true",
		"backend, 0 bytes: 0 bytes back",
		"1048576 bytes, limit 1048576: ok, 1048576 bytes back, exact true",
		"1048577 bytes, limit 1048576: " + backend.ErrPayloadTooLarge.Error(),
		"batch with one payload of 1048577 bytes, limit 1048576: " + backend.ErrPayloadTooLarge.Error(),
		"100 bytes, limit 100: ok, 100 bytes back, exact true",
		"101 bytes, limit 100: " + backend.ErrPayloadTooLarge.Error(),
		"batch with one payload of 101 bytes, limit 100: " + backend.ErrPayloadTooLarge.Error(),
	}
	if !slices.Equal(out, want) {
		t.Errorf("payload outcomes:\n got %q\nwant %q", out, want)
	}
	return out
}

// corruption is one way of damaging a job's hash by hand, and what the
// dead-letter reason must then name.
type corruption struct {
	name   string
	damage func(ctx context.Context, raw *redis.Client, key string) error
	reason string
	// delayed corrupts a job still waiting for its run time, so the
	// damage reaches the claim through the promotion of due jobs.
	delayed bool
}

func hdel(fields ...string) func(context.Context, *redis.Client, string) error {
	return func(ctx context.Context, raw *redis.Client, key string) error {
		return raw.HDel(ctx, key, fields...).Err()
	}
}

func hset(field, value string) func(context.Context, *redis.Client, string) error {
	return func(ctx context.Context, raw *redis.Client, key string) error {
		return raw.HSet(ctx, key, field, value).Err()
	}
}

var corruptions = []corruption{
	{name: "HDEL payload", damage: hdel("payload"), reason: "payload is missing"},
	{name: "HDEL status", damage: hdel("status"), reason: "status is missing"},
	{name: "HDEL attempts", damage: hdel("attempts"), reason: "attempts is missing"},
	{name: "HDEL max_attempts", damage: hdel("max_attempts"), reason: "max_attempts is missing"},
	{name: "HDEL enqueued_at_ms", damage: hdel("enqueued_at_ms"), reason: "enqueued_at_ms is missing"},
	{name: "every field but id", damage: hdel("status", "payload", "attempts", "max_attempts", "enqueued_at_ms", "enqueue_nonce"),
		reason: "status is missing, payload is missing, attempts is missing, max_attempts is missing, enqueued_at_ms is missing"},
	{name: "attempts=abc", damage: hset("attempts", "abc"), reason: `attempts is "abc"`},
	// Lua's tonumber reads these; the record rule does not.
	{name: "attempts=0x10", damage: hset("attempts", "0x10"), reason: `attempts is "0x10"`},
	{name: "attempts=' 1'", damage: hset("attempts", " 1"), reason: `attempts is " 1"`},
	{name: "max_attempts=1.5", damage: hset("max_attempts", "1.5"), reason: `max_attempts is "1.5"`},
	{name: "max_attempts=-3", damage: hset("max_attempts", "-3"), reason: `max_attempts is "-3"`},
	{name: "enqueued_at_ms=1e12", damage: hset("enqueued_at_ms", "1e12"), reason: `enqueued_at_ms is "1e12"`},
	{name: "status=bogus", damage: hset("status", "bogus"), reason: `status is "bogus"`},
	{name: "HDEL payload of a delayed job", damage: hdel("payload"), reason: "payload is missing", delayed: true},
}

type recordResult struct {
	jobs, corrupt, deadLettered, completed, lost, duplicates int
}

// corruptRecords enqueues jobs, damages some of their hashes by hand and
// runs a Worker over the queue. Before the Worker, Get reports each damaged
// record as ErrCorruptJob; after it, each is dead-lettered with a reason
// that names what was wrong, no handler ever saw one, every other job
// completed exactly once, and the counters add up.
func corruptRecords(t *testing.T, b backend.Backend, raw *redis.Client) recordResult {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const good = 60
	q, err := jobqueue.New(b, "bad",
		jobqueue.WithBackoff(nil),
		jobqueue.WithCompletedRetention(10_000, time.Hour),
		jobqueue.WithDeadRetention(10_000, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Purge(context.Background()) })
	keys := redisq.KeysFor("bad")

	// The damaged jobs sit among the good ones, in enqueue order.
	goodIDs := map[string]bool{}
	damaged := map[string]corruption{}
	var all []string
	for i := range good {
		id, err := q.Enqueue(ctx, map[string]int{"n": i}, jobqueue.WithID(fmt.Sprintf("good-%02d", i)))
		if err != nil {
			t.Fatal(err)
		}
		goodIDs[id] = true
		all = append(all, id)
		if c := i / 4; i%4 == 1 && c < len(corruptions) {
			opts := []jobqueue.EnqueueOption{jobqueue.WithID(fmt.Sprintf("bad-%02d", c))}
			if corruptions[c].delayed {
				opts = append(opts, jobqueue.Delay(300*time.Millisecond))
			}
			id, err := q.Enqueue(ctx, map[string]int{"bad": c}, opts...)
			if err != nil {
				t.Fatal(err)
			}
			damaged[id] = corruptions[c]
			all = append(all, id)
		}
	}
	if len(damaged) != len(corruptions) {
		t.Fatalf("%d jobs damaged, want %d", len(damaged), len(corruptions))
	}
	payloads := map[string]string{}
	for id, c := range damaged {
		payloads[id] = raw.HGet(ctx, keys.Job(id), "payload").Val()
		if err := c.damage(ctx, raw, keys.Job(id)); err != nil {
			t.Fatal(err)
		}
		if n := raw.Exists(ctx, keys.Job(id)).Val(); n != 1 {
			t.Fatalf("%s deleted the record; the scenario damages records, it does not delete them", c.name)
		}
	}

	// Get reads every damaged record as corrupt, and every other one.
	for id, c := range damaged {
		_, err := noPanicGet(ctx, q, id)
		if !errors.Is(err, jobqueue.ErrCorruptJob) {
			t.Errorf("%s: Get = %v, want ErrCorruptJob", c.name, err)
		}
	}
	for id := range goodIDs {
		if info, err := q.Get(ctx, id); err != nil || info.State != jobqueue.StatePending {
			t.Errorf("good job %s: Get = %+v, %v", id, info, err)
		}
	}

	// A Worker drains the queue.
	runs, ws := drainHere(t, ctx, q, 4, len(all), 30*time.Second)

	r := recordResult{jobs: len(all), corrupt: len(damaged)}
	for id := range goodIDs {
		info, err := q.Get(ctx, id)
		switch {
		case runs[id] == 0:
			r.lost++
			t.Errorf("good job %s never ran (%+v, %v)", id, info, err)
		case err != nil || info.State != jobqueue.StateCompleted:
			r.lost++
			t.Errorf("good job %s: %+v, %v; want completed", id, info, err)
		default:
			r.completed++
		}
		r.duplicates += max(runs[id]-1, 0)
	}
	for id, c := range damaged {
		if runs[id] != 0 {
			t.Errorf("%s: a handler ran the corrupt job %d times", c.name, runs[id])
		}
		info, err := q.Get(ctx, id)
		if err != nil || info.State != jobqueue.StateDead {
			t.Errorf("%s: after the worker, Get = %+v, %v; want failed", c.name, info, err)
			continue
		}
		if !strings.HasPrefix(info.LastError, "jobqueue: corrupt job record: ") || !strings.Contains(info.LastError, c.reason) {
			t.Errorf("%s: last error %q, want the corrupt-record reason naming %s", c.name, info.LastError, c.reason)
			continue
		}
		if p, ok := payloads[id]; !strings.Contains(c.reason, "payload is missing") && ok && string(info.Payload) != p {
			t.Errorf("%s: dead-lettering changed the payload %q to %q", c.name, p, info.Payload)
		}
		r.deadLettered++
	}
	assertListed(ctx, t, q, jobqueue.StateCompleted, goodIDs)
	bad := map[string]bool{}
	for id := range damaged {
		bad[id] = true
	}
	assertListed(ctx, t, q, jobqueue.StateDead, bad)

	s, err := q.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := backend.Stats{
		Completed: good, Dead: int64(len(damaged)),
		EnqueuedTotal: int64(len(all)), ClaimedTotal: good, CompletedTotal: good, DeadTotal: int64(len(damaged)),
	}
	// Stats holds a map (KindLimits), which == cannot compare.
	if !reflect.DeepEqual(s.Stats, want) {
		t.Errorf("stats after the drain:\n got %+v\nwant %+v", s.Stats, want)
	}
	if ws.Claimed != good || ws.Completed != good || ws.Dead != 0 || ws.Panics != 0 {
		t.Errorf("worker stats %+v: want %d claimed and completed, none dead", ws, good)
	}
	return r
}

func noPanicGet(ctx context.Context, q *jobqueue.Queue, id string) (info jobqueue.JobInfo, err error) {
	err = noPanic(func() error {
		var gerr error
		info, gerr = q.Get(ctx, id)
		return gerr
	})
	return info, err
}

// assertListed checks that the history of state lists exactly ids.
func assertListed(ctx context.Context, t *testing.T, q *jobqueue.Queue, state jobqueue.State, ids map[string]bool) {
	t.Helper()
	listed, err := q.List(ctx, state, 0, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, id := range listed {
		got[id] = true
	}
	if len(listed) != len(ids) || len(got) != len(ids) {
		t.Errorf("%s lists %d ids (%d distinct), want %d", state, len(listed), len(got), len(ids))
	}
	for id := range ids {
		if !got[id] {
			t.Errorf("%s does not list %s", state, id)
		}
	}
}
