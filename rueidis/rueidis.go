// Package rueidis is the jobqueue backend for Redis through
// github.com/redis/rueidis, on a single node or a Cluster (every script of
// a queue touches one hash slot).
//
// Backend implements backend.Backend, backend.Subscriber and
// backend.ConfigChecker (a warning for a maxmemory-policy that may evict
// queue keys). The key layout and the scripts are shared with the goredis
// adapter and described in the internal redisq package; this package only
// talks to the client. It needs Redis 7.0 or later, whose scripts declare
// flags: see "Memory" in the redisq package.
//
// # Connections
//
// rueidis pipelines ordinary commands (scripts included) over one shared
// connection per node, so they never wait for a free connection. Blocking
// commands such as BLPOP take a dedicated connection from a separate pool
// of BlockingPoolSize (default 1024) for the whole wait. A Backend blocks
// at most one such connection per queue that has waiting claims, whatever
// the number of waiting claims: one goroutine per queue waits on Redis
// (BLPOP on the queue's marker key, at most 2 s per call) and wakes the
// local claims one at a time. 64 workers waiting on one queue therefore
// hold 1 blocking connection, and enqueues, completes and heartbeats keep
// flowing over the pipelined connection. Subscribe shares the client's
// pub/sub connection.
//
// # Lost replies
//
// rueidis does not send a script again when its connection drops; the call
// fails, although it may have run on Redis. The Backend repeats a claim once
// itself, and the claim script answers the repeat with the jobs the first
// run took, so they are not leased to nobody. Other calls report the error
// and may have taken effect: a caller that repeats an Enqueue then gets
// ErrJobExists, a RetryDead ErrWrongState and a Delete ErrNotFound,
// although the first run did the work; Complete, Fail, Release and Extend
// repeat as no-ops by their tokens.
//
// The caller owns the client and closes it; call Backend.Close first.
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

// Backend is a jobqueue backend on a rueidis client. Its methods are those
// of backend.Backend and backend.Subscriber, plus Close, which stops the
// goroutines that wait on Redis for claims (it does not close the client).
type Backend struct {
	*redisq.Engine
}

var (
	_ backend.Backend       = (*Backend)(nil)
	_ backend.Subscriber    = (*Backend)(nil)
	_ backend.ConfigChecker = (*Backend)(nil)
)

// New returns a Backend that uses client. The caller keeps ownership of
// client and closes it after calling Backend.Close.
func New(client rueidislib.Client) *Backend {
	return &Backend{Engine: redisq.NewEngine(conn{client})}
}

// conn implements redisq.Conn with rueidis.
type conn struct {
	c rueidislib.Client
}

func (c conn) Eval(ctx context.Context, s *redisq.Script, keys, args []string) (any, error) {
	b := c.c.B()
	res := c.c.Do(ctx, b.Evalsha().Sha1(s.SHA).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build())
	if re, ok := rueidislib.IsRedisErr(res.Error()); ok && re.IsNoScript() {
		res = c.c.Do(ctx, b.Eval().Script(s.Src).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build())
	}
	msg, err := res.ToMessage()
	if err != nil {
		return nil, mapError(err)
	}
	return toTree(&msg)
}

func (c conn) BlockPop(ctx context.Context, key string, timeout time.Duration) (bool, error) {
	err := c.c.Do(ctx, c.c.B().Blpop().Key(key).Timeout(timeout.Seconds()).Build()).Error()
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
			err := c.c.Receive(hookCtx, c.c.B().Subscribe().Channel(channel).Build(), func(m rueidislib.PubSubMessage) {
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
		msg, err := client.Do(ctx, client.B().Arbitrary(args...).Build()).ToMessage()
		if err != nil {
			return nil, mapError(err)
		}
		return toTree(&msg)
	}
}

// mapError is the one place rueidis errors become jobqueue errors.
func mapError(err error) error {
	if re, ok := rueidislib.IsRedisErr(err); ok {
		return redisq.ReplyError(re.Error())
	}
	return fmt.Errorf("jobqueue: redis: %w", err)
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
