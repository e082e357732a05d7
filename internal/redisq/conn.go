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
	// Call runs f with FCALL (FCALL_RO when f.ReadOnly, which a client
	// may send to a replica). The reply is converted to a plain tree of
	// int64, string, []any and nil (see Decode…); an error is returned
	// mapped by the adapter's one error mapper, which uses ReplyError and
	// RoundTripError. Call sends f once: loading the library when Redis
	// lacks it, and calling again, is the Engine's (see Engine.call).
	Call(ctx context.Context, f *Function, keys, args []string) (any, error)
	// CallWait runs f, which writes, as Call does, and then w's WAIT or
	// WAITAOF on the same connection, right after f, so that the wait
	// covers f's writes (see durable.go). It returns f's reply or error as
	// Call does and, when f ran, the wait's outcome apart: a wait that
	// failed does not undo f. A client that cannot keep one connection
	// for the two returns an error before sending anything.
	CallWait(ctx context.Context, f *Function, keys, args []string, w Wait) (any, Waited, error)
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
	// that are about a server rather than a key (Engine.CheckConfig, and
	// FUNCTION LOAD): the one server of a single-node or Sentinel client,
	// every master of a Cluster, every shard of a go-redis Ring. A replica
	// among them refuses FUNCTION LOAD, and gets the library from its
	// master instead.
	Nodes(ctx context.Context) ([]Node, error)
}

// Node is one Redis server, as Conn.Nodes returns it.
type Node struct {
	// Addr is the server's host:port, or empty when the client talks to
	// one server only.
	Addr string
	// Do runs one command on the server. Its reply is a plain tree as for
	// Conn.Call, with a map reply flattened to its keys and values in
	// turn; an error reply is returned as an error mapped by ReplyError.
	Do func(ctx context.Context, args ...string) (any, error)
}

// ReplyError maps the message of a Redis error reply to the backend's
// errors. Scripts report whole-call failures with a code as the first
// word, and so does Redis when it refuses a function for lack of memory
// (OOM, backend.ErrFull) or cannot serve it now (backend.ErrUnavailable:
// see unavailableCodes, and a function Redis does not have, which the
// Engine loads: see functionMissing); any other message is a permanent
// failure of the call. Either way the error says that Redis answered.
func ReplyError(msg string) error {
	code, rest, _ := strings.Cut(msg, " ")
	// rueidis drops the ERR code that go-redis keeps.
	bare := strings.TrimPrefix(msg, "ERR ")
	if unavailableCodes[code] || strings.HasPrefix(bare, "max number of clients reached") ||
		strings.HasPrefix(bare, functionNotFound) {
		return &replyError{msg: backend.ErrUnavailable.Error() + ": redis: " + msg, err: backend.ErrUnavailable, reply: msg}
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
	case "TOOMANYKINDS":
		return &replyError{msg: backend.ErrTooManyLimitedKinds.Error(), err: backend.ErrTooManyLimitedKinds, reply: msg}
	case "OOM":
		// Redis's own code: a function that may add data, refused whole
		// while memory is over maxmemory (see denyOOM).
		err = backend.ErrFull
	case "NOPERM":
		// Redis's own code: the ACL refused a key, channel or command.
		// The reply is kept whole: it says which.
		return &replyError{msg: "jobqueue: redis: " + msg, err: backend.ErrNotPermitted, reply: msg}
	default:
		var hint string
		if l := strings.ToLower(bare); strings.HasPrefix(l, "unknown command") && strings.Contains(l, "fcall") {
			// Redis before 7.0 has no functions.
			hint = " (jobqueue needs Redis 7.0 or later)"
		}
		return &replyError{msg: "jobqueue: redis: " + msg + hint, reply: msg}
	}
	return &replyError{msg: err.Error() + ": " + rest, err: err, reply: msg}
}

// functionNotFound starts Redis's answer to a call of a function it does
// not have: the library was never loaded there, or was lost with a
// restart without persistence, a FUNCTION FLUSH or a failover to a node
// that never had it. The call did not run.
const functionNotFound = "Function not found"

// functionMissing reports whether err is Redis's answer to a call of a
// function it does not have.
func functionMissing(err error) bool {
	var re *replyError
	return errors.As(err, &re) && strings.HasPrefix(strings.TrimPrefix(re.reply, "ERR "), functionNotFound)
}

// unavailableCodes are the error replies with which Redis says that it
// cannot serve a call now, though it may soon: still loading its data, a
// replica or a master without its replicas or quorum, a Cluster slot in
// migration or without a master, a script running too long, a failover in
// progress, writes stopped because snapshots to disk fail (MISCONF, until
// the disk is fixed or stop-writes-on-bgsave-error is turned off), a slot
// that another Cluster node serves. A call refused with one did not run.
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
	// Another Cluster node serves the slot. A client follows these by
	// itself, but not on a connection pinned to one node (Conn.CallWait).
	"MOVED": true,
	"ASK":   true,
}

// replyError is an error reply from Redis, wrapping the backend error its
// code stands for, if any.
type replyError struct {
	msg string
	err error
	// reply is Redis's message as it came.
	reply string
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
	case "CANCELLED":
		return fmt.Errorf("%w: %s", backend.ErrCancelled, id)
	case "WRONGSTATE":
		return fmt.Errorf("%w: %s cannot be cancelled", backend.ErrWrongState, id)
	}
	return fmt.Errorf("jobqueue: redis: unexpected item code %q for job %s", code, id)
}
