// Package goredis is the jobqueue backend for Redis through
// github.com/redis/go-redis/v9. It accepts any redis.UniversalClient: a
// single node, a Sentinel failover client or a Cluster client (every
// script of a queue touches one hash slot).
//
// Backend implements backend.Backend, backend.Subscriber and
// backend.ConfigChecker (a warning for a maxmemory-policy that may evict
// queue keys). The key layout and the scripts are shared with the rueidis
// adapter and described in the internal redisq package; this package only
// talks to the client. It needs Redis 7.0 or later, whose scripts declare
// flags: see "Memory" in the redisq package.
//
// # Connections
//
// go-redis serves every command from a pool of PoolSize connections
// (default 10 per GOMAXPROCS), and a blocking command holds its connection
// for the whole wait. A Backend therefore never blocks one connection per
// waiting claim: per queue, at most one goroutine waits on Redis (BLPOP on
// the queue's marker key, at most 2 s per call) and wakes the local claims
// one at a time. So with N queues that have waiting claims, N pool
// connections are blocked, whatever the number of waiting claims; the
// others stay free for enqueues, completes and heartbeats. 64 workers
// waiting on one queue with the default pool of 20 (2 CPUs) use 1
// connection for waiting and leave 19. Subscribe uses one more connection
// per call, outside the pool.
//
// # Lost replies
//
// go-redis sends a command again when its connection drops or its read
// times out (up to Options.MaxRetries times, 3 by default), scripts
// included, so a call may run twice on Redis. Claim and Enqueue are safe to
// repeat: a repeated claim returns the jobs the first run took (the Backend
// also repeats a claim once itself), and a repeated enqueue succeeds
// without storing anything twice. Complete, Fail, Release and Extend repeat
// as no-ops by their tokens. RetryDead and Delete are not: repeated after a
// reply was lost, they report ErrWrongState and ErrNotFound although the
// first run did the work. A BLPOP whose reply was lost is also sent again
// without telling the Backend, so the wake-up it carried is lost: the
// claims of this process that were waiting then wake with the next
// wake-up, or at the end of their wait.
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

// Backend is a jobqueue backend on a go-redis client. Its methods are
// those of backend.Backend and backend.Subscriber, plus Close, which stops
// the goroutines that wait on Redis for claims (it does not close the
// client).
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
func New(client redis.UniversalClient) *Backend {
	return &Backend{Engine: redisq.NewEngine(conn{client})}
}

// conn implements redisq.Conn with go-redis.
type conn struct {
	c redis.UniversalClient
}

func (c conn) Eval(ctx context.Context, s *redisq.Script, keys, args []string) (any, error) {
	a := make([]any, len(args))
	for i, x := range args {
		a[i] = x
	}
	v, err := c.c.EvalSha(ctx, s.SHA, keys, a...).Result()
	if redis.HasErrorPrefix(err, "NOSCRIPT") {
		v, err = c.c.Eval(ctx, s.Src, keys, a...).Result()
	}
	if err != nil {
		return nil, c.fail(err)
	}
	return toTree(v)
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
// every failed call of an outage is cheap.
func (c conn) fail(err error) error {
	var reply redis.Error
	if cc, ok := c.c.(*redis.ClusterClient); ok && !errors.As(err, &reply) {
		cc.ReloadState(context.Background())
	}
	return mapError(err)
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

// Nodes returns the client itself, or every master of a Cluster client
// (a Ring, which shards by key alone, answers from the shard it picks).
func (c conn) Nodes(ctx context.Context) ([]redisq.Node, error) {
	cc, ok := c.c.(*redis.ClusterClient)
	if !ok {
		return []redisq.Node{{Do: do(c.c)}}, nil
	}
	var mu sync.Mutex
	var nodes []redisq.Node
	err := cc.ForEachMaster(ctx, func(_ context.Context, m *redis.Client) error {
		mu.Lock()
		defer mu.Unlock()
		nodes = append(nodes, redisq.Node{Addr: m.Options().Addr, Do: do(m)})
		return nil
	})
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

// mapError is the one place go-redis errors become jobqueue errors.
func mapError(err error) error {
	var re redis.Error
	if errors.As(err, &re) {
		return redisq.ReplyError(re.Error())
	}
	return fmt.Errorf("jobqueue: redis: %w", err)
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
