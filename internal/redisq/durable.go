package redisq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
)

// Durable calls (backend.DurableWriter). An Enqueue, Complete or Fail made
// with a backend.Durability runs its function as any call does, then waits
// with WAIT or WAITAOF on the same connection, right after it
// (Conn.CallWait). Redis counts, for either, the replicas that have every
// write the connection made so far, so only the connection that made the
// write can wait for it: a WAIT on another one waits for that one's
// writes, maybe none.
//
// From Redis 7.2 on, a connection's offset moves only with a command that
// propagated a write (server.c, call()), so a call whose function wrote
// nothing would wait for whatever its connection wrote before, maybe
// nothing, and report a write durable that is not. That is why the answers
// that report an earlier write as done write something too: a repeat of an
// Enqueue renews its request record's expiry (enqueue.lua), a repeat of an
// acknowledgement writes its acked field again (ack.lua). Their wait then
// covers every write the server had made, the first run's included, which
// may have gone out on another connection, or to a master that has since
// failed over to this one. Redis 7.0 and 7.1 move the offset with every
// command, writes or not, so there the repeat's write changes nothing.
//
// WAITAOF needs Redis 7.2. The Engine reads the version of the servers
// (INFO server, redis_version) once, at the first call that asks for AOF,
// and refuses AOF on an older one before writing anything. WAIT, which
// every version has, needs no such check.

// aofVersion is the first Redis version that has WAITAOF.
var aofVersion = [2]int{7, 2}

// Wait is what a durable call waits for after its function: WAIT
// Replicas Timeout or, with AOF, WAITAOF 1 Replicas Timeout.
type Wait struct {
	Replicas int
	AOF      bool
	Timeout  time.Duration
}

// Waited is the outcome of the wait that followed a function (see
// Conn.CallWait): WAIT's reply, an int64, or WAITAOF's, []any of two
// int64 (the local fsyncs, then the replicas'), or the wait's error.
type Waited struct {
	Reply any
	Err   error
}

// waitFor returns what a call made with d waits for, nil when d asks for
// nothing, or an error, before anything is written, when the servers
// cannot wait that way.
func (e *Engine) waitFor(ctx context.Context, d backend.Durability) (*Wait, error) {
	if !d.Enabled() {
		return nil, nil
	}
	w := &Wait{Replicas: d.Replicas, AOF: d.AOF, Timeout: d.Timeout}
	if !d.AOF {
		return w, nil
	}
	v, err := e.version.read(ctx, e.conn)
	if err != nil {
		return nil, err
	}
	if v.less(aofVersion) {
		return nil, fmt.Errorf("jobqueue: durability with AOF needs Redis %d.%d or later (WAITAOF); this one is %s: %w",
			aofVersion[0], aofVersion[1], v.text, errors.ErrUnsupported)
	}
	return w, nil
}

// notDurable returns nil when w shows that want was met, or an error
// wrapping backend.ErrNotDurable that says how far the write got. The
// error does not wrap the wait's own error: the write was made, so a
// failed wait is no failed round trip of the call (ErrUnavailable).
func notDurable(w Waited, want Wait) error {
	if w.Err != nil {
		return fmt.Errorf("%w: the wait after the write failed: %v", backend.ErrNotDurable, w.Err)
	}
	if !want.AOF {
		n, err := asInt(w.Reply, "WAIT")
		if err != nil {
			return fmt.Errorf("%w: %v", backend.ErrNotDurable, err)
		}
		if n >= int64(want.Replicas) {
			return nil
		}
		return fmt.Errorf("%w: %d of %d replicas acknowledged the write within %v",
			backend.ErrNotDurable, n, want.Replicas, want.Timeout)
	}
	a, err := asArray(w.Reply, "WAITAOF")
	var local, replicas int64
	if err == nil && len(a) != 2 {
		err = errShape("WAITAOF", w.Reply)
	}
	if err == nil {
		local, err = asInt(a[0], "WAITAOF")
	}
	if err == nil {
		replicas, err = asInt(a[1], "WAITAOF")
	}
	if err != nil {
		return fmt.Errorf("%w: %v", backend.ErrNotDurable, err)
	}
	if local >= 1 && replicas >= int64(want.Replicas) {
		return nil
	}
	return fmt.Errorf("%w: the write reached the append-only file of %d of 1 master and %d of %d replicas within %v",
		backend.ErrNotDurable, local, replicas, want.Replicas, want.Timeout)
}

// serverVersion is the lowest Redis version among the servers of a Conn,
// read once (INFO server).
type serverVersion struct {
	mu    sync.Mutex
	known bool
	v     version
}

// version is a parsed redis_version.
type version struct {
	major, minor int
	text         string
}

func (v version) less(o [2]int) bool {
	return v.major < o[0] || (v.major == o[0] && v.minor < o[1])
}

// read returns the lowest version among conn's nodes, asking them the
// first time only; a failed read is tried again by the next call.
func (s *serverVersion) read(ctx context.Context, conn Conn) (version, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.known {
		return s.v, nil
	}
	nodes, err := conn.Nodes(ctx)
	if err != nil {
		return version{}, err
	}
	var low version
	for i, n := range nodes {
		info, err := n.Do(ctx, "INFO", "server")
		if err != nil {
			return version{}, err
		}
		text, ok := infoValue(info, "redis_version")
		if !ok {
			return version{}, fmt.Errorf("jobqueue: redis: INFO server has no redis_version")
		}
		v, err := parseVersion(text)
		if err != nil {
			return version{}, err
		}
		if i == 0 || v.less([2]int{low.major, low.minor}) {
			low = v
		}
	}
	s.v, s.known = low, true
	return low, nil
}

// parseVersion parses "major.minor.patch".
func parseVersion(text string) (version, error) {
	parts := strings.SplitN(text, ".", 3)
	if len(parts) >= 2 {
		major, err1 := strconv.Atoi(parts[0])
		minor, err2 := strconv.Atoi(parts[1])
		if err1 == nil && err2 == nil {
			return version{major: major, minor: minor, text: text}, nil
		}
	}
	return version{}, fmt.Errorf("jobqueue: redis: unreadable redis_version %q", text)
}
