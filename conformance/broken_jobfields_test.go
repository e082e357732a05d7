package conformance_test

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/memory"
)

// The broken backends of issue 14's sentences: kinds, headers, priority
// levels, per-job timeouts, expiry and snooze.

// jobFieldsBroken returns them, for brokenBackends.
func jobFieldsBroken() []brokenBackend {
	mem := memory.New
	return []brokenBackend{
		{"claim-ignores-priority", "Priorities/", func() backend.Backend { return &flatLevels{levelsShown{Backend: mem()}} }},
		{"release-loses-level", "Priorities/ReleaseKeepsLevelAndGoesFirst", func() backend.Backend { return &releaseToLowest{levelsShown: levelsShown{Backend: mem()}} }},
		{"expired-job-returned", "Expiry/", func() backend.Backend { return &expiryIgnored{Backend: mem()} }},
		{"snooze-uses-attempt", "Snooze/AttemptsUnchanged, Snooze/MixedBatch, Snooze/RepeatIsNoOp, Expiry/WayBackMeetsExpiry/Snooze", func() backend.Backend {
			return &snoozeKeepsAttempt{attemptsShown: attemptsShown{Backend: mem()}}
		}},
		{"headers-aliased", "Headers/Copied", func() backend.Backend { return &aliasedHeaders{Backend: mem()} }},
		{"claim-drops-kind", "Kinds/StoredAndReturned", func() backend.Backend { return kindlessClaim{mem()} }},
		{"get-drops-timeout", "Timeout/RoundTrip", func() backend.Backend { return timeoutlessGet{mem()} }},
		{"headers-none-as-empty-map", "Headers/NilForNone", func() backend.Backend { return emptyHeaders{mem()} }},
		{"expired-counted-in-batch", "Expiry/BatchMixesExpiredAndLive", func() backend.Backend { return expiredCounted{mem()} }},
		{"expiry-ignores-claim-retention", "Expiry/DeadUnderClaimRetention, Expiry/NeverReturned, Expiry/", func() backend.Backend { return retentionlessClaim{mem()} }},
		{"retry-dead-keeps-expiry", "Expiry/RetryDeadLiftsExpiry", func() backend.Backend { return &expiryOutlivesRetryDead{Backend: mem()} }},
		{"snooze-publishes-retrying", "Snooze/PublishesSnoozed", func() backend.Backend { return &snoozeAsRetrying{Backend: mem()} }},
		{"snooze-counts-retry", "Snooze/CountsNoRetry, Snooze/MixedBatch", func() backend.Backend { return &snoozeCounted{Backend: mem()} }},
		{"snooze-to-head-of-level", "Snooze/ZeroDelayTailOfLevel, Priorities/RetryKeepsLevel", func() backend.Backend { return snoozeAsRelease{mem()} }},
		{"list-pending-lowest-level-first", "Priorities/ListPendingOrder", func() backend.Backend { return ascendingList{mem()} }},
		{"stats-pending-top-level-only", "Priorities/StatsPendingSum", func() backend.Backend { return topLevelStats{mem()} }},
	}
}

// levelsShown is a memory backend that shows each job's level from its
// levels, where set, in Claim and Get; a decorator that embeds it stores jobs at
// another level than the one they show.
type levelsShown struct {
	*memory.Backend
	levels shown[int]
}

func (b *levelsShown) Claim(ctx context.Context, p backend.ClaimParams) ([]backend.ClaimedJob, error) {
	got, err := b.Backend.Claim(ctx, p)
	for i := range got {
		got[i].Priority = b.levels.of(jobKey{p.Queue, got[i].ID}, got[i].Priority)
	}
	return got, err
}

func (b *levelsShown) Get(ctx context.Context, queue, id string) (backend.JobInfo, error) {
	info, err := b.Backend.Get(ctx, queue, id)
	info.Priority = b.levels.of(jobKey{queue, id}, info.Priority)
	return info, err
}

// flatLevels breaks "Claim atomically takes up to p.Max claimable jobs, the highest Priority level first": it stores every job at level 0, and shows the level given.
type flatLevels struct{ levelsShown }

func (b *flatLevels) Enqueue(ctx context.Context, p backend.EnqueueParams) error {
	given := slices.Clone(p.Jobs)
	p.Jobs = slices.Clone(p.Jobs)
	for i := range p.Jobs {
		p.Jobs[i].Priority = 0
	}
	err := b.Backend.Enqueue(ctx, p)
	if err == nil {
		for _, j := range given {
			b.levels.set(jobKey{p.Queue, j.ID}, j.Priority)
		}
	}
	return err
}

// releaseToLowest breaks "Release hands claimed jobs back to pending at once, ahead of every other pending job of their Priority level": a released job above level 0 goes to the lowest level (stored again there), and shows its own.
type releaseToLowest struct {
	levelsShown
	acks ackSet
}

func (b *releaseToLowest) Release(ctx context.Context, p backend.ReleaseParams) ([]error, error) {
	errs, err := b.Backend.Release(ctx, p)
	succeeded(errs, err, func(i int) {
		if b.acks.add(ackOf(p.Queue, p.Items[i])) > 0 {
			return
		}
		info, err := b.Backend.Get(ctx, p.Queue, p.Items[i].ID)
		if err != nil || info.Priority == 0 || info.State != backend.StatePending {
			return
		}
		if b.Backend.Delete(ctx, backend.DeleteParams{Queue: p.Queue, ID: info.ID}) != nil {
			return
		}
		low := backend.NewJob{ID: info.ID, Kind: info.Kind, Payload: info.Payload, Headers: info.Headers, MaxAttempts: info.MaxAttempts, Timeout: info.Timeout}
		if b.Backend.Enqueue(ctx, backend.EnqueueParams{Queue: p.Queue, Jobs: []backend.NewJob{low}}) == nil {
			b.levels.set(jobKey{p.Queue, info.ID}, info.Priority)
		}
	})
	return errs, err
}

// expiryIgnored breaks "A job whose Expiry has passed before it was claimed is never returned": it stores no expiry, and shows the one given in Get.
type expiryIgnored struct {
	*memory.Backend
	mu      sync.Mutex
	expires map[jobKey]time.Time
}

func (b *expiryIgnored) Enqueue(ctx context.Context, p backend.EnqueueParams) error {
	if p.Validate() != nil {
		return b.Backend.Enqueue(ctx, p)
	}
	now := time.Now()
	given := slices.Clone(p.Jobs)
	p.Jobs = slices.Clone(p.Jobs)
	for i := range p.Jobs {
		p.Jobs[i].Expiry = 0
	}
	err := b.Backend.Enqueue(ctx, p)
	if err == nil {
		b.mu.Lock()
		if b.expires == nil {
			b.expires = map[jobKey]time.Time{}
		}
		for _, j := range given {
			if j.Expiry > 0 {
				b.expires[jobKey{p.Queue, j.ID}] = now.Add(j.Expiry).Round(0)
			} else {
				delete(b.expires, jobKey{p.Queue, j.ID})
			}
		}
		b.mu.Unlock()
	}
	return err
}

func (b *expiryIgnored) Get(ctx context.Context, queue, id string) (backend.JobInfo, error) {
	info, err := b.Backend.Get(ctx, queue, id)
	if err == nil {
		b.mu.Lock()
		info.ExpiresAt = b.expires[jobKey{queue, id}]
		b.mu.Unlock()
	}
	return info, err
}

func (b *expiryIgnored) RetryDead(ctx context.Context, p backend.RetryDeadParams) error {
	err := b.Backend.RetryDead(ctx, p)
	if err == nil {
		b.mu.Lock()
		delete(b.expires, jobKey{p.Queue, p.ID})
		b.mu.Unlock()
	}
	return err
}

// snoozeKeepsAttempt breaks "A Snooze item puts its job back ... without using up an attempt (the attempts counter is decremented)".
type snoozeKeepsAttempt struct {
	attemptsShown
	snoozed ackSet
}

func (b *snoozeKeepsAttempt) Fail(ctx context.Context, p backend.FailParams) ([]error, error) {
	errs, err := b.Backend.Fail(ctx, p)
	succeeded(errs, err, func(i int) {
		if p.Items[i].Snooze && b.snoozed.add(ackOf(p.Queue, p.Items[i].Ack)) == 0 {
			b.add(jobKey{p.Queue, p.Items[i].ID}, 1)
		}
	})
	return errs, err
}

// aliasedHeaders breaks "They are copied and returned unchanged on claim" (Headers): claims and Get return the caller's own map.
type aliasedHeaders struct {
	*memory.Backend
	headers shown[map[string]string]
}

func (b *aliasedHeaders) Enqueue(ctx context.Context, p backend.EnqueueParams) error {
	err := b.Backend.Enqueue(ctx, p)
	if err == nil {
		for _, j := range p.Jobs {
			if len(j.Headers) > 0 {
				b.headers.set(jobKey{p.Queue, j.ID}, j.Headers)
			}
		}
	}
	return err
}

func (b *aliasedHeaders) Claim(ctx context.Context, p backend.ClaimParams) ([]backend.ClaimedJob, error) {
	got, err := b.Backend.Claim(ctx, p)
	for i := range got {
		got[i].Headers = b.headers.of(jobKey{p.Queue, got[i].ID}, got[i].Headers)
	}
	return got, err
}

func (b *aliasedHeaders) Get(ctx context.Context, queue, id string) (backend.JobInfo, error) {
	info, err := b.Backend.Get(ctx, queue, id)
	if err == nil {
		info.Headers = b.headers.of(jobKey{queue, id}, info.Headers)
	}
	return info, err
}

// kindlessClaim breaks "It is stored and returned as given." (Kind): a claim returns no kind.
type kindlessClaim struct{ *memory.Backend }

func (b kindlessClaim) Claim(ctx context.Context, p backend.ClaimParams) ([]backend.ClaimedJob, error) {
	got, err := b.Backend.Claim(ctx, p)
	for i := range got {
		got[i].Kind = ""
	}
	return got, err
}

// timeoutlessGet breaks "The backend only stores and returns it." (Timeout): Get shows none.
type timeoutlessGet struct{ *memory.Backend }

func (b timeoutlessGet) Get(ctx context.Context, queue, id string) (backend.JobInfo, error) {
	info, err := b.Backend.Get(ctx, queue, id)
	info.Timeout = 0
	return info, err
}

// emptyHeaders breaks "Headers are the job's headers; nil when it has none." (ClaimedJob).
type emptyHeaders struct{ *memory.Backend }

func (b emptyHeaders) Claim(ctx context.Context, p backend.ClaimParams) ([]backend.ClaimedJob, error) {
	got, err := b.Backend.Claim(ctx, p)
	for i := range got {
		if got[i].Headers == nil {
			got[i].Headers = map[string]string{}
		}
	}
	return got, err
}

// expiredCounted breaks "Claim atomically takes up to p.Max claimable jobs" for a claim that meets expired jobs: each one it dead-letters takes the place of a live job, which it hands back.
type expiredCounted struct{ *memory.Backend }

func (b expiredCounted) Claim(ctx context.Context, p backend.ClaimParams) ([]backend.ClaimedJob, error) {
	before, serr := b.Backend.Stats(ctx, p.Queue)
	got, err := b.Backend.Claim(ctx, p)
	after, aerr := b.Backend.Stats(ctx, p.Queue)
	if err != nil || serr != nil || aerr != nil {
		return got, err
	}
	expired := min(int(after.DeadTotal-before.DeadTotal), len(got))
	if expired == 0 {
		return got, nil
	}
	keep, back := got[:len(got)-expired], got[len(got)-expired:]
	if _, err := b.Backend.Release(ctx, backend.ReleaseParams{Queue: p.Queue, Items: ackItems(back)}); err != nil {
		return got, nil
	}
	return keep, nil
}

func ackItems(jobs []backend.ClaimedJob) []backend.Ack {
	out := make([]backend.Ack, len(jobs))
	for i, j := range jobs {
		out[i] = backend.Ack{ID: j.ID, Token: j.Token}
	}
	return out
}

// retentionlessClaim breaks "the claim dead-letters it under p.DeadRetention": it keeps nothing.
type retentionlessClaim struct{ *memory.Backend }

func (b retentionlessClaim) Claim(ctx context.Context, p backend.ClaimParams) ([]backend.ClaimedJob, error) {
	if p.Validate() == nil {
		p.DeadRetention = backend.Retention{}
	}
	return b.Backend.Claim(ctx, p)
}

// expiryOutlivesRetryDead breaks "RetryDead moves a dead-lettered job back ... (and no Expiry: a job sent back by hand runs)": a claim dead-letters such a job again.
type expiryOutlivesRetryDead struct {
	*memory.Backend
	mu      sync.Mutex
	expires map[jobKey]time.Time
}

func (b *expiryOutlivesRetryDead) RetryDead(ctx context.Context, p backend.RetryDeadParams) error {
	info, gerr := b.Backend.Get(ctx, p.Queue, p.ID)
	err := b.Backend.RetryDead(ctx, p)
	if err == nil && gerr == nil && !info.ExpiresAt.IsZero() {
		b.mu.Lock()
		if b.expires == nil {
			b.expires = map[jobKey]time.Time{}
		}
		b.expires[jobKey{p.Queue, p.ID}] = info.ExpiresAt
		b.mu.Unlock()
	}
	return err
}

func (b *expiryOutlivesRetryDead) Claim(ctx context.Context, p backend.ClaimParams) ([]backend.ClaimedJob, error) {
	got, err := b.Backend.Claim(ctx, p)
	if err != nil {
		return got, err
	}
	live := got[:0]
	for _, c := range got {
		b.mu.Lock()
		at, ok := b.expires[jobKey{p.Queue, c.ID}]
		b.mu.Unlock()
		if !ok || time.Now().Before(at) {
			live = append(live, c)
			continue
		}
		item := backend.Failure{Ack: backend.Ack{ID: c.ID, Token: c.Token}, Error: "jobqueue: expired", Dead: true}
		if errs, err := b.Backend.Fail(ctx, backend.FailParams{Queue: p.Queue, Items: []backend.Failure{item}, Retention: p.DeadRetention}); err != nil || errs[0] != nil {
			live = append(live, c)
		}
	}
	return live, nil
}

// snoozeAsRetrying breaks "A Snooze item ... publishes EventSnoozed": its event says retrying.
type snoozeAsRetrying struct {
	*memory.Backend
	relay relay
}

func (b *snoozeAsRetrying) Subscribe(ctx context.Context, queue string) (<-chan backend.Event, error) {
	return b.relay.subscribe(ctx, b.Backend, queue, func(ev backend.Event) []backend.Event {
		if ev.Kind == backend.EventSnoozed {
			ev.Kind = backend.EventRetrying
		}
		return []backend.Event{ev}
	})
}

// snoozeCounted breaks "A Snooze item ... counts no retry": RetriedTotal counts snoozes.
type snoozeCounted struct {
	*memory.Backend
	acks  ackSet
	mu    sync.Mutex
	extra map[string]int64 // snoozes counted, by queue
}

func (b *snoozeCounted) Fail(ctx context.Context, p backend.FailParams) ([]error, error) {
	errs, err := b.Backend.Fail(ctx, p)
	succeeded(errs, err, func(i int) {
		if p.Items[i].Snooze && b.acks.add(ackOf(p.Queue, p.Items[i].Ack)) == 0 {
			b.mu.Lock()
			if b.extra == nil {
				b.extra = map[string]int64{}
			}
			b.extra[p.Queue]++
			b.mu.Unlock()
		}
	})
	return errs, err
}

func (b *snoozeCounted) Stats(ctx context.Context, queue string) (backend.Stats, error) {
	st, err := b.Backend.Stats(ctx, queue)
	if err == nil {
		b.mu.Lock()
		st.RetriedTotal += b.extra[queue]
		b.mu.Unlock()
	}
	return st, err
}

// snoozeAsRelease breaks "A job retried or snoozed keeps its Priority level and joins the tail of it.": a snooze with no delay is a Release, to the head of the level.
type snoozeAsRelease struct{ *memory.Backend }

func (b snoozeAsRelease) Fail(ctx context.Context, p backend.FailParams) ([]error, error) {
	if p.Validate() != nil {
		return b.Backend.Fail(ctx, p)
	}
	errs := make([]error, len(p.Items))
	for i, it := range p.Items {
		var e []error
		var err error
		if it.Snooze && it.Delay == 0 {
			e, err = b.Backend.Release(ctx, backend.ReleaseParams{Queue: p.Queue, Items: []backend.Ack{it.Ack}})
		} else {
			e, err = b.Backend.Fail(ctx, backend.FailParams{Queue: p.Queue, Items: []backend.Failure{it}, Retention: p.Retention})
		}
		if err != nil {
			return nil, err
		}
		errs[i] = e[0]
	}
	return errs, nil
}

// ascendingList breaks "pending: next to be claimed first, that is the highest Priority level first" (List): it lists the lowest level first.
type ascendingList struct{ *memory.Backend }

func (b ascendingList) List(ctx context.Context, p backend.ListParams) ([]string, error) {
	if p.Validate() != nil || p.State != backend.StatePending {
		return b.Backend.List(ctx, p)
	}
	all := listAll(ctx, b.Backend, p.Queue, backend.StatePending)
	level := make(map[string]int, len(all))
	for _, id := range all {
		if info, err := b.Backend.Get(ctx, p.Queue, id); err == nil {
			level[id] = info.Priority
		}
	}
	slices.SortStableFunc(all, func(x, y string) int { return level[x] - level[y] })
	return window(all, p.Offset, p.Limit), nil
}

// topLevelStats breaks "Pending counts the jobs claimable now": it counts those of the highest level that has any.
type topLevelStats struct{ *memory.Backend }

func (b topLevelStats) Stats(ctx context.Context, queue string) (backend.Stats, error) {
	st, err := b.Backend.Stats(ctx, queue)
	if err != nil {
		return st, err
	}
	counts := map[int]int64{}
	top := -1
	for _, id := range listAll(ctx, b.Backend, queue, backend.StatePending) {
		if info, err := b.Backend.Get(ctx, queue, id); err == nil {
			counts[info.Priority]++
			top = max(top, info.Priority)
		}
	}
	if top >= 0 {
		st.Pending = counts[top]
	}
	return st, nil
}
