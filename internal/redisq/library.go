package redisq

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// call runs f on the queue of k for a call made with requestID (empty for
// reads and token-fenced calls). A context that has already ended sends
// nothing.
//
// The library is loaded lazily: when Redis answers that it lacks the
// function (a fresh server, one restarted without persistence, a FUNCTION
// FLUSH, a failover to a node that never had it), the call did not run,
// so call loads the library (loadLibrary) and sends the call once more. A
// repeat that still misses (a read sent to a replica that the library
// has not reached yet) returns backend.ErrUnavailable, as ReplyError maps
// the miss, or the error that kept the library from loading.
func (e *Engine) call(ctx context.Context, f *Function, k Keys, requestID string, args []string) (any, error) {
	return e.callKeys(ctx, f, k.scriptKeys(requestID), args)
}

// callKeys is call with the KEYS array given whole.
func (e *Engine) callKeys(ctx context.Context, f *Function, keys, args []string) (any, error) {
	v, _, err := e.callWait(ctx, f, keys, args, nil)
	return v, err
}

// callWait is callKeys, followed by the wait w on the same connection
// when w is not nil (Conn.CallWait): the wait's outcome comes back apart.
func (e *Engine) callWait(ctx context.Context, f *Function, keys, args []string, w *Wait) (any, Waited, error) {
	if err := ctx.Err(); err != nil {
		return nil, Waited{}, err
	}
	send := func() (any, Waited, error) {
		if w == nil {
			v, err := e.conn.Call(ctx, f, keys, args)
			return v, Waited{}, err
		}
		return e.conn.CallWait(ctx, f, keys, args, *w)
	}
	seen := e.loads.Load()
	v, waited, err := send()
	if !functionMissing(err) {
		return v, waited, err
	}
	loadErr := e.loadLibrary(ctx, seen)
	v, waited, err = send()
	if functionMissing(err) && loadErr != nil {
		return nil, Waited{}, loadErr
	}
	return v, waited, err
}

// loadLibrary loads the library on every node of the Conn, unless a load
// succeeded since the caller saw seen loads (see Engine.loads): calls that
// miss the function together cause one load, the others wait for it and
// send their call again. It returns the first node's error, or nil.
func (e *Engine) loadLibrary(ctx context.Context, seen uint64) error {
	select {
	case e.loading <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-e.loading }()
	if e.loads.Load() != seen {
		return nil
	}
	nodes, err := e.conn.Nodes(ctx)
	if err != nil {
		return err
	}
	var first error
	for _, n := range nodes {
		if err := loadOn(ctx, n); err != nil && first == nil {
			first = err
			if n.Addr != "" {
				first = fmt.Errorf("%w (FUNCTION LOAD on %s)", err, n.Addr)
			}
		}
	}
	if first == nil {
		e.loads.Add(1)
	}
	return first
}

// loadOn runs FUNCTION LOAD of the library on n, never with REPLACE, so it
// cannot overwrite a library of another version. A library of the same
// name that n already has is this very library, since the name is a hash
// of the source (another call or process loaded it); a replica refuses
// the load as READONLY and gets the library from its master.
func loadOn(ctx context.Context, n Node) error {
	_, err := n.Do(ctx, "FUNCTION", "LOAD", library.Src)
	var re *replyError
	if errors.As(err, &re) && (strings.Contains(re.reply, "Library '"+library.Name+"' already exists") ||
		strings.HasPrefix(re.reply, "READONLY")) {
		return nil
	}
	return err
}
