package conformance_test

import (
	"context"
	"slices"
	"sync"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/memory"
)

// The state the broken backends keep to misbehave. Every call goes through
// a decorator, so it sees every claim token, delay and payload it needs.

// jobKey names one job of one queue.
type jobKey struct{ queue, id string }

// ackKey names one claim of one job.
type ackKey struct{ queue, id, token string }

// requestKey names one call by its request id.
type requestKey struct{ queue, requestID string }

func ackOf(queue string, a backend.Ack) ackKey { return ackKey{queue, a.ID, a.Token} }

// ackSet counts the acknowledgements a decorator saw succeed.
type ackSet struct {
	mu   sync.Mutex
	seen map[ackKey]int
}

// add records one more success of k and reports how many came before it.
func (s *ackSet) add(k ackKey) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = map[ackKey]int{}
	}
	s.seen[k]++
	return s.seen[k] - 1
}

func (s *ackSet) has(k ackKey) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[k] > 0
}

// succeeded calls f with the index of each item whose per-item error is
// nil, when the call as a whole succeeded.
func succeeded(errs []error, err error, f func(i int)) {
	if err != nil {
		return
	}
	for i, e := range errs {
		if e == nil {
			f(i)
		}
	}
}

// claimLog remembers every job's latest claim.
type claimLog struct {
	mu     sync.Mutex
	latest map[jobKey]backend.ClaimedJob
}

func (l *claimLog) record(queue string, got []backend.ClaimedJob) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.latest == nil {
		l.latest = map[jobKey]backend.ClaimedJob{}
	}
	for _, c := range got {
		l.latest[jobKey{queue, c.ID}] = c
	}
}

func (l *claimLog) token(queue, id string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.latest[jobKey{queue, id}]
	return c.Token, ok
}

// of returns the latest claims of the jobs of queue.
func (l *claimLog) of(queue string) []backend.ClaimedJob {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []backend.ClaimedJob
	for k, c := range l.latest {
		if k.queue == queue {
			out = append(out, c)
		}
	}
	return out
}

// claimLogger is a memory backend that logs every claim it hands out.
type claimLogger struct {
	*memory.Backend
	claims claimLog
}

func (b *claimLogger) Claim(ctx context.Context, p backend.ClaimParams) ([]backend.ClaimedJob, error) {
	got, err := b.Backend.Claim(ctx, p)
	b.claims.record(p.Queue, got)
	return got, err
}

// relay forwards the inner backend's events to each subscriber through an
// edit, and lets a decorator publish events of its own. Events are
// offered, never forced: a subscriber that is full misses them, as on the
// memory backend.
type relay struct {
	mu   sync.Mutex
	subs map[chan backend.Event]string // each subscriber's queue
}

func (r *relay) subscribe(ctx context.Context, inner backend.Subscriber, queue string, edit func(backend.Event) []backend.Event) (<-chan backend.Event, error) {
	in, err := inner.Subscribe(ctx, queue)
	if err != nil {
		return nil, err
	}
	out := make(chan backend.Event, 256)
	r.mu.Lock()
	if r.subs == nil {
		r.subs = map[chan backend.Event]string{}
	}
	r.subs[out] = queue
	r.mu.Unlock()
	go func() {
		for ev := range in {
			evs := []backend.Event{ev}
			if edit != nil {
				evs = edit(ev)
			}
			r.mu.Lock()
			for _, e := range evs {
				offer(out, e)
			}
			r.mu.Unlock()
		}
		r.mu.Lock()
		delete(r.subs, out)
		close(out)
		r.mu.Unlock()
	}()
	return out, nil
}

// publish offers ev to every subscriber of its queue.
func (r *relay) publish(ev backend.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for ch, q := range r.subs {
		if q == ev.Queue {
			offer(ch, ev)
		}
	}
}

func offer(ch chan backend.Event, ev backend.Event) {
	select {
	case ch <- ev:
	default:
	}
}

// shown maps jobs to a value a decorator shows in place of the one the
// store keeps.
type shown[T any] struct {
	mu sync.Mutex
	m  map[jobKey]T
}

func (s *shown[T]) set(k jobKey, v T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[jobKey]T{}
	}
	s.m[k] = v
}

// of returns the value to show for k; stored is the one kept.
func (s *shown[T]) of(k jobKey, stored T) T {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.m[k]; ok {
		return v
	}
	return stored
}

// attemptsShown is a memory backend that reports each job's attempts with
// an offset added, in Claim and Get; a decorator that embeds it sets the
// offsets to make a state change look as if it kept attempts it gives back.
// A job enqueued, deleted or purged loses its offset.
type attemptsShown struct {
	*memory.Backend
	mu     sync.Mutex
	offset map[jobKey]int
}

func (b *attemptsShown) add(k jobKey, n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.offset == nil {
		b.offset = map[jobKey]int{}
	}
	b.offset[k] += n
}

func (b *attemptsShown) of(k jobKey) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.offset[k]
}

func (b *attemptsShown) forget(match func(jobKey) bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.offset {
		if match(k) {
			delete(b.offset, k)
		}
	}
}

func (b *attemptsShown) Claim(ctx context.Context, p backend.ClaimParams) ([]backend.ClaimedJob, error) {
	got, err := b.Backend.Claim(ctx, p)
	for i := range got {
		got[i].Attempts += b.of(jobKey{p.Queue, got[i].ID})
	}
	return got, err
}

func (b *attemptsShown) Get(ctx context.Context, queue, id string) (backend.JobInfo, error) {
	info, err := b.Backend.Get(ctx, queue, id)
	if err == nil {
		info.Attempts += b.of(jobKey{queue, id})
	}
	return info, err
}

func (b *attemptsShown) Enqueue(ctx context.Context, p backend.EnqueueParams) error {
	err := b.Backend.Enqueue(ctx, p)
	if err == nil {
		b.forget(func(k jobKey) bool {
			return k.queue == p.Queue && slices.ContainsFunc(p.Jobs, func(j backend.NewJob) bool { return j.ID == k.id })
		})
	}
	return err
}

func (b *attemptsShown) Delete(ctx context.Context, p backend.DeleteParams) error {
	err := b.Backend.Delete(ctx, p)
	if err == nil {
		b.forget(func(k jobKey) bool { return k == jobKey{p.Queue, p.ID} })
	}
	return err
}

func (b *attemptsShown) Purge(ctx context.Context, p backend.PurgeParams) error {
	err := b.Backend.Purge(ctx, p)
	if err == nil {
		b.forget(func(k jobKey) bool { return k.queue == p.Queue })
	}
	return err
}

// everything is a List limit that no test's queue reaches.
const everything = 1 << 20

// listAll returns the ids of queue in state, or nil when List fails.
func listAll(ctx context.Context, b backend.Backend, queue string, state backend.State) []string {
	ids, err := b.List(ctx, backend.ListParams{Queue: queue, State: state, Limit: everything})
	if err != nil {
		return nil
	}
	return ids
}

// window applies a List's offset and limit to the whole list.
func window(ids []string, offset, limit int) []string {
	ids = ids[min(offset, len(ids)):]
	return ids[:min(limit, len(ids))]
}

// processingInfo returns the record of each processing job of queue.
func processingInfo(ctx context.Context, b backend.Backend, queue string) []backend.JobInfo {
	var out []backend.JobInfo
	for _, id := range listAll(ctx, b, queue, backend.StateProcessing) {
		if info, err := b.Get(ctx, queue, id); err == nil && info.State == backend.StateProcessing {
			out = append(out, info)
		}
	}
	return out
}
