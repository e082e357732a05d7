// Package goredis is the jobqueue backend for Redis through
// github.com/redis/go-redis/v9. It accepts any redis.UniversalClient: a
// single node, a Sentinel failover client or a Cluster client (every
// script of a queue touches one hash slot).
//
// Backend implements backend.Backend, backend.Subscriber,
// backend.ConfigChecker (a warning for a maxmemory-policy that may evict
// queue keys), backend.Historian and backend.Summarizer. The key layout and the scripts are shared with the rueidis
// adapter and described in the internal redisq package; this package only
// talks to the client. It needs Redis 7.0 or later, where the scripts run as
// Redis Functions that declare flags: see "Scripts" and "Memory" in the
// redisq package.
//
// # Connections
//
// go-redis serves every command from a pool of PoolSize connections
// (default 10 per GOMAXPROCS), and a blocking command holds its connection
// for the whole wait. A Backend therefore never blocks one connection per
// waiting claim: per queue, at most one goroutine waits on Redis (BLPOP on
// the queue's marker key, at most 5 s per call) and wakes the local claims
// one at a time. So with N queues that have waiting claims, N pool
// connections are blocked, whatever the number of waiting claims; the
// others stay free for enqueues, completes and heartbeats. 64 workers
// waiting on one queue with the default pool of 20 (2 CPUs) use 1
// connection for waiting and leave 19. Subscribe uses one more connection
// per call, outside the pool.
//
// # Errors and lost replies
//
// The Backend maps go-redis errors in one place: a round trip that failed
// (a refused, reset or timed-out connection, a Redis that is loading, read
// only or failing over) wraps backend.ErrUnavailable; an error reply the
// scripts send maps to the backend error it stands for; anything else is
// permanent. It never repeats a call itself: backend's "Lost replies and
// repeated calls" says how a repeat is answered. go-redis itself sends a
// command again after a dropped connection (up to Options.MaxRetries
// times), which those rules make safe for the jobs. One resend does cost
// something: a BLPOP on the marker that go-redis sends again after a
// dropped connection loses the wake-up the first one popped, and the
// claims of this process waiting on that queue then wake with the next
// wake-up, or at the end of their wait.
//
// Get, List, Stats and History run read-only functions (FCALL_RO), which
// a client set up to read from replicas sends to a replica: a ClusterClient with
// ReadOnly, or a failover client with ReplicaOnly, which sends writes
// there too, so a Backend on it serves only reads (its writes fail with
// ErrUnavailable, READONLY). A replica cannot load the function library,
// and gets it from its master: a Backend that reaches only replicas reads
// once a Backend of the same jobqueue version has written through the
// master, and until then its reads fail with ErrUnavailable.
//
// # Durable writes
//
// A Durability on Enqueue, Complete or Fail (backend.DurableWriter) makes
// the call wait, right after its function, with WAIT (WAITAOF for AOF, on
// Redis 7.2 or later) on the connection that made the write: the Backend
// pins one connection of the server that holds the queue (Client.Conn of
// the client, of the master of the queue's slot for a ClusterClient, of
// the queue's shard for a Ring) and sends the two commands on it, in two
// round trips. The wait's reply is read under the wait's own timeout, not
// the client's ReadTimeout. A durable call through a UniversalClient of
// another type fails with an error wrapping errors.ErrUnsupported, and
// writes nothing. The internal redisq package's durable.go says why the
// connection matters.
//
// The caller owns the client and closes it; call Backend.Close first.
package goredis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/internal/redisq"
)

// Backend is a jobqueue backend on a go-redis client. It implements
// backend.Backend, backend.Subscriber, backend.ConfigChecker,
// backend.Historian and backend.Summarizer, and Close
// stops the goroutines that wait on Redis for claims.
type Backend struct {
	e *redisq.Engine
}

var (
	_ backend.Backend       = (*Backend)(nil)
	_ backend.Subscriber    = (*Backend)(nil)
	_ backend.ConfigChecker = (*Backend)(nil)
	_ backend.WorkerTracker = (*Backend)(nil)
	_ backend.DurableWriter = (*Backend)(nil)
)

// New returns a Backend that uses client. The caller keeps ownership of
// client and closes it after calling Backend.Close.
func New(client redis.UniversalClient) *Backend {
	return &Backend{e: redisq.NewEngine(conn{client})}
}

// Close stops the goroutines that wait on Redis for claims and waits for
// them to return. Claims still waiting wait out their own timeout. Close
// does not close the client.
func (b *Backend) Close() { b.e.Close() }

// Enqueue adds jobs to a queue, all or none; see backend.Backend.Enqueue.
func (b *Backend) Enqueue(ctx context.Context, p backend.EnqueueParams) error {
	return b.e.Enqueue(ctx, p)
}

// Claim takes and leases up to p.Max jobs, waiting up to p.Wait; see
// backend.Backend.Claim. Waiting claims share one blocked connection per
// queue (see "Connections").
func (b *Backend) Claim(ctx context.Context, p backend.ClaimParams) ([]backend.ClaimedJob, error) {
	return b.e.Claim(ctx, p)
}

// Complete finishes claimed jobs; see backend.Backend.Complete.
func (b *Backend) Complete(ctx context.Context, p backend.CompleteParams) ([]error, error) {
	return b.e.Complete(ctx, p)
}

// Fail ends the attempts of claimed jobs; see backend.Backend.Fail.
func (b *Backend) Fail(ctx context.Context, p backend.FailParams) ([]error, error) {
	return b.e.Fail(ctx, p)
}

// Extend renews the leases of claimed jobs; see backend.Backend.Extend.
func (b *Backend) Extend(ctx context.Context, p backend.ExtendParams) ([]error, error) {
	return b.e.Extend(ctx, p)
}

// Release hands claimed jobs back to pending; see backend.Backend.Release.
func (b *Backend) Release(ctx context.Context, p backend.ReleaseParams) ([]error, error) {
	return b.e.Release(ctx, p)
}

// Reclaim returns expired leases to pending; see backend.Backend.Reclaim.
func (b *Backend) Reclaim(ctx context.Context, p backend.ReclaimParams) (backend.ReclaimResult, error) {
	return b.e.Reclaim(ctx, p)
}

// Get reads one job's record with a read-only function; see
// backend.Backend.Get.
func (b *Backend) Get(ctx context.Context, queue, id string) (backend.JobInfo, error) {
	return b.e.Get(ctx, queue, id)
}

// Summaries reads a page of job summaries, without their payloads, with
// one read-only function call; see backend.Summarizer.
func (b *Backend) Summaries(ctx context.Context, p backend.SummariesParams) ([]backend.JobSummary, error) {
	return b.e.Summaries(ctx, p)
}

var _ backend.Summarizer = (*Backend)(nil)

// List pages through the ids of one state with a read-only function; see
// backend.Backend.List.
func (b *Backend) List(ctx context.Context, p backend.ListParams) ([]string, error) {
	return b.e.List(ctx, p)
}

// Stats reads a queue's depths and counters with a read-only function; see
// backend.Backend.Stats.
func (b *Backend) Stats(ctx context.Context, queue string) (backend.Stats, error) {
	return b.e.Stats(ctx, queue)
}

// History reads a queue's per-minute counts with a read-only function;
// see backend.Historian.
func (b *Backend) History(ctx context.Context, p backend.HistoryParams) ([]backend.HistoryPoint, error) {
	return b.e.History(ctx, p)
}

var _ backend.Historian = (*Backend)(nil)

// Purge deletes one queue, in batches; see backend.Backend.Purge.
func (b *Backend) Purge(ctx context.Context, p backend.PurgeParams) error {
	return b.e.Purge(ctx, p)
}

// RetryDead sends a dead job back to pending; see
// backend.Backend.RetryDead.
func (b *Backend) RetryDead(ctx context.Context, p backend.RetryDeadParams) error {
	return b.e.RetryDead(ctx, p)
}

// Delete removes one job; see backend.Backend.Delete.
func (b *Backend) Delete(ctx context.Context, p backend.DeleteParams) error {
	return b.e.Delete(ctx, p)
}

// DurableWrites implements backend.DurableWriter: Enqueue, Complete and
// Fail honour their params' Durability (see "Durable writes").
func (b *Backend) DurableWrites() {}

// Beat records that a process works a queue, in the queue's workers zset;
// see backend.WorkerTracker.
func (b *Backend) Beat(ctx context.Context, p backend.BeatParams) error {
	return b.e.Beat(ctx, p)
}

// Subscribe delivers the queue's events; see backend.Subscriber. Each call
// holds a connection of its own, outside the pool.
func (b *Backend) Subscribe(ctx context.Context, queue string) (<-chan backend.Event, error) {
	return b.e.Subscribe(ctx, queue)
}

// CheckConfig warns about every server whose maxmemory-policy may evict
// queue keys; see backend.ConfigChecker.
func (b *Backend) CheckConfig(ctx context.Context) ([]string, error) {
	return b.e.CheckConfig(ctx)
}

// conn implements redisq.Conn with go-redis.
type conn struct {
	c redis.UniversalClient
}

func (c conn) Call(ctx context.Context, f *redisq.Function, keys, args []string) (any, error) {
	a := make([]any, len(args))
	for i, x := range args {
		a[i] = x
	}
	fcall := c.c.FCall
	if f.ReadOnly {
		fcall = c.c.FCallRO
	}
	v, err := fcall(ctx, f.Name, keys, a...).Result()
	if err != nil {
		return nil, c.fail(err)
	}
	return toTree(v)
}

// CallWait sends f and then the wait on one connection of the server that
// holds keys[0] (Client.Conn, of the node's client for a Cluster or a
// Ring), two round trips: a pipeline would read the wait's reply under
// the client's ReadTimeout, which a Durability.Timeout longer than it
// would break, while Wait and WaitAOF read it under the wait's own
// timeout. go-redis never moves a pinned connection's commands to another
// connection: once it is broken, the next command fails, so a wait never
// goes out on a connection that did not make the write.
func (c conn) CallWait(ctx context.Context, f *redisq.Function, keys, args []string, w redisq.Wait) (any, redisq.Waited, error) {
	node, err := c.nodeFor(ctx, keys[0])
	if err != nil {
		return nil, redisq.Waited{}, err
	}
	cn := node.Conn()
	defer cn.Close()
	a := make([]any, len(args))
	for i, x := range args {
		a[i] = x
	}
	v, err := cn.FCall(ctx, f.Name, keys, a...).Result()
	if err != nil {
		return nil, redisq.Waited{}, c.fail(err)
	}
	tree, err := toTree(v)
	if err != nil {
		return nil, redisq.Waited{}, err
	}
	var waited redisq.Waited
	if w.AOF {
		var counts []int64
		counts, err := cn.WaitAOF(ctx, 1, w.Replicas, w.Timeout).Result()
		switch {
		case err != nil:
			waited.Err = err
		case len(counts) != 2:
			waited.Err = fmt.Errorf("jobqueue: redis: WAITAOF answered %v", counts)
		default:
			waited.Reply = []any{counts[0], counts[1]}
		}
	} else {
		waited.Reply, waited.Err = cn.Wait(ctx, w.Replicas, w.Timeout).Result()
	}
	if waited.Err != nil {
		waited.Err = mapError(waited.Err)
	}
	return tree, waited, nil
}

// nodeFor returns the client of the one server that holds key: the
// client itself, unless it is a Cluster or a Ring.
func (c conn) nodeFor(ctx context.Context, key string) (*redis.Client, error) {
	switch cc := c.c.(type) {
	case *redis.Client:
		return cc, nil
	case *redis.ClusterClient:
		n, err := cc.MasterForKey(ctx, key)
		if err != nil {
			return nil, c.fail(err)
		}
		return n, nil
	case *redis.Ring:
		n, err := cc.GetShardClientForKey(key)
		if err != nil {
			return nil, mapError(err)
		}
		return n, nil
	}
	return nil, fmt.Errorf("jobqueue: durable writes need a *redis.Client, *redis.ClusterClient or *redis.Ring, not %T: %w",
		c.c, errors.ErrUnsupported)
}

func (c conn) BlockPop(ctx context.Context, key string, timeout time.Duration) (bool, error) {
	err := c.c.BLPop(ctx, timeout, key).Err()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, c.fail(err)
	}
	return true, nil
}

// fail maps err, and after a network error on a Cluster client asks it to
// reload its slot map. go-redis sends a slot's commands to the master it
// last knew until a MOVED reply says otherwise or its
// ClusterStateReloadInterval (60 s by default) runs out, and a dead master
// sends no MOVED: without the reload a failover would go unnoticed for a
// minute. The reload is lazy and coalesced by the client, so calling it on
// every failed call of an outage is cheap. A MOVED or ASK reply reloads it
// too: the client follows them by itself, but not on the connection that
// CallWait pins to one node.
func (c conn) fail(err error) error {
	var reply redis.Error
	if cc, ok := c.c.(*redis.ClusterClient); ok && (!errors.As(err, &reply) || redirected(reply)) {
		cc.ReloadState(context.Background())
	}
	return mapError(err)
}

// redirected reports whether a Cluster node answered that another node
// serves the slot.
func redirected(reply redis.Error) bool {
	msg := reply.Error()
	return strings.HasPrefix(msg, "MOVED ") || strings.HasPrefix(msg, "ASK ")
}

func (c conn) Subscribe(ctx context.Context, channel string) (<-chan string, error) {
	ps := c.c.Subscribe(ctx, channel)
	if _, err := ps.Receive(ctx); err != nil {
		_ = ps.Close()
		return nil, mapError(err)
	}
	// go-redis buffers and, for a reader that stays slow, drops messages.
	in := ps.Channel(redis.WithChannelSize(256))
	out := make(chan string)
	go func() {
		defer close(out)
		defer ps.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-in:
				if !ok {
					return
				}
				select {
				case out <- m.Payload:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// Nodes returns the client itself, every master of a Cluster client, or
// every shard of a Ring.
func (c conn) Nodes(ctx context.Context) ([]redisq.Node, error) {
	var mu sync.Mutex
	var nodes []redisq.Node
	add := func(_ context.Context, n *redis.Client) error {
		mu.Lock()
		defer mu.Unlock()
		nodes = append(nodes, redisq.Node{Addr: n.Options().Addr, Do: do(n)})
		return nil
	}
	var err error
	switch cc := c.c.(type) {
	case *redis.ClusterClient:
		err = cc.ForEachMaster(ctx, add)
	case *redis.Ring:
		err = cc.ForEachShard(ctx, add)
	default:
		return []redisq.Node{{Do: do(c.c)}}, nil
	}
	if err != nil {
		return nil, c.fail(err)
	}
	slices.SortFunc(nodes, func(a, b redisq.Node) int { return strings.Compare(a.Addr, b.Addr) })
	return nodes, nil
}

// do returns a redisq.Node's Do on client.
func do(client interface {
	Do(ctx context.Context, args ...any) *redis.Cmd
}) func(context.Context, ...string) (any, error) {
	return func(ctx context.Context, args ...string) (any, error) {
		a := make([]any, len(args))
		for i, x := range args {
			a[i] = x
		}
		v, err := client.Do(ctx, a...).Result()
		if err != nil {
			return nil, mapError(err)
		}
		return toTree(v)
	}
}

// mapError is the one place go-redis errors become jobqueue errors: an
// error reply by its code (redisq.ReplyError), a closed client as a
// permanent error, and any other failure as a failed round trip
// (redisq.RoundTripError, backend.ErrUnavailable).
func mapError(err error) error {
	var re redis.Error
	switch {
	case errors.As(err, &re):
		return redisq.ReplyError(re.Error())
	case errors.Is(err, redis.ErrClosed):
		return fmt.Errorf("jobqueue: %w", err)
	}
	return redisq.RoundTripError(err)
}

// toTree converts a go-redis reply to the plain tree redisq decodes.
func toTree(v any) (any, error) {
	switch x := v.(type) {
	case nil, int64, string:
		return x, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			var err error
			if out[i], err = toTree(e); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[any]any:
		// A RESP3 map (CONFIG GET): its keys and values in turn.
		out := make([]any, 0, 2*len(x))
		for k, e := range x {
			kt, err := toTree(k)
			if err != nil {
				return nil, err
			}
			et, err := toTree(e)
			if err != nil {
				return nil, err
			}
			out = append(out, kt, et)
		}
		return out, nil
	case redis.Error:
		return nil, mapError(x)
	}
	return nil, fmt.Errorf("jobqueue: redis: unexpected reply type %T", v)
}
