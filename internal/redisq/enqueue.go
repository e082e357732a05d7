package redisq

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jobqueue-go/jobqueue/backend"
)

// Concurrent Enqueue calls of one queue share script calls: while
// enqueueInFlight script calls of a queue's enqueues are on their way, the
// calls that arrive wait in the queue's enqueueGroup, and when the call in
// flight ends, all that waited go out as one (group commit). A call
// that finds fewer in flight is sent at once, alone, so there is no timer
// and no added latency without concurrency; under load the waiting calls
// cost Redis one script call, one TIME, one RPUSH, one HINCRBY and one
// PUBLISH together instead of one each.
//
// Each call keeps its own outcome: enqueue.lua runs the calls in turn, each
// all or nothing with its own request record (a repeat of one call is
// recognised whatever calls it shares a script call with), and answers each
// on its own; an error of the whole script call (a lost reply, OOM) is every
// call's error. A call whose context ends while it waits is taken out and
// sends nothing; one whose context ends in flight returns at once, its
// outcome unknown as for any call cut short, and the script call is
// cancelled once every call in it has returned.
//
// Calls made with a Durability gather only with calls made with the same
// one, in a group of their own, and one wait after the script call serves
// them all (see durable.go); the others never wait for it.
const (
	// enqueueInFlight is how many enqueue script calls of one queue the
	// Engine sends at a time. One lets the most calls gather.
	enqueueInFlight = 1
	// The calls gathered into one script call hold at most this many jobs
	// and payload bytes, unless a single call holds more.
	gatherJobs  = 1000
	gatherBytes = 4 << 20
)

// enqueueGroup is the enqueue state of one queue and Durability,
// guarded by Engine.gmu.
type enqueueGroup struct {
	queue      string
	durability backend.Durability
	inFlight   int
	waiting    []*enqueueCall
}

// groupKey is the key of Engine.groups for the enqueues of queue made
// with d: the queue's name for those made without one.
func groupKey(queue string, d backend.Durability) string {
	if !d.Enabled() {
		return queue
	}
	return fmt.Sprintf("%s %d %t %d", queue, d.Replicas, d.AOF, d.Timeout)
}

// enqueueCall is one Enqueue call waiting in, or sent by, an enqueueGroup.
type enqueueCall struct {
	ctx context.Context
	// jobs is the call's part of enqueue.lua's ARGV after its request
	// record's index: n, then jobArgs values per job (see enqueue.lua).
	// It is built on the caller's goroutine, so that a caller that returns
	// before the script call is sent may reuse its params' memory.
	jobs    []string
	request string        // the request record's key, or ""
	size    int           // payload bytes
	done    chan struct{} // closed once err is set
	err     error
	// sent is the script call that took this call, nil while it waits;
	// guarded by Engine.gmu.
	sent *gathered
}

// gathered is one script call of calls that waited.
type gathered struct {
	cancel context.CancelFunc
	// open counts the calls still waiting for its reply; guarded by
	// Engine.gmu.
	open int
}

// Enqueue implements backend.Backend.
func (e *Engine) Enqueue(ctx context.Context, p backend.EnqueueParams) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c := &enqueueCall{ctx: ctx, jobs: make([]string, 1, 1+jobArgs*len(p.Jobs))}
	c.jobs[0] = strconv.Itoa(len(p.Jobs))
	for _, j := range p.Jobs {
		headers, err := encodeHeaders(j.Headers)
		if err != nil {
			return err
		}
		c.jobs = append(c.jobs, j.ID, string(j.Payload), strconv.Itoa(j.MaxAttempts), ms(j.Delay),
			strconv.Itoa(j.Priority), j.Kind, headers, ms(j.Timeout), ms(j.Expiry), uniqueArg(j.Unique))
		c.size += len(j.Payload) + len(headers)
	}
	if p.RequestID != "" {
		c.request = KeysFor(p.Queue).Request(p.RequestID)
	}
	key := groupKey(p.Queue, p.Durability)
	e.gmu.Lock()
	g := e.groups[key]
	if g == nil {
		g = &enqueueGroup{queue: p.Queue, durability: p.Durability}
		e.groups[key] = g
	}
	if g.inFlight < enqueueInFlight {
		g.inFlight++
		e.gmu.Unlock()
		e.sendEnqueues(ctx, g, []*enqueueCall{c})
		e.enqueueSent(g)
		return c.err
	}
	c.done = make(chan struct{})
	g.waiting = append(g.waiting, c)
	e.gmu.Unlock()

	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
	}
	e.gmu.Lock()
	defer e.gmu.Unlock()
	select {
	case <-c.done:
		return c.err
	default:
	}
	if s := c.sent; s != nil {
		if s.open--; s.open == 0 {
			s.cancel()
		}
	} else {
		g.waiting = slices.DeleteFunc(g.waiting, func(w *enqueueCall) bool { return w == c })
	}
	return ctx.Err()
}

// enqueueSent ends a script call of g's and sends the calls that waited
// meanwhile, as far as the gathering bounds take them, in a new goroutine;
// it forgets g once nothing is in flight or waiting.
func (e *Engine) enqueueSent(g *enqueueGroup) {
	e.gmu.Lock()
	g.inFlight--
	if len(g.waiting) == 0 {
		if g.inFlight == 0 {
			delete(e.groups, groupKey(g.queue, g.durability))
		}
		e.gmu.Unlock()
		return
	}
	n, jobs, size := 0, 0, 0
	for _, c := range g.waiting {
		size += c.size
		jobs += c.count()
		if n > 0 && (jobs > gatherJobs || size > gatherBytes) {
			break
		}
		n++
	}
	calls := slices.Clone(g.waiting[:n])
	g.waiting = slices.Delete(g.waiting, 0, n)
	g.inFlight++
	// The script call serves several callers: it keeps the first one's
	// context values, and ends when every caller has returned.
	ctx, cancel := context.WithCancel(context.WithoutCancel(calls[0].ctx))
	s := &gathered{cancel: cancel, open: n}
	for _, c := range calls {
		c.sent = s
	}
	e.gmu.Unlock()
	go func() {
		defer cancel()
		e.sendEnqueues(ctx, g, calls)
		for _, c := range calls {
			close(c.done)
		}
		e.enqueueSent(g)
	}()
}

// jobArgs is the number of enqueue.lua arguments per job: id, payload,
// max_attempts, delay_ms, priority, kind, headers, timeout_ms, expiry_ms,
// unique.
const jobArgs = 10

// uniqueArg is enqueue.lua's unique argument for u: "" for none, or
// "<window_ms> <on> <key>", on being the letters of the finished states
// that end the hold (c: completed, d: dead) or "-" for none.
func uniqueArg(u backend.Unique) string {
	if u.Key == "" {
		return ""
	}
	on := ""
	if u.Releases(backend.StateCompleted) {
		on += "c"
	}
	if u.Releases(backend.StateDead) {
		on += "d"
	}
	if on == "" {
		on = "-"
	}
	return ms(u.Window) + " " + on + " " + u.Key
}

// uniqueKey returns the unique key of job i of c, from its arguments.
func (c *enqueueCall) uniqueKey(i int) string {
	arg := c.jobs[1+i*jobArgs+jobArgs-1]
	_, rest, _ := strings.Cut(arg, " ")
	_, key, _ := strings.Cut(rest, " ")
	return key
}

// count is the number of jobs of c.
func (c *enqueueCall) count() int { return (len(c.jobs) - 1) / jobArgs }

// encodeHeaders returns the job record's headers field for h: JSON, or ""
// for none, which stores no field.
func encodeHeaders(h map[string]string) (string, error) {
	if len(h) == 0 {
		return "", nil
	}
	b, err := json.Marshal(h)
	return string(b), err
}

// sendEnqueues runs calls, all of g, in one enqueue.lua call, followed by
// the wait of g's Durability, and sets each call's err.
func (e *Engine) sendEnqueues(ctx context.Context, g *enqueueGroup, calls []*enqueueCall) {
	queue := g.queue
	k := KeysFor(queue)
	keys := k.scriptKeys("")
	n := 1
	for _, c := range calls {
		n += 1 + len(c.jobs)
	}
	args := append(k.scriptArgs(n), strconv.Itoa(len(calls)))
	for _, c := range calls {
		r := "0"
		if c.request != "" {
			keys = append(keys, c.request)
			r = strconv.Itoa(len(keys))
		}
		args = append(append(args, r), c.jobs...)
	}
	w, err := e.waitFor(ctx, g.durability)
	if err != nil {
		for _, c := range calls {
			c.err = err
		}
		return
	}
	v, waited, err := e.callWait(ctx, scriptEnqueue, keys, args, w)
	var errs []error
	if err == nil {
		errs, err = decodeEnqueue(v, queue, calls)
	}
	var nd error
	if err == nil && w != nil {
		nd = notDurable(waited, *w)
	}
	for i, c := range calls {
		switch {
		case err != nil:
			c.err = err
		case errs[i] == nil:
			// Stored: nil once durable.
			c.err = nd
		default:
			c.err = errs[i]
		}
	}
}
