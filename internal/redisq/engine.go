package redisq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
)

// purgeBatch bounds the job records one purge script call deletes.
const purgeBatch = 500

// Engine is the Backend logic shared by both Redis adapters. It implements
// backend.Backend, backend.Subscriber, backend.ConfigChecker and
// backend.DurableWriter on top of a Conn. It repeats no call itself: a
// call whose reply is lost reports backend.ErrUnavailable, and its repeat
// with the same params is answered by the scripts as backend.Backend's
// "Lost replies and repeated calls" says, from the request records
// (lib.lua) and the claim tokens. The one call it sends again is one that
// Redis refused without running it, for want of the function library,
// once it has loaded the library (see call).
type Engine struct {
	conn Conn

	// loading holds one token while a call loads the library; loads
	// counts the loads that succeeded on every node.
	loading chan struct{}
	loads   atomic.Uint64

	// ctx lives until Close; the blocking goroutines run under it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool // set by Close; no goroutine joins wg after it
	waits  map[string]*waitQueue

	gmu    sync.Mutex
	groups map[string]*enqueueGroup // see enqueue.go

	// emptyTrust is EmptyTrust, shorter in tests.
	emptyTrust time.Duration

	// version is the servers' Redis version, read at the first call
	// that needs it (see durable.go).
	version serverVersion
}

var (
	_ backend.Backend       = (*Engine)(nil)
	_ backend.Subscriber    = (*Engine)(nil)
	_ backend.WorkerTracker = (*Engine)(nil)
	_ backend.DurableWriter = (*Engine)(nil)
)

// NewEngine returns an Engine that talks to Redis through conn.
func NewEngine(conn Conn) *Engine {
	ctx, cancel := context.WithCancel(context.Background())
	return &Engine{conn: conn, loading: make(chan struct{}, 1), ctx: ctx, cancel: cancel, waits: map[string]*waitQueue{},
		groups: map[string]*enqueueGroup{}, emptyTrust: EmptyTrust}
}

// DurableWrites implements backend.DurableWriter (see durable.go).
func (e *Engine) DurableWrites() {}

// Close stops the goroutines that block on Redis for waiting claims and
// waits for them to return. Claims still waiting, and claims started after
// Close, wait out their own timeout without Redis wake-ups. Close does not
// close the client.
func (e *Engine) Close() {
	e.mu.Lock()
	e.closed = true
	e.cancel()
	queues := make([]*waitQueue, 0, len(e.waits))
	for _, q := range e.waits {
		queues = append(queues, q)
	}
	e.mu.Unlock()
	for _, q := range queues {
		q.interrupt()
	}
	e.wg.Wait()
}

// spawn runs f in a goroutine that Close waits for, unless the Engine is
// closed. The check and wg.Add share e.mu with Close, so no goroutine is
// added once Close has begun to wait.
func (e *Engine) spawn(f func()) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		f()
	}()
	return true
}

// ms rounds d up to whole milliseconds, so a positive delay or lease is
// never rounded down to nothing.
func ms(d time.Duration) string {
	if d <= 0 {
		return "0"
	}
	return strconv.FormatInt(int64((d+time.Millisecond-1)/time.Millisecond), 10)
}

// Claim implements backend.Backend. A claim that finds nothing waits on a
// local signal from the queue's blocking goroutine (see waitQueue), not on
// Redis itself, so many waiting claims cost one blocked connection.
func (e *Engine) Claim(ctx context.Context, p backend.ClaimParams) ([]backend.ClaimedJob, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	k := KeysFor(p.Queue)
	// The token base is the request id, so that a repeat hands out the same
	// tokens; a call that will not be repeated gets a random one.
	base := p.RequestID
	if base == "" {
		var err error
		if base, err = newToken(); err != nil {
			return nil, err
		}
	}
	q := e.waitQueue(p.Queue)
	deadline := time.Now().Add(p.Wait)
	// A repeat of a claim that failed here always runs claim.lua: its
	// first run may hold jobs, whatever this process knows of the queue.
	repeat := p.RequestID != "" && q.isRepeat(p.RequestID)
	for woken := false; ; woken = true {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		left := time.Until(deadline)
		if trust := q.trustedEmpty(); p.Wait > 0 && trust > 0 && !repeat {
			// Nothing came since a claim left the queue empty: wait for
			// the wake-up that new work brings, or return empty-handed at
			// the deadline, without asking Redis; no longer than the
			// trust lasts.
			if left <= 0 {
				return nil, nil
			}
			if err := q.wait(ctx, min(left, trust)); err != nil {
				return nil, err
			}
			continue
		}
		repeat = false
		seq, start := q.wakeCount(), time.Now()
		// claimOnce ignores ctx's cancellation (see there); the wait
		// itself still ends at once on cancel.
		r, err := e.claimOnce(ctx, k, p, base)
		if err != nil {
			if p.RequestID != "" {
				q.claimFailed(p.RequestID)
			}
			if woken {
				// The wake-up this claim got may be the only one for
				// the work now pending: pass it on rather than lose it.
				q.handOn()
			}
			return nil, err
		}
		if r.repeat {
			// What the first run took and this claim still holds, maybe
			// nothing; a repeat neither waits nor takes more.
			return r.jobs, nil
		}
		if len(r.jobs) == 0 && r.more {
			// The call ran out of its skip budget on stale ids while more
			// are listed: claim again at once. Each call pops what it
			// skips, so this ends.
			continue
		}
		if !r.more {
			q.sawDrained(seq, start)
			q.setDue(r.now, r.nextDue)
		}
		if len(r.jobs) > 0 {
			if r.more {
				// Avoid a local thundering herd: one claimer hands on to
				// the next, and only while work is left.
				q.wakeOne()
			}
			return r.jobs, nil
		}
		left = time.Until(deadline)
		if left <= 0 {
			return r.jobs, nil
		}
		if err := q.wait(ctx, left); err != nil {
			return nil, err
		}
	}
}

// claimOnce runs claim.lua once with the token base base.
func (e *Engine) claimOnce(ctx context.Context, k Keys, p backend.ClaimParams, base string) (claimReply, error) {
	args := append(k.scriptArgs(5), strconv.Itoa(p.Max), ms(p.Lease), base,
		strconv.Itoa(p.DeadRetention.Max), ms(p.DeadRetention.TTL))
	// The script runs without ctx's cancellation: a reply lost to a cancel
	// that lands mid-flight would leave jobs leased to nobody until
	// Reclaim. Jobs that do come back are returned, so none is lost.
	v, err := e.call(context.WithoutCancel(ctx), scriptClaim, k, p.RequestID, args)
	if err != nil {
		return claimReply{}, err
	}
	return decodeClaim(v)
}

// newToken returns 16 random bytes in hex, the token base of a claim made
// without a request id; claim.lua appends ".<i>" for the i-th job of a
// batch.
func newToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// ackItem is one item of an ack.lua call.
type ackItem struct {
	backend.Ack
	// text is the result (complete) or the error (fail).
	text string
	// note is kept as a completed job's last_error when not empty.
	note string
	// outcome is what follows a fail: "retry", "dead" or "snooze".
	outcome string
	delay   time.Duration
}

// ack runs ack.lua in mode (complete, fail or release) on the items,
// followed by the wait of d when it is enabled: each item whose outcome
// was recorded then reports nil only once it is durable.
func (e *Engine) ack(ctx context.Context, queue, mode string, ret backend.Retention, items []ackItem, d backend.Durability) ([]error, error) {
	k := KeysFor(queue)
	args := append(k.scriptArgs(4+6*len(items)), mode, strconv.Itoa(ret.Max), ms(ret.TTL), strconv.Itoa(len(items)))
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.ID
		args = append(args, it.ID, it.Token, it.text, it.note, it.outcome, ms(it.delay))
	}
	w, err := e.waitFor(ctx, d)
	if err != nil {
		return nil, err
	}
	v, waited, err := e.callWait(ctx, scriptAck, k.scriptKeys(""), args, w)
	if err != nil {
		return nil, err
	}
	errs, err := decodeItems(v, ids)
	if err != nil || w == nil {
		return errs, err
	}
	if nd := notDurable(waited, *w); nd != nil {
		for i, ie := range errs {
			if ie == nil {
				errs[i] = nd
			}
		}
	}
	return errs, nil
}

// Complete implements backend.Backend.
func (e *Engine) Complete(ctx context.Context, p backend.CompleteParams) ([]error, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	items := make([]ackItem, len(p.Items))
	for i, it := range p.Items {
		items[i] = ackItem{Ack: it.Ack, text: string(it.Result), note: it.Error}
	}
	return e.ack(ctx, p.Queue, "complete", p.Retention, items, p.Durability)
}

// Fail implements backend.Backend.
func (e *Engine) Fail(ctx context.Context, p backend.FailParams) ([]error, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	items := make([]ackItem, len(p.Items))
	for i, it := range p.Items {
		items[i] = ackItem{Ack: it.Ack, text: it.Error, outcome: "retry", delay: it.Delay}
		switch {
		case it.Dead:
			items[i].outcome = "dead"
		case it.Snooze:
			items[i].outcome = "snooze"
		}
	}
	return e.ack(ctx, p.Queue, "fail", p.Retention, items, p.Durability)
}

// Release implements backend.Backend.
func (e *Engine) Release(ctx context.Context, p backend.ReleaseParams) ([]error, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	items := make([]ackItem, len(p.Items))
	for i, it := range p.Items {
		items[i] = ackItem{Ack: it}
	}
	return e.ack(ctx, p.Queue, "release", backend.Retention{}, items, backend.Durability{})
}

// Extend implements backend.Backend.
func (e *Engine) Extend(ctx context.Context, p backend.ExtendParams) ([]error, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	k := KeysFor(p.Queue)
	ids := make([]string, len(p.Items))
	args := append(k.scriptArgs(2+2*len(p.Items)), ms(p.Lease), strconv.Itoa(len(p.Items)))
	for i, it := range p.Items {
		ids[i] = it.ID
		args = append(args, it.ID, it.Token)
	}
	v, err := e.call(ctx, scriptExtend, k, "", args)
	if err != nil {
		return nil, err
	}
	return decodeItems(v, ids)
}

// Reclaim implements backend.Backend.
func (e *Engine) Reclaim(ctx context.Context, p backend.ReclaimParams) (backend.ReclaimResult, error) {
	if err := p.Validate(); err != nil {
		return backend.ReclaimResult{}, err
	}
	k := KeysFor(p.Queue)
	args := append(k.scriptArgs(3), strconv.Itoa(p.Max), strconv.Itoa(p.DeadRetention.Max), ms(p.DeadRetention.TTL))
	v, err := e.call(ctx, scriptReclaim, k, p.RequestID, args)
	if err != nil {
		return backend.ReclaimResult{}, err
	}
	return decodeReclaim(v)
}

// Get implements backend.Backend.
func (e *Engine) Get(ctx context.Context, queue, id string) (backend.JobInfo, error) {
	if err := backend.ValidateJobRef(queue, id); err != nil {
		return backend.JobInfo{}, err
	}
	v, err := e.callJob(ctx, scriptGet, queue, id, "")
	if err != nil {
		return backend.JobInfo{}, err
	}
	return decodeJob(v, id)
}

// List implements backend.Backend.
func (e *Engine) List(ctx context.Context, p backend.ListParams) ([]string, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	k := KeysFor(p.Queue)
	args := append(k.scriptArgs(3), string(p.State), strconv.Itoa(p.Offset), strconv.Itoa(p.Limit))
	v, err := e.call(ctx, scriptList, k, "", args)
	if err != nil {
		return nil, err
	}
	return asStrings(v, "list")
}

// Stats implements backend.Backend.
func (e *Engine) Stats(ctx context.Context, queue string) (backend.Stats, error) {
	if err := backend.ValidateQueueName(queue); err != nil {
		return backend.Stats{}, err
	}
	k := KeysFor(queue)
	v, err := e.call(ctx, scriptStats, k, "", k.scriptArgs(0))
	if err != nil {
		return backend.Stats{}, err
	}
	return decodeStats(v)
}

// Purge implements backend.Backend. It deletes in batches, one script
// call each, so no single call blocks Redis for long; the last one records
// the request.
func (e *Engine) Purge(ctx context.Context, p backend.PurgeParams) error {
	if err := p.Validate(); err != nil {
		return err
	}
	k := KeysFor(p.Queue)
	args := append(k.scriptArgs(1), strconv.Itoa(purgeBatch))
	for {
		v, err := e.call(ctx, scriptPurge, k, p.RequestID, args)
		if err != nil {
			return err
		}
		more, err := asInt(v, "purge")
		if err != nil || more == 0 {
			return err
		}
	}
}

// Beat implements backend.WorkerTracker, with one call of beat.lua. It
// sends no request id: a repeat after a lost reply beats again, which is
// harmless (backend's "Lost replies and repeated calls").
func (e *Engine) Beat(ctx context.Context, p backend.BeatParams) error {
	if err := p.Validate(); err != nil {
		return err
	}
	k := KeysFor(p.Queue)
	_, err := e.call(ctx, scriptBeat, k, "", append(k.scriptArgs(2), p.ID, ms(p.TTL)))
	return err
}

// RetryDead implements backend.Backend.
func (e *Engine) RetryDead(ctx context.Context, p backend.RetryDeadParams) error {
	if err := p.Validate(); err != nil {
		return err
	}
	_, err := e.callJob(ctx, scriptRetryDead, p.Queue, p.ID, p.RequestID)
	return err
}

// Delete implements backend.Backend.
func (e *Engine) Delete(ctx context.Context, p backend.DeleteParams) error {
	if err := p.Validate(); err != nil {
		return err
	}
	_, err := e.callJob(ctx, scriptDelete, p.Queue, p.ID, p.RequestID)
	return err
}

// callJob runs a function whose only own argument is the job id, for a
// call whose params are valid.
func (e *Engine) callJob(ctx context.Context, s *Function, queue, id, requestID string) (any, error) {
	k := KeysFor(queue)
	return e.call(ctx, s, k, requestID, append(k.scriptArgs(1), id))
}

// Subscribe implements backend.Subscriber.
func (e *Engine) Subscribe(ctx context.Context, queue string) (<-chan backend.Event, error) {
	if err := backend.ValidateQueueName(queue); err != nil {
		return nil, err
	}
	msgs, err := e.conn.Subscribe(ctx, KeysFor(queue).Events)
	if err != nil {
		return nil, err
	}
	out := make(chan backend.Event)
	go func() {
		defer close(out)
		// The adapter's channel buffers and drops for a slow reader; this
		// loop only converts, and drains msgs until the adapter closes it.
		for m := range msgs {
			select {
			case out <- ParseEvent(queue, m):
			case <-ctx.Done():
			}
		}
	}()
	return out, nil
}
