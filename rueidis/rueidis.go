// Package rueidis is the jobqueue backend for Redis through
// github.com/redis/rueidis, on a single node, a master found through
// Sentinel (ClientOption.Sentinel, with the Sentinels as InitAddress) or a
// Cluster (every script of a queue touches one hash slot).
//
// Backend implements backend.Backend, backend.Subscriber,
// backend.ConfigChecker (a warning for a maxmemory-policy that may evict
// queue keys), backend.Historian and backend.Summarizer. The key layout and the scripts are shared with the goredis
// adapter and described in the internal redisq package; this package only
// talks to the client. It needs Redis 7.0 or later, where the scripts run as
// Redis Functions that declare flags: see "Scripts" and "Memory" in the
// redisq package.
//
// # Connections
//
// rueidis pipelines ordinary commands (FCALL included) over one shared
// connection per node, so they never wait for a free connection. Blocking
// commands such as BLPOP take a dedicated connection from a separate pool
// of BlockingPoolSize (default 1024) for the whole wait. A Backend blocks
// at most one such connection per queue that has waiting claims, whatever
// the number of waiting claims: one goroutine per queue waits on Redis
// (BLPOP on the queue's marker key, at most 5 s per call) and wakes the
// local claims one at a time. 64 workers waiting on one queue therefore
// hold 1 blocking connection, and enqueues, completes and heartbeats keep
// flowing over the pipelined connection. Subscribe shares the client's
// pub/sub connection.
//
// # Errors and lost replies
//
// The Backend maps rueidis errors in one place: a round trip that failed
// (a refused, reset or timed-out connection, a client that cannot reach
// Redis, a Redis that is loading, read only or failing over) wraps
// backend.ErrUnavailable; an error reply the scripts send maps to the
// backend error it stands for; anything else is permanent. The Backend
// never repeats a call itself, and rueidis does not repeat a function
// call that writes: the call reports ErrUnavailable, and backend's "Lost
// replies and repeated calls" says how its repeat is answered. Get, List,
// Stats and History run read-only functions (FCALL_RO), which a client set up to
// read from replicas (ClientOption.SendToReplicas) sends to a replica; a
// replica gets the function library from its master, so such a read may
// fail with ErrUnavailable until the library has reached the replica.
//
// rueidis does repeat a read-only command after a network error, by
// default until the call's context ends: with Redis down, a Get, List or
// Stats under a context without a deadline waits for Redis instead of
// failing. Since the jobqueue.Queue repeats its calls itself, set
// ClientOption.DisableRetry, or give reads a deadline.
//
// # Durable writes
//
// A Durability on Enqueue, Complete or Fail (backend.DurableWriter) makes
// the call wait, right after its function, with WAIT (WAITAOF for AOF, on
// Redis 7.2 or later) on the connection that made the write: the Backend
// sends the function and the wait together, in one round trip (DoMulti),
// on a dedicated connection (Client.Dedicated, from the pool of
// BlockingPoolSize; on a Cluster, to the master of the queue's slot). The
// pipelined shared connection would not do: there a WAIT would count the
// writes of every caller. The internal redisq package's durable.go says
// why the connection matters.
//
// The caller owns the client and closes it; call Backend.Close first.
//
// This package's name is also that of the client library; a program that
// imports both names one of them, for example:
//
//	import (
//		"github.com/redis/rueidis"
//		jqrueidis "github.com/jobqueue-go/jobqueue/rueidis"
//	)
package rueidis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	rueidislib "github.com/redis/rueidis"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/internal/redisq"
)

// Backend is a jobqueue backend on a rueidis client. It implements
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
func New(client rueidislib.Client) *Backend {
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
// backend.Backend.Claim. Waiting claims share one blocking connection per
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

// Subscribe delivers the queue's events; see backend.Subscriber. It shares
// the client's pub/sub connection.
func (b *Backend) Subscribe(ctx context.Context, queue string) (<-chan backend.Event, error) {
	return b.e.Subscribe(ctx, queue)
}

// CheckConfig warns about every server whose maxmemory-policy may evict
// queue keys; see backend.ConfigChecker.
func (b *Backend) CheckConfig(ctx context.Context) ([]string, error) {
	return b.e.CheckConfig(ctx)
}

// conn implements redisq.Conn with rueidis.
//
// Every command it sends is pinned (Completed.Pin), so that rueidis never
// puts it back in its pool for the next builder to fill. rueidis (v1.0.79,
// its latest release) sends a command again after a network error, by
// default a read-only one (FCALL_RO) or a SUBSCRIBE, and when the last
// attempt succeeds it recycles the command, although the writer goroutine
// of the connection that failed may still be copying it: a data race with
// the next command built, which -race reports inside rueidis. rueidis
// keeps a command out of its pool when the call ends in a network error,
// for this very reason, but looks at the last attempt only. A pinned
// command goes to the garbage collector instead, one small allocation per
// call; pinning every command, not only the ones rueidis repeats by
// default, keeps the rule simple. The redisqtest test ConnectionsKilled
// catches the race under -race.
type conn struct {
	c rueidislib.Client
}

func (c conn) Call(ctx context.Context, f *redisq.Function, keys, args []string) (any, error) {
	b := c.c.B()
	n := int64(len(keys))
	var cmd rueidislib.Completed
	if f.ReadOnly {
		cmd = b.FcallRo().Function(f.Name).Numkeys(n).Key(keys...).Arg(args...).Build().Pin()
	} else {
		cmd = b.Fcall().Function(f.Name).Numkeys(n).Key(keys...).Arg(args...).Build().Pin()
	}
	msg, err := c.c.Do(ctx, cmd).ToMessage()
	if err != nil {
		return nil, mapError(err)
	}
	return toTree(&msg)
}

// CallWait sends f and then the wait in one round trip (DoMulti) on a
// dedicated connection (Client.Dedicated): rueidis pipelines the commands
// of every caller over a shared connection, where a WAIT would count the
// other callers' writes, and sends a blocking command such as WAIT alone
// on a pooled connection of its own, where it would count none of f's.
// On a Cluster the dedicated connection goes to the node of f's key. A
// dedicated connection that breaks is not replaced under its user, and
// rueidis does not send the pair again, since FCALL is no read-only
// command: the wait never goes out on a connection that did not make the
// write.
func (c conn) CallWait(ctx context.Context, f *redisq.Function, keys, args []string, w redisq.Wait) (any, redisq.Waited, error) {
	var tree any
	var waited redisq.Waited
	err := c.c.Dedicated(func(d rueidislib.DedicatedClient) error {
		fcall := d.B().Fcall().Function(f.Name).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build().Pin()
		timeout := w.Timeout.Milliseconds()
		var wait rueidislib.Completed
		if w.AOF {
			wait = d.B().Waitaof().Numlocal(1).Numreplicas(int64(w.Replicas)).Timeout(timeout).Build().Pin()
		} else {
			wait = d.B().Wait().Numreplicas(int64(w.Replicas)).Timeout(timeout).Build().Pin()
		}
		res := d.DoMulti(ctx, fcall, wait)
		msg, err := res[0].ToMessage()
		if err != nil {
			return mapError(err)
		}
		if tree, err = toTree(&msg); err != nil {
			return err
		}
		if msg, err := res[1].ToMessage(); err != nil {
			waited.Err = mapError(err)
		} else {
			waited.Reply, waited.Err = toTree(&msg)
		}
		return nil
	})
	if err != nil {
		return nil, redisq.Waited{}, err
	}
	return tree, waited, nil
}

func (c conn) BlockPop(ctx context.Context, key string, timeout time.Duration) (bool, error) {
	err := c.c.Do(ctx, c.c.B().Blpop().Key(key).Timeout(timeout.Seconds()).Build().Pin()).Error()
	if rueidislib.IsRedisNil(err) {
		return false, nil
	}
	if err != nil {
		return false, mapError(err)
	}
	return true, nil
}

func (c conn) Subscribe(ctx context.Context, channel string) (<-chan string, error) {
	out := make(chan string, 256)
	ready := make(chan struct{})
	var subscribed atomic.Bool
	hookCtx := rueidislib.WithOnSubscriptionHook(ctx, func(s rueidislib.PubSubSubscription) {
		if s.Kind == "subscribe" && subscribed.CompareAndSwap(false, true) {
			close(ready)
		}
	})
	failed := make(chan error, 1)
	go func() {
		defer close(out)
		for {
			err := c.c.Receive(hookCtx, c.c.B().Subscribe().Channel(channel).Build().Pin(), func(m rueidislib.PubSubMessage) {
				select {
				case out <- m.Message:
				default: // events are notifications: a slow reader misses some
				}
			})
			if !subscribed.Load() {
				failed <- err
				return
			}
			// Receive ends on ctx, on a closed client or a dropped
			// connection; only the last is worth subscribing again.
			if ctx.Err() != nil || errors.Is(err, rueidislib.ErrClosing) {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(resubscribePause):
			}
		}
	}()
	select {
	case <-ready:
		return out, nil
	case err := <-failed:
		if err == nil {
			return nil, errors.New("jobqueue: redis: subscription ended at once")
		}
		return nil, mapError(err)
	}
}

// resubscribePause spaces the attempts to subscribe again after a dropped
// connection.
const resubscribePause = 100 * time.Millisecond

// Nodes returns the client itself, or every node of a Cluster client:
// each master, and the replicas the client reads from, if any.
func (c conn) Nodes(ctx context.Context) ([]redisq.Node, error) {
	if c.c.Mode() != rueidislib.ClientModeCluster {
		return []redisq.Node{{Do: do(c.c)}}, nil
	}
	var nodes []redisq.Node
	for addr, n := range c.c.Nodes() {
		nodes = append(nodes, redisq.Node{Addr: addr, Do: do(n)})
	}
	slices.SortFunc(nodes, func(a, b redisq.Node) int { return strings.Compare(a.Addr, b.Addr) })
	return nodes, nil
}

// do returns a redisq.Node's Do on client.
func do(client rueidislib.Client) func(context.Context, ...string) (any, error) {
	return func(ctx context.Context, args ...string) (any, error) {
		msg, err := client.Do(ctx, client.B().Arbitrary(args...).Build().Pin()).ToMessage()
		if err != nil {
			return nil, mapError(err)
		}
		return toTree(&msg)
	}
}

// mapError is the one place rueidis errors become jobqueue errors: an
// error reply by its code (redisq.ReplyError), and any other failure as a
// failed round trip (redisq.RoundTripError, backend.ErrUnavailable);
// rueidis reports a closed client and one that cannot reach Redis with
// one error, ErrClosing, so both are ErrUnavailable.
func mapError(err error) error {
	if re, ok := rueidislib.IsRedisErr(err); ok {
		return redisq.ReplyError(re.Error())
	}
	return redisq.RoundTripError(err)
}

// toTree converts a rueidis reply to the plain tree redisq decodes.
func toTree(m *rueidislib.RedisMessage) (any, error) {
	if err := m.Error(); err != nil {
		if rueidislib.IsRedisNil(err) {
			return nil, nil
		}
		return nil, mapError(err)
	}
	switch {
	case m.IsInt64():
		return m.AsInt64()
	case m.IsString():
		return m.ToString()
	case m.IsArray():
		a, _ := m.ToArray()
		out := make([]any, len(a))
		for i := range a {
			var err error
			if out[i], err = toTree(&a[i]); err != nil {
				return nil, err
			}
		}
		return out, nil
	case m.IsMap():
		// A RESP3 map (CONFIG GET): its keys and values in turn.
		kv, _ := m.AsMap()
		out := make([]any, 0, 2*len(kv))
		for k, e := range kv {
			et, err := toTree(&e)
			if err != nil {
				return nil, err
			}
			out = append(out, k, et)
		}
		return out, nil
	}
	if s, err := m.ToString(); err == nil && !m.IsBool() {
		// A RESP3 verbatim string (INFO), which IsString does not own.
		return s, nil
	}
	return nil, fmt.Errorf("jobqueue: redis: unexpected reply %v", m)
}
