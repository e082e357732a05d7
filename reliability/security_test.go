package reliability

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	rueidislib "github.com/redis/rueidis"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/goredis"
	"github.com/jobqueue-go/jobqueue/internal/redisq"
	"github.com/jobqueue-go/jobqueue/rueidis"
)

// aclClientCommands are the commands the adapters send themselves: the
// functions with FCALL, the reads (Get, List, Stats, History) with FCALL_RO, which
// a replica may serve; FUNCTION LOAD of the library where Redis lacks it
// (never with REPLACE, and without REPLACE it cannot overwrite another
// library, so no other FUNCTION subcommand is needed); BLPOP on the queue's
// wake-up marker; SUBSCRIBE for Events; PING, which go-redis sends to check
// an idle subscription; CLUSTER SLOTS, which rueidis asks first to tell a
// Cluster from a single server (without it rueidis still falls back to a
// single server, but the refusal fills the ACL LOG); and INFO, where a
// Worker reads the maxmemory-policy at start. AUTH and HELLO need no
// permission. CONFIG GET, which the Worker tries before INFO, is left out on
// purpose: it would show the server's passwords (CONFIG GET requirepass).
var aclClientCommands = []string{"fcall", "fcall_ro", "function|load", "blpop", "subscribe", "ping", "cluster|slots", "info"}

// aclExpectedRefusals are the commands a user with the recommended ACL is
// refused by design: CONFIG GET (see above), and CLIENT SETINFO, which
// clients send at connect to Redis 7.2 and later and whose refusal they
// ignore.
var aclExpectedRefusals = []string{"config|get", "client|setinfo"}

// aclScriptCommands are the commands the Lua functions call, which Redis
// checks against the ACL of the user calling the function, keys included.
var aclScriptCommands = []string{
	"time", "publish",
	"get", "set", "del", "exists", "pexpire", "pexpireat", "persist",
	"hget", "hmget", "hgetall", "hset", "hdel", "hincrby", "hexists", "hlen", "hkeys", "hstrlen",
	"llen", "lindex", "lrange", "lpush", "rpush", "lmpop", "lpop", "rpop", "lrem", "ltrim",
	"sadd", "srem", "smembers",
	"zadd", "zrem", "zcard", "zcount", "zrange", "zrangebyscore", "zremrangebyrank", "zremrangebyscore",
}

// queueACL returns the ACL SETUSER command that makes user a user of one
// queue only: its keys, its events channel, the registry of queues (the
// one key outside every queue's hash tag, which registering the queue
// and discovering queues need), and the commands above. It is the
// README's recommended ACL.
func queueACL(user, password, queue string) []any {
	return queueACLWith(user, password, queue, true)
}

// queueACLWith is queueACL, without the registry of queues unless
// registry: the ACL of before the registry, whose queues work on
// unregistered.
func queueACLWith(user, password, queue string, registry bool) []any {
	prefix := "queue:{" + queue + "}:"
	args := []any{"ACL", "SETUSER", user, "reset", "on", ">" + password, "~" + prefix + "*"}
	if registry {
		args = append(args, "~"+redisq.RegistryKey)
	}
	args = append(args, "&"+prefix+"events")
	for _, c := range slices.Concat(aclClientCommands, aclScriptCommands) {
		args = append(args, "+"+c)
	}
	return args
}

// TestSecurityACLCoversScripts checks that every command a Lua function calls is in
// the recommended ACL, and that the README's ACL line is that ACL, so a new
// command in a script cannot leave the README's ACL line behind unnoticed.
func TestSecurityACLCoversScripts(t *testing.T) {
	call := regexp.MustCompile(`redis\.p?call\(\s*([^,)]+)`)
	literal := regexp.MustCompile(`^'([A-Za-z]+)'$`)
	chunked := regexp.MustCompile(`call_chunked\(\s*'([A-Za-z]+)'`)
	seen := map[string]bool{}
	src := redisq.FunctionLibrary().Src
	for _, m := range call.FindAllStringSubmatch(src, -1) {
		arg := strings.TrimSpace(m[1])
		if arg == "cmd" { // call_chunked's parameter, checked below
			continue
		}
		name := literal.FindStringSubmatch(arg)
		if name == nil {
			t.Errorf("redis.call(%s …): a command this test cannot read; name it in single quotes", arg)
			continue
		}
		seen[strings.ToLower(name[1])] = true
	}
	for _, m := range chunked.FindAllStringSubmatch(src, -1) {
		seen[strings.ToLower(m[1])] = true
	}
	if len(seen) < 10 {
		t.Fatalf("found only %d commands in the scripts; the patterns no longer match them", len(seen))
	}
	for c := range seen {
		if !slices.Contains(aclScriptCommands, c) {
			t.Errorf("the scripts call %s, which the recommended ACL (aclScriptCommands, README) lacks", strings.ToUpper(c))
		}
	}
	for _, c := range aclScriptCommands {
		if !seen[c] {
			t.Errorf("the recommended ACL grants %s, which no script calls any more", strings.ToUpper(c))
		}
	}

	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var words []string
	for _, a := range queueACL("emails-app", "PASSWORD", "emails") {
		words = append(words, fmt.Sprint(a))
	}
	if line := strings.Join(words, " "); !slices.Contains(strings.Split(string(readme), "\n"), line) {
		t.Errorf("README.md's ACL line is not the recommended ACL; want the line\n%s", line)
	}
}

// openSecure connects the named adapter to url with tc as its TLS
// configuration. rueidis runs without client-side caching, which jobqueue
// never uses and which would need CLIENT TRACKING.
func openSecure(t *testing.T, adapter, url string, tc *tls.Config) (backend.Backend, error) {
	t.Helper()
	switch adapter {
	case "goredis":
		opt, err := redis.ParseURL(url)
		if err != nil {
			return nil, err
		}
		opt.TLSConfig = tc
		c := redis.NewClient(opt)
		b := goredis.New(c)
		t.Cleanup(func() { b.Close(); _ = c.Close() })
		return b, nil
	case "rueidis":
		opt, err := rueidislib.ParseURL(url)
		if err != nil {
			return nil, err
		}
		opt.TLSConfig = tc
		opt.DisableCache = true
		c, err := rueidislib.NewClient(opt)
		if err != nil {
			return nil, err
		}
		b := rueidis.New(c)
		t.Cleanup(func() { b.Close(); c.Close() })
		return b, nil
	}
	return nil, fmt.Errorf("unknown adapter %q", adapter)
}

// adminClient connects to srv as the default user, for the test's own
// setup and checks.
func adminClient(t *testing.T, srv *redistest.Server) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	opt.TLSConfig = srv.TLSConfig()
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// withUser returns url with user and password in it.
func withUser(url, user, password string) string {
	scheme, rest, _ := strings.Cut(url, "://")
	return scheme + "://" + user + ":" + password + "@" + rest
}

// lockedBuffer collects log output written from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// eventLog records the kinds of the events a subscription delivers.
type eventLog struct {
	mu    sync.Mutex
	kinds map[backend.EventKind]int
	done  chan struct{}
}

func watchEvents(events <-chan jobqueue.Event) *eventLog {
	l := &eventLog{kinds: map[backend.EventKind]int{}, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for e := range events {
			l.mu.Lock()
			l.kinds[e.Kind]++
			l.mu.Unlock()
		}
	}()
	return l
}

func (l *eventLog) missing(want []backend.EventKind) []backend.EventKind {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []backend.EventKind
	for _, k := range want {
		if l.kinds[k] == 0 {
			out = append(out, k)
		}
	}
	return out
}

// TestSecurityTLSACL runs the whole life of a queue on each adapter over
// TLS, as an ACL user who may touch that queue's keys and channel and run
// only the commands the library needs: every call must work, the Worker
// must ride out its connections being killed, Redis must log no refused
// command but those refused by design, and every use of another queue must
// be refused with a clear error, promptly.
func TestSecurityTLSACL(t *testing.T) {
	for _, adapter := range adapters {
		t.Run(adapter, func(t *testing.T) {
			srv := redistest.Start(t, redistest.WithTLS())
			ctx := t.Context()
			admin := adminClient(t, srv)
			const user, password, queue = "emails-app", "acl-pw-4e1d", "emails"
			if err := admin.Do(ctx, queueACL(user, password, queue)...).Err(); err != nil {
				t.Fatalf("ACL SETUSER: %v", err)
			}
			url := withUser(srv.URL, user, password)
			b, err := openSecure(t, adapter, url, srv.TLSConfig())
			if err != nil {
				t.Fatalf("connect as %s over TLS: %v", user, err)
			}

			// go-redis checks an idle subscription with PING every 3 s.
			var idle time.Duration
			if adapter == "goredis" {
				idle = 3500 * time.Millisecond
			}
			jobs, lost, dups, killed, reclaimed := aclLifeCycle(t, admin, b, user, queue, idle)
			entries, err := admin.ACLLog(ctx, 100).Result()
			if err != nil {
				t.Fatalf("ACL LOG: %v", err)
			}
			for _, e := range entries {
				if !slices.Contains(aclExpectedRefusals, e.Object) {
					t.Errorf("Redis refused %s (%s, %s) to %s during the life cycle; the recommended ACL lacks it", e.Object, e.Reason, e.Context, e.Username)
				}
			}
			aclRefusesOtherQueue(t, b)
			if adapter == "rueidis" {
				// rueidis turns client-side caching on at connect unless
				// told not to; the refusal must be an error that says so.
				opt, err := rueidislib.ParseURL(url)
				if err != nil {
					t.Fatal(err)
				}
				opt.TLSConfig = srv.TLSConfig()
				// A failed NewClient that first tried a Cluster client
				// leaves a goroutine of it asleep for a second.
				opt.ForceSingleClient = true
				c, err := rueidislib.NewClient(opt)
				if err == nil {
					c.Close()
					t.Error("rueidis with client-side caching connected as a user without CLIENT TRACKING")
				} else if !strings.Contains(err.Error(), "client|tracking") {
					t.Errorf("rueidis with client-side caching: %v; want a refusal naming client|tracking", err)
				}
			}
			if lost != 0 {
				t.Errorf("%d of %d jobs never completed", lost, jobs)
			}
			report(t, Row{
				Scenario: "14 TLS + ACL user",
				Injected: fmt.Sprintf("rediss:// with a private CA; ACL user limited to queue:{%s}:* and %d commands; CLIENT KILL of its %d connections mid-drain", queue, len(aclClientCommands)+len(aclScriptCommands), killed),
				Jobs:     jobs, Lost: lost, Duplicates: dups,
				Result: fmt.Sprintf("every queue operation, Events and a Worker work, %d jobs reclaimed after the kill; nothing refused but CONFIG GET (by design); other queues refused with NOPERM", reclaimed),
			})
		})
	}
}

// aclLifeCycle takes jobs of queue through every state change and a drain by
// a Worker, killing the user's connections mid-drain, and returns the jobs
// the Worker was given, how many it never completed, its duplicate runs,
// the connections killed and the jobs the Worker reclaimed. At the end it
// leaves its Events subscription idle for idle.
func aclLifeCycle(t *testing.T, admin *redis.Client, b backend.Backend, user, queue string, idle time.Duration) (jobs, lost, dups int, killed, reclaimed int64) {
	ctx := t.Context()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	q, err := jobqueue.New(b, queue, jobqueue.WithLease(500*time.Millisecond), jobqueue.WithBackoff(jobqueue.ConstantBackoff(10*time.Millisecond)))
	must("New", err)
	evCtx, stopEvents := context.WithCancel(ctx)
	events, err := q.Events(evCtx)
	must("Events", err)
	seen := watchEvents(events)
	defer func() { stopEvents(); <-seen.done }()

	ids, err := q.EnqueueBatch(ctx, []any{"a", "b", "c"})
	must("EnqueueBatch", err)
	delayed, err := q.Enqueue(ctx, "d", jobqueue.Delay(200*time.Millisecond))
	must("Enqueue delayed", err)
	claimed, err := q.Claim(ctx, 2, 0)
	if err != nil || len(claimed) != 2 || claimed[0].ID != ids[0] || claimed[1].ID != ids[1] {
		t.Fatalf("Claim 2: %v %v, want %v", claimed, err, ids[:2])
	}
	must("Complete", claimed[0].Complete(ctx, "sent"))
	must("Fail", claimed[1].Fail(ctx, jobqueue.Permanent(errors.New("smtp: 550 mailbox unavailable"))))
	abandoned, err := q.Claim(ctx, 1, 0)
	if err != nil || len(abandoned) != 1 || abandoned[0].ID != ids[2] {
		t.Fatalf("Claim c: %v %v", abandoned, err)
	}
	must("Extend", abandoned[0].Extend(ctx))
	// The delayed job becomes claimable while this claim waits.
	due, err := q.Claim(ctx, 1, 5*time.Second)
	if err != nil || len(due) != 1 || due[0].ID != delayed {
		t.Fatalf("Claim waiting for the delayed job: %v %v", due, err)
	}
	must("Release", due[0].Release(ctx))
	time.Sleep(700 * time.Millisecond) // c's lease runs out
	rr, err := q.Reclaim(ctx)
	if err != nil || !slices.Contains(rr.Requeued, ids[2]) {
		t.Fatalf("Reclaim: %+v %v, want %s requeued", rr, err, ids[2])
	}
	st, err := q.Stats(ctx)
	must("Stats", err)
	if st.Pending != 2 || st.Completed != 1 || st.Dead != 1 || st.CompletedTotal != 1 || st.DeadTotal != 1 || st.ReclaimedTotal != 1 {
		t.Fatalf("Stats: %+v", st.Stats)
	}
	dead, err := q.List(ctx, jobqueue.StateDead, 0, 10)
	if err != nil || !slices.Equal(dead, ids[1:2]) {
		t.Fatalf("List failed: %v %v", dead, err)
	}
	info, err := q.Get(ctx, ids[1])
	if err != nil || info.State != jobqueue.StateDead || !strings.Contains(info.LastError, "550") {
		t.Fatalf("Get: %+v %v", info, err)
	}
	sums, err := q.Summaries(ctx, ids[:2], 100)
	if err != nil || len(sums) != 2 || sums[1].State != jobqueue.StateDead || sums[1].PayloadBytes == 0 {
		t.Fatalf("Summaries: %+v %v", sums, err)
	}
	hist, err := q.History(ctx, 60)
	must("History", err)
	if len(hist) != 60 || hist[59].Completed+hist[58].Completed != 1 {
		t.Fatalf("History: the last minutes %+v, want one completion", hist[58:])
	}
	must("RetryDead", q.RetryDead(ctx, ids[1]))
	must("Delete", q.Delete(ctx, delayed))

	// A Worker drains what is left and a batch more, with a lease long
	// enough that killing its connections costs no reclaim.
	wq, err := jobqueue.New(b, queue)
	must("New", err)
	vs := make([]any, 400)
	for i := range vs {
		vs[i] = i
	}
	more, err := wq.EnqueueBatch(ctx, vs)
	must("EnqueueBatch", err)
	want := append([]string{ids[1], ids[2]}, more...)
	var mu sync.Mutex
	runs := map[string]int{}
	var logs lockedBuffer
	w, err := wq.NewWorker(func(ctx context.Context, j *jobqueue.Job) (any, error) {
		mu.Lock()
		runs[j.ID]++
		mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		return nil, nil
	}, jobqueue.WorkerOptions{Concurrency: 8, ClaimWait: time.Second, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	must("NewWorker", err)
	wctx, stopWorker := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- w.Run(wctx) }()
	waitUntil(t, "a quarter of the drain", 30*time.Second, func() bool { return w.Stats().Completed >= int64(len(want)/4) })
	killed, err = admin.Do(ctx, "CLIENT", "KILL", "USER", user).Int64()
	must("CLIENT KILL USER", err)
	waitUntil(t, "the drain", 30*time.Second, func() bool {
		st, err := wq.Stats(ctx)
		return err == nil && st.Pending+st.Processing+st.Scheduled == 0
	})
	stopWorker()
	must("Worker.Run", <-ran)
	mu.Lock()
	for _, id := range want {
		switch n := runs[id]; {
		case n == 0:
			lost++
		case n > 1:
			dups += n - 1
		}
	}
	mu.Unlock()
	if killed == 0 {
		t.Error("CLIENT KILL USER found no connection of the user")
	}
	if log := logs.String(); strings.Contains(log, "maxmemory-policy") {
		t.Errorf("the Worker could not read the maxmemory-policy as the ACL user:\n%s", log)
	}
	reclaimed = w.Stats().Reclaimed
	t.Logf("worker after CLIENT KILL of %d connections: %+v; log:\n%s", killed, w.Stats(), logs.String())

	// A claim blocked on the empty queue is woken by an enqueue through
	// BLPOP on the marker, not by its own timeout.
	woken := make(chan []*jobqueue.Job, 1)
	go func() {
		jobs, err := wq.Claim(ctx, 1, 20*time.Second)
		if err != nil {
			t.Errorf("blocked Claim: %v", err)
		}
		woken <- jobs
	}()
	time.Sleep(300 * time.Millisecond)
	wake, err := wq.Enqueue(ctx, "wake")
	must("Enqueue", err)
	select {
	case got := <-woken:
		if len(got) != 1 || got[0].ID != wake {
			t.Fatalf("blocked Claim returned %v, want %s", got, wake)
		}
		must("Complete", got[0].Complete(ctx, nil))
	case <-time.After(5 * time.Second):
		t.Fatal("a claim blocked on the empty queue was not woken within 5 s of an enqueue")
	}
	must("Purge", q.Purge(ctx))
	// The ACL grants the registry: the queue was registered, and the user
	// can list the queues.
	registered, err := jobqueue.Queues(ctx, b)
	must("Queues", err)
	if !slices.ContainsFunc(registered, func(e jobqueue.QueueEntry) bool { return e.Name == queue }) {
		t.Errorf("Queues %v lacks %s", registered, queue)
	}
	if strings.Contains(logs.String(), "could not be registered") {
		t.Errorf("the Worker could not register its queue as the ACL user:\n%s", logs.String())
	}

	all := []backend.EventKind{
		backend.EventEnqueued, backend.EventClaimed, backend.EventCompleted, backend.EventDead,
		backend.EventReleased, backend.EventReclaimed, backend.EventRetried, backend.EventDeleted, backend.EventPurged,
	}
	waitUntil(t, "an event of every kind", 10*time.Second, func() bool { return len(seen.missing(all)) == 0 })
	time.Sleep(idle)
	return len(want), lost, dups, killed, reclaimed
}

// TestSecurityACLWithoutRegistry runs a queue as a user whose ACL is the
// recommended one less the registry of queues (the ACL recommended before
// the registry): enqueues, claims and a Worker work as before; the
// registrations Redis refuses are the only refusals, fail no call, and a
// Worker logs its one once; reading the registry is refused with
// Redis's clear error.
func TestSecurityACLWithoutRegistry(t *testing.T) {
	for _, adapter := range adapters {
		t.Run(adapter, func(t *testing.T) {
			srv := redistest.Start(t)
			ctx := t.Context()
			admin := adminClient(t, srv)
			const user, password, queue = "old-app", "acl-pw-7c2a", "invoices"
			if err := admin.Do(ctx, queueACLWith(user, password, queue, false)...).Err(); err != nil {
				t.Fatalf("ACL SETUSER: %v", err)
			}
			b, err := openSecure(t, adapter, withUser(srv.URL, user, password), nil)
			if err != nil {
				t.Fatal(err)
			}
			q, err := jobqueue.New(b, queue)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if _, err := q.Enqueue(ctx, i); err != nil {
					t.Fatalf("Enqueue %d: %v", i, err)
				}
			}
			var logs lockedBuffer
			wq, err := jobqueue.New(b, queue)
			if err != nil {
				t.Fatal(err)
			}
			w, err := wq.NewWorker(func(context.Context, *jobqueue.Job) (any, error) { return nil, nil },
				jobqueue.WorkerOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			wctx, stop := context.WithCancel(ctx)
			ran := make(chan error, 1)
			go func() { ran <- w.Run(wctx) }()
			waitUntil(t, "the drain", 10*time.Second, func() bool { return w.Stats().Completed == 3 })
			waitUntil(t, "the Worker's warning", 10*time.Second, func() bool { return strings.Contains(logs.String(), "could not be registered") })
			stop()
			if err := <-ran; err != nil {
				t.Fatalf("Worker.Run: %v", err)
			}
			if n := strings.Count(logs.String(), "could not be registered"); n != 1 || !strings.Contains(logs.String(), "NOPERM") {
				t.Errorf("the Worker's log has %d registration warnings, want 1 that says NOPERM:\n%s", n, logs.String())
			}
			if _, err := jobqueue.Queues(ctx, b); err == nil || !strings.Contains(err.Error(), "NOPERM") {
				t.Errorf("Queues as a user without the registry: %v, want Redis's NOPERM", err)
			}
			entries, err := admin.ACLLog(ctx, 100).Result()
			if err != nil {
				t.Fatalf("ACL LOG: %v", err)
			}
			refused := 0
			for _, e := range entries {
				switch {
				case e.Object == redisq.RegistryKey:
					refused++
				case !slices.Contains(aclExpectedRefusals, e.Object):
					t.Errorf("Redis refused %s (%s, %s) to %s", e.Object, e.Reason, e.Context, e.Username)
				}
			}
			if refused == 0 {
				t.Error("the ACL LOG shows no refused registration")
			}
			if n, err := admin.Exists(ctx, redisq.RegistryKey).Result(); err != nil || n != 0 {
				t.Errorf("the registry exists (%d, %v) though no registration was allowed", n, err)
			}
		})
	}
}

// aclRefusesOtherQueue checks that every call on a queue the user may not
// touch ends promptly with Redis's refusal, and that a Worker on it logs the
// refusal and ends its Run with it, since no later claim can succeed.
func aclRefusesOtherQueue(t *testing.T, b backend.Backend) {
	q, err := jobqueue.New(b, "payments")
	if err != nil {
		t.Fatal(err)
	}
	refused := func(what string, call func(ctx context.Context) error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		var err error
		func() {
			defer func() {
				if p := recover(); p != nil {
					err = fmt.Errorf("panic: %v", p)
				}
			}()
			err = call(ctx)
		}()
		switch {
		case err == nil:
			t.Errorf("%s on another queue: no error", what)
		case ctx.Err() != nil:
			t.Errorf("%s on another queue: hung until %v", what, err)
		case !strings.Contains(err.Error(), "NOPERM") || !strings.HasPrefix(err.Error(), "jobqueue: ") || !errors.Is(err, jobqueue.ErrNotPermitted):
			t.Errorf("%s on another queue: %q, want ErrNotPermitted, a jobqueue error quoting Redis's NOPERM", what, err)
		}
	}
	refused("Enqueue", func(ctx context.Context) error { _, err := q.Enqueue(ctx, "x"); return err })
	refused("Claim", func(ctx context.Context) error { _, err := q.Claim(ctx, 1, 0); return err })
	refused("waiting Claim", func(ctx context.Context) error { _, err := q.Claim(ctx, 1, 2*time.Second); return err })
	refused("Stats", func(ctx context.Context) error { _, err := q.Stats(ctx); return err })
	refused("History", func(ctx context.Context) error { _, err := q.History(ctx, 60); return err })
	refused("List", func(ctx context.Context) error { _, err := q.List(ctx, jobqueue.StatePending, 0, 10); return err })
	refused("Get", func(ctx context.Context) error { _, err := q.Get(ctx, "x"); return err })
	refused("Summaries", func(ctx context.Context) error { _, err := q.Summaries(ctx, []string{"x"}, 10); return err })
	refused("Reclaim", func(ctx context.Context) error { _, err := q.Reclaim(ctx); return err })
	refused("Purge", func(ctx context.Context) error { return q.Purge(ctx) })
	refused("Events", subscribe(q))
	log, ended, err := runWorker(t, q, "", 10*time.Second)
	switch {
	case !ended:
		t.Errorf("a Worker on another queue still ran after 10 s; want its Run to end with NOPERM:\n%s", log)
	case err == nil || errors.Is(err, jobqueue.ErrUnavailable) || !strings.Contains(err.Error(), "NOPERM") || !errors.Is(err, jobqueue.ErrNotPermitted):
		t.Errorf("Worker.Run on another queue: %v; want a permanent error quoting Redis's NOPERM", err)
	}
	if !strings.Contains(log, "NOPERM") {
		t.Errorf("a Worker on another queue logged no NOPERM:\n%s", log)
	}
}

// subscribe returns a call of q.Events that, when the subscription starts,
// lasts until its context ends.
func subscribe(q *jobqueue.Queue) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		ch, err := q.Events(ctx)
		if err == nil {
			for range ch {
			}
		}
		return err
	}
}

// runWorker runs a Worker on q until its log shows want (when want is not
// empty), its Run ends by itself or timeout passes, then cancels it and
// checks that it stops. It returns the Worker's log, whether Run ended
// before it was cancelled, and Run's error.
func runWorker(t *testing.T, q *jobqueue.Queue, want string, timeout time.Duration) (log string, ended bool, err error) {
	t.Helper()
	var logs lockedBuffer
	w, err := q.NewWorker(func(context.Context, *jobqueue.Job) (any, error) { return nil, nil },
		jobqueue.WorkerOptions{ClaimWait: 100 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithTimeout(t.Context(), timeout)
	defer stop()
	ran := make(chan error, 1)
	go func() { ran <- w.Run(ctx) }()
	for !ended && ctx.Err() == nil && (want == "" || !strings.Contains(logs.String(), want)) {
		select {
		case err = <-ran:
			ended = true
		case <-time.After(20 * time.Millisecond):
		}
	}
	stop()
	if !ended {
		select {
		case err = <-ran:
		case <-time.After(20 * time.Second):
			t.Fatal("the Worker did not stop within 20 s of its context ending")
		}
	}
	return logs.String(), ended, err
}

// waitUntil polls cond until it holds, failing the test after timeout.
func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// plantedPassword is a password distinctive enough that finding it in any
// output can only mean it leaked.
const plantedPassword = "pw-planted-7f3a9c"

// leakText is what a leak of plantedPassword, or of a wrong password
// made from it, contains.
const leakText = "7f3a9c"

// TestSecurityPasswordNotLeaked plants a password in the URLs the clients
// are built from, on a server that requires it, and checks that no error
// and no Worker log line quotes it: with a wrong password, and with the
// right one once the server is gone.
func TestSecurityPasswordNotLeaked(t *testing.T) {
	for _, adapter := range adapters {
		t.Run(adapter, func(t *testing.T) {
			srv := redistest.Start(t, redistest.RequireProcess())
			admin := adminClient(t, srv)
			if err := admin.ConfigSet(t.Context(), "requirepass", plantedPassword).Err(); err != nil {
				t.Fatal(err)
			}
			var seen []string // every error text and log the test got
			check := func(what, text string) {
				t.Helper()
				seen = append(seen, what+": "+text)
				if strings.Contains(text, leakText) {
					t.Errorf("%s quotes the password: %s", what, text)
				}
			}

			wrong := "redis://:" + plantedPassword + "-wrong@" + srv.Addr + "/0"
			b, err := openSecure(t, adapter, wrong, nil)
			if err != nil {
				// rueidis authenticates as it connects.
				check("connect with a wrong password", err.Error())
				if !strings.Contains(err.Error(), "WRONGPASS") {
					t.Errorf("connect with a wrong password: %v, want WRONGPASS", err)
				}
			} else {
				wrongpass := useUnreachable(t, b, check, "WRONGPASS")
				if !strings.Contains(wrongpass, "WRONGPASS") {
					t.Errorf("calls with a wrong password: %s; want WRONGPASS", wrongpass)
				}
			}

			right := "redis://:" + plantedPassword + "@" + srv.Addr + "/0"
			b, err = openSecure(t, adapter, right, nil)
			if err != nil {
				t.Fatalf("connect with the password: %v", err)
			}
			q, err := jobqueue.New(b, "secret")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := q.Enqueue(t.Context(), "x"); err != nil {
				t.Fatalf("Enqueue with the password: %v", err)
			}
			srv.Kill(t)
			useUnreachable(t, b, check, "")

			if len(seen) < 5 {
				t.Errorf("only %d errors and logs were checked: %q", len(seen), seen)
			}
			t.Logf("checked:\n%s", strings.Join(seen, "\n"))
		})
	}
}

// useUnreachable calls b as a program does while b cannot use its server,
// hands each error text and the Worker's log to check, and returns them
// joined. The Worker's claims stand for Claim. With refusal empty the
// server is gone: an outage, which the Worker must log and ride out.
// Otherwise the server refuses the client with refusal, a permanent error
// that must end the Worker's Run.
func useUnreachable(t *testing.T, b backend.Backend, check func(what, text string), refusal string) string {
	t.Helper()
	q, err := jobqueue.New(b, "secret")
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	call := func(what string, timeout time.Duration, f func(ctx context.Context) error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), timeout)
		defer cancel()
		err := f(ctx)
		if err == nil {
			t.Errorf("%s: no error", what)
			return
		}
		check(what, err.Error())
		all = append(all, err.Error())
	}
	call("Enqueue", 10*time.Second, func(ctx context.Context) error { _, err := q.Enqueue(ctx, "x"); return err })
	call("Stats", 10*time.Second, func(ctx context.Context) error { _, err := q.Stats(ctx); return err })
	// rueidis keeps trying to subscribe while the server is down, until
	// the context ends.
	call("Events", 2*time.Second, subscribe(q))
	if refusal != "" {
		log, ended, err := runWorker(t, q, "", 20*time.Second)
		check("Worker log", log)
		all = append(all, log)
		if err != nil {
			check("Worker.Run", err.Error())
			all = append(all, err.Error())
		}
		switch {
		case !ended:
			t.Errorf("the Worker still ran after 20 s of claims refused with %s:\n%s", refusal, log)
		case err == nil || errors.Is(err, jobqueue.ErrUnavailable) || !strings.Contains(err.Error(), refusal):
			t.Errorf("Worker.Run: %v; want a permanent error quoting %s", err, refusal)
		}
		return strings.Join(all, "\n")
	}
	// go-redis takes about 1.7 s of dial retries to fail a call, and the
	// Queue repeats a failed claim (WithRetries) before the Worker sees it.
	log, ended, err := runWorker(t, q, outageLog, 20*time.Second)
	check("Worker log", log)
	switch {
	case ended:
		t.Errorf("Worker.Run ended during an outage: %v", err)
	case !strings.Contains(log, outageLog):
		t.Errorf("the Worker did not log the outage within 20 s:\n%s", log)
	case err != nil:
		t.Errorf("Worker.Run: %v", err)
	}
	return strings.Join(append(all, log), "\n")
}
