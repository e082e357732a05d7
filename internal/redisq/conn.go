package redisq

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
)

// Conn is what an adapter implements on top of its Redis client: the only
// calls the Engine makes.
type Conn interface {
	// Eval runs s with EVALSHA (EVALSHA_RO when s.ReadOnly, which a
	// client may send to a replica), sending the source with EVAL (EVAL_RO)
	// when the server answers NOSCRIPT. The reply is converted to a plain
	// tree of int64, string, []any and nil (see Decode…); an error is
	// returned mapped by the adapter's one error mapper, which uses
	// ReplyError and RoundTripError. Eval never sends a script again after
	// an error.
	Eval(ctx context.Context, s *Script, keys, args []string) (any, error)
	// BlockPop pops one element of the list key with BLPOP, waiting up to
	// timeout (a whole number of seconds, at least one), and reports
	// whether it popped one.
	BlockPop(ctx context.Context, key string, timeout time.Duration) (bool, error)
	// Subscribe delivers the messages published on channel until ctx is
	// done, then closes the returned channel. It returns once the
	// subscription is active, and subscribes again after a dropped
	// connection (messages published meanwhile are missed).
	Subscribe(ctx context.Context, channel string) (<-chan string, error)
	// Nodes returns the servers that hold the data, for the few commands
	// that are about a server rather than a key (see Engine.CheckConfig):
	// the one server of a single-node or Sentinel client, every master of
	// a Cluster.
	Nodes(ctx context.Context) ([]Node, error)
}

// Node is one Redis server, as Conn.Nodes returns it.
type Node struct {
	// Addr is the server's host:port, or empty when the client talks to
	// one server only.
	Addr string
	// Do runs one command on the server. Its reply is a plain tree as for
	// Conn.Eval, with a map reply flattened to its keys and values in
	// turn; an error reply is returned as an error mapped by ReplyError.
	Do func(ctx context.Context, args ...string) (any, error)
}

// ReplyError maps the message of a Redis error reply to the backend's
// errors. Scripts report whole-call failures with a code as the first
// word, and so does Redis when it refuses a script for lack of memory
// (OOM, backend.ErrFull) or cannot serve it now (backend.ErrUnavailable:
// see unavailableCodes); any other message is a permanent failure of the
// call. Either way the error says that Redis answered.
func ReplyError(msg string) error {
	code, rest, _ := strings.Cut(msg, " ")
	if unavailableCodes[code] || strings.HasPrefix(msg, "ERR max number of clients reached") {
		return &replyError{msg: backend.ErrUnavailable.Error() + ": redis: " + msg, err: backend.ErrUnavailable}
	}
	var err error
	switch code {
	case "NOTFOUND":
		err = backend.ErrNotFound
	case "EXISTS":
		err = backend.ErrJobExists
	case "WRONGSTATE":
		err = backend.ErrWrongState
	case "INVALIDSTATE":
		err = backend.ErrInvalidState
	case "OOM":
		// Redis's own code: a script that may add data, refused whole
		// while memory is over maxmemory (see loadScript).
		err = backend.ErrFull
	default:
		if strings.Contains(msg, "Error compiling script") && strings.Contains(msg, "near '#'") {
			// Redis before 7.0 reads a script's "#!lua" flags line as Lua.
			msg += " (jobqueue's scripts need Redis 7.0 or later)"
		}
		return &replyError{msg: "jobqueue: redis: " + msg}
	}
	return &replyError{msg: err.Error() + ": " + rest, err: err}
}

// unavailableCodes are the error replies with which Redis says that it
// cannot serve a call now, though it may soon: still loading its data, a
// replica or a master without its replicas or quorum, a Cluster slot in
// migration or without a master, a script running too long, a failover in
// progress, writes stopped because snapshots to disk fail (MISCONF, until
// the disk is fixed or stop-writes-on-bgsave-error is turned off). A call
// refused with one did not run.
var unavailableCodes = map[string]bool{
	"LOADING":     true,
	"READONLY":    true,
	"MASTERDOWN":  true,
	"CLUSTERDOWN": true,
	"TRYAGAIN":    true,
	"BUSY":        true,
	"NOREPLICAS":  true,
	"UNBLOCKED":   true, // a blocked client released by a failover or CLIENT UNBLOCK ERROR
	"MISCONF":     true,
}

// replyError is an error reply from Redis, wrapping the backend error its
// code stands for, if any.
type replyError struct {
	msg string
	err error
}

func (e *replyError) Error() string { return e.msg }
func (e *replyError) Unwrap() error { return e.err }

// RoundTripError maps an error that is not an error reply: the round trip
// failed (a refused, reset or timed-out connection), so the call may or may
// not have run, and the error wraps backend.ErrUnavailable. The end of the
// caller's own context is returned as it is, for the caller knows why.
func RoundTripError(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w: redis: %w", backend.ErrUnavailable, err)
}

// itemError maps a per-item code of an acknowledgement script.
func itemError(code, id string) error {
	switch code {
	case "OK":
		return nil
	case "NOTFOUND":
		return fmt.Errorf("%w: %s", backend.ErrNotFound, id)
	case "LOSTCLAIM":
		return fmt.Errorf("%w: %s", backend.ErrLostClaim, id)
	}
	return fmt.Errorf("jobqueue: redis: unexpected item code %q for job %s", code, id)
}
