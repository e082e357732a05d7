package conformance_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/memory"
)

// brokenBackend is a memory backend behind a decorator that breaks one
// documented obligation of the contract.
type brokenBackend struct {
	name string
	// meant lists, comma-separated, the conformance tests (or prefixes
	// of their names) written for the obligation; empty when the suite
	// has none.
	meant string
	new   func() backend.Backend
}

// brokenBackends is the set the suite is scored on.
func brokenBackends() []brokenBackend {
	mem := memory.New
	return append([]brokenBackend{
		// The obligations the issue lists (mustCatch).
		{"claim-ended-context", "Claim/ContextAlreadyEnded", func() backend.Backend { return endedContextClaim{mem()} }},
		{"repeat-publishes-event", "LostReplies/RepeatPublishesNothing/", func() backend.Backend { return &repeatEvent{Backend: mem()} }},
		{"fail-first-item-delay", "Fail/MixedBatch", func() backend.Backend { return firstDelayFail{mem()} }},
		{"reclaim-almost-expired", "Reclaim/LeaseAboutToExpireUntouched", func() backend.Backend { return &earlyReclaim{claimLogger{Backend: mem()}} }},
		{"stats-skip-expired-leases", "Inspect/Stats/ExpiredLeasesStillProcessing", func() backend.Backend { return expiredNotProcessing{mem()} }},
		{"event-per-job", "Events/OnePerKindPerCall", func() backend.Backend { return &eventPerJob{Backend: mem()} }},
		{"id-truncated", "Validation/ID/TooLong/", func() backend.Backend { return idRewriter{mem(), truncateID} }},
		{"id-non-ascii-rewritten", "Validation/ID/NonASCII/, Validation/ID/HighByte/", func() backend.Backend { return idRewriter{mem(), asciiID} }},
		{"dot-id-rewritten", "Validation/Enqueue/DotID, Validation/Enqueue/DotDotID", func() backend.Backend { return idRewriter{mem(), undotID} }},
		{"payload-aliased", "Enqueue/PayloadCopied", func() backend.Backend { return &aliasedPayload{Backend: mem()} }},
		{"claim-over-max", "Claim/UpToMax, Claim/ManyWaitersWake", func() backend.Backend { return overMaxClaim{mem()} }},

		// More obligations, one each.
		{"complete-ignores-token", "Ack/MadeUpToken/Complete, Ack/BatchPerItem/Complete, Ack/StaleTokenAfterReclaim/Complete, Ack/StaleTokenAfterRetryDead/Complete", func() backend.Backend { return &tokenlessComplete{claimLogger{Backend: mem()}} }},
		{"enqueue-batch-reversed", "Enqueue/BatchKeepsOrder, Enqueue/PayloadUnchanged", func() backend.Backend { return reversedEnqueue{mem()} }},
		{"enqueue-not-atomic", "Enqueue/ExistingIDStoresNone", func() backend.Backend { return partialEnqueue{mem()} }},
		{"release-keeps-attempt", "Release/KeepsAttempts", func() backend.Backend { return &releaseKeepsAttempt{attemptsShown: attemptsShown{Backend: mem()}} }},
		{"retry-dead-keeps-attempts", "Inspect/RetryDead/BackToPending, Ack/StaleTokenAfterRetryDead/", func() backend.Backend { return &retryDeadKeepsAttempts{attemptsShown{Backend: mem()}} }},
		{"reclaim-never-dead-letters", "Reclaim/PoisonJobDeadLettered, Release/KeepsAttempts, Retention/ReclaimedDead/", func() backend.Backend { return poisonRequeued{mem()} }},
		{"retention-max-ignored", "Retention/Completed/Capped, Retention/Dead/Capped, Retention/ReclaimedDead/Capped", func() backend.Backend { return uncappedHistory{mem()} }},
		{"repeat-complete-counted", "Ack/Repeat/Complete, LostReplies/Repeat/Complete", func() backend.Backend { return &completeCountedTwice{Backend: mem()} }},
		{"extend-after-complete", "Ack/OtherOutcome/CompleteThenExtend", func() backend.Backend { return &extendAfterComplete{Backend: mem()} }},
		{"delete-leaves-listed", "Inspect/Delete/", func() backend.Backend { return &deletedStillListed{Backend: mem()} }},
		{"enqueue-request-id-ignored", "LostReplies/Repeat/Enqueue, LostReplies/RepeatPublishesNothing/Enqueue, LostReplies/RequestIDOfAnotherCall", func() backend.Backend { return forgetfulEnqueue{mem()} }},
		{"delete-request-id-ignored", "LostReplies/Repeat/Delete, LostReplies/RepeatPublishesNothing/Delete", func() backend.Backend { return forgetfulDelete{mem()} }},
		{"claim-request-id-ignored", "LostReplies/Repeat/Claim, LostReplies/RepeatPublishesNothing/Claim", func() backend.Backend { return forgetfulClaim{mem()} }},
		{"get-due-as-scheduled", "Delay/DueReadsAsPending", func() backend.Backend { return &dueStillScheduled{Backend: mem()} }},
		{"claim-wait-polls", "Claim/WakesOnEnqueue, Delay/WakesBlockedClaimWhenDue", func() backend.Backend { return pollingClaim{mem()} }},
		{"purge-by-prefix", "Isolation/PurgeOnlyOwnQueue", func() backend.Backend { return &prefixPurge{Backend: mem()} }},
		{"list-ignores-offset", "Inspect/List/, Delay/DueReadsAsPending", func() backend.Backend { return offsetlessList{mem()} }},
		{"complete-drops-note", "Ack/CompleteWithNote", func() backend.Backend { return notelessComplete{mem()} }},
		{"claim-wait-ignores-cancel", "Claim/CancelEndsWait", func() backend.Backend { return cancelDeafClaim{mem()} }},
		{"claim-remembers-empty", "LostReplies/CallThatChangedNothingRunsAgain", func() backend.Backend { return &emptyClaimRemembered{Backend: mem()} }},
		{"claim-repeat-replays", "LostReplies/ClaimRepeatReturnsWhatItStillHolds", func() backend.Backend { return &replayedClaim{Backend: mem()} }},
		{"claim-repeat-waits", "LostReplies/ClaimRepeatHoldingNothingNeitherWaitsNorTakes", func() backend.Backend { return &waitingRepeat{Backend: mem()} }},
		{"purge-event-lists-ids", "Events/Kind/purged", func() backend.Backend { return &listedPurge{Backend: mem()} }},
		{"extend-from-deadline", "Extend/KeepsLease, Queue/ExtendAndRelease", func() backend.Backend { return deadlineExtend{mem()} }},
		{"extend-repeat-no-renewal", "LostReplies/Repeat/Extend", func() backend.Backend { return &onceExtend{Backend: mem()} }},
		// Issue 16.
		{"latency-from-enqueue", "Latency/RetryCountsAfresh, Latency/ReclaimCountsAfresh, Latency/RetryDeadCountsAfresh", func() backend.Backend { return enqueueLatency{mem()} }},
		// Worker beats.
		{"beat-zero-ttl-ignored", "Workers/ZeroTTLRemoves", func() backend.Backend { return zeroBeatIgnored{mem()} }},
		{"beat-never-runs-out", "Workers/RunsOut, Workers/RenewalLasts", func() backend.Backend { return endlessBeat{mem()} }},
	}, slices.Concat(jobFieldsBroken(), historyBroken(), cancelBroken(), controlBroken(), uniqueBroken(), schedulesBroken(), durableBroken(), registryBroken(), summariesBroken())...)
}

// endedContextClaim breaks "A method called with a context that has already ended returns its error and changes nothing."
type endedContextClaim struct{ *memory.Backend }

func (b endedContextClaim) Claim(ctx context.Context, p backend.ClaimParams) ([]backend.ClaimedJob, error) {
	if err := ctx.Err(); err != nil {
		_, _ = b.Backend.Claim(context.WithoutCancel(ctx), p)
		return nil, err
	}
	return b.Backend.Claim(ctx, p)
}

// repeatEvent breaks "A repeated call (see "Lost replies and repeated calls") publishes nothing." for Fail and Release.
type repeatEvent struct {
	*memory.Backend
	relay relay
	acks  ackSet
}

func (b *repeatEvent) Subscribe(ctx context.Context, queue string) (<-chan backend.Event, error) {
	return b.relay.subscribe(ctx, b.Backend, queue, nil)
}

// again publishes kind for the items that repeat an outcome already
// recorded.
func (b *repeatEvent) again(queue string, items []backend.Ack, kind func(i int) backend.EventKind, errs []error, err error) {
	succeeded(errs, err, func(i int) {
		if b.acks.add(ackOf(queue, items[i])) > 0 {
			b.relay.publish(backend.Event{Queue: queue, Kind: kind(i), IDs: []string{items[i].ID}})
		}
	})
}

func (b *repeatEvent) Fail(ctx context.Context, p backend.FailParams) ([]error, error) {
	errs, err := b.Backend.Fail(ctx, p)
	items := make([]backend.Ack, len(p.Items))
	for i, it := range p.Items {
		items[i] = it.Ack
	}
	b.again(p.Queue, items, func(i int) backend.EventKind {
		if p.Items[i].Dead {
			return backend.EventDead
		}
		return backend.EventRetrying
	}, errs, err)
	return errs, err
}

func (b *repeatEvent) Release(ctx context.Context, p backend.ReleaseParams) ([]error, error) {
	errs, err := b.Backend.Release(ctx, p)
	b.again(p.Queue, p.Items, func(int) backend.EventKind { return backend.EventReleased }, errs, err)
	return errs, err
}

// firstDelayFail breaks "Each item says what follows for its own job: retry at once (Delay 0), retry after Delay, or dead-letter (Dead)."
type firstDelayFail struct{ *memory.Backend }

func (b firstDelayFail) Fail(ctx context.Context, p backend.FailParams) ([]error, error) {
	if p.Validate() == nil {
		p.Items = slices.Clone(p.Items)
		for i := range p.Items {
			p.Items[i].Delay = p.Items[0].Delay
		}
	}
	return b.Backend.Fail(ctx, p)
}

// earlyReclaim breaks "a lease that has not run out is never taken back, however close it is to its end."
type earlyReclaim struct{ claimLogger }

// early is how close to its end a lease is taken back.
const early = time.Second

func (b *earlyReclaim) Reclaim(ctx context.Context, p backend.ReclaimParams) (backend.ReclaimResult, error) {
	res, err := b.Backend.Reclaim(ctx, p)
	if err != nil {
		return res, err
	}
	claims := b.claims.of(p.Queue)
	slices.SortFunc(claims, func(a, b backend.ClaimedJob) int { return a.LeaseUntil.Compare(b.LeaseUntil) })
	for _, c := range claims {
		if res.Len() >= p.Max {
			break
		}
		info, err := b.Get(ctx, p.Queue, c.ID)
		if err != nil || info.State != backend.StateProcessing || time.Until(info.LeaseUntil) > early {
			continue
		}
		// Sent back as a retry: no Backend method hands a live claim back
		// otherwise, and a stale token changes nothing.
		errs, err := b.Fail(ctx, backend.FailParams{Queue: p.Queue, Items: []backend.Failure{{Ack: backend.Ack{ID: c.ID, Token: c.Token}, Error: "jobqueue: lease about to expire"}}})
		if err == nil && errs[0] == nil {
			res.Requeued = append(res.Requeued, c.ID)
		}
	}
	return res, nil
}

// enqueueLatency breaks "Latency ... counted from when it last became
// claimable": it counts the wait of the next job to claim from its
// enqueue.
type enqueueLatency struct{ *memory.Backend }

func (b enqueueLatency) Stats(ctx context.Context, queue string) (backend.Stats, error) {
	st, err := b.Backend.Stats(ctx, queue)
	if err != nil || st.Pending == 0 {
		return st, err
	}
	next, err := b.List(ctx, backend.ListParams{Queue: queue, State: backend.StatePending, Limit: 1})
	if err != nil || len(next) == 0 {
		return st, err
	}
	info, err := b.Get(ctx, queue, next[0])
	if err != nil {
		return st, err
	}
	st.Latency = time.Since(info.EnqueuedAt)
	return st, nil
}

// expiredNotProcessing breaks "Processing counts the claimed jobs, those whose lease has run out but that no Reclaim has taken back yet included."
type expiredNotProcessing struct{ *memory.Backend }

func (b expiredNotProcessing) Stats(ctx context.Context, queue string) (backend.Stats, error) {
	st, err := b.Backend.Stats(ctx, queue)
	if err != nil {
		return st, err
	}
	for _, info := range processingInfo(ctx, b.Backend, queue) {
		if time.Now().After(info.LeaseUntil) {
			st.Processing--
		}
	}
	return st, nil
}

// eventPerJob breaks "A call publishes one event per kind of change it made, listing every job it changed that way, never one event per job".
type eventPerJob struct {
	*memory.Backend
	relay relay
}

func (b *eventPerJob) Subscribe(ctx context.Context, queue string) (<-chan backend.Event, error) {
	return b.relay.subscribe(ctx, b.Backend, queue, func(ev backend.Event) []backend.Event {
		if len(ev.IDs) < 2 {
			return []backend.Event{ev}
		}
		out := make([]backend.Event, len(ev.IDs))
		for i, id := range ev.IDs {
			out[i] = backend.Event{Queue: ev.Queue, Kind: ev.Kind, IDs: []string{id}}
		}
		return out
	})
}

// idRewriter breaks "Every method checks its params first (their Validate methods, or ValidateJobRef) and changes nothing when they are invalid." for job ids: it makes them valid instead.
type idRewriter struct {
	*memory.Backend
	fix func(string) string
}

// truncateID cuts an id to MaxIDLen bytes.
func truncateID(id string) string { return id[:min(len(id), backend.MaxIDLen)] }

// undotID turns the ids "." and ".." into ids a URL can carry.
func undotID(id string) string {
	if id == "." || id == ".." {
		return "dot" + id
	}
	return id
}

// asciiID replaces the bytes outside ASCII with '?'.
func asciiID(id string) string {
	return strings.Map(func(r rune) rune {
		if r >= 0x80 {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(id, "?"))
}

// withIDs returns a copy of items with the id of each, which id points
// to, rewritten by fix.
func withIDs[T any](items []T, fix func(string) string, id func(*T) *string) []T {
	out := slices.Clone(items)
	for i := range out {
		p := id(&out[i])
		*p = fix(*p)
	}
	return out
}

func ackID(a *backend.Ack) *string { return &a.ID }

func (b idRewriter) Enqueue(ctx context.Context, p backend.EnqueueParams) error {
	p.Jobs = withIDs(p.Jobs, b.fix, func(j *backend.NewJob) *string { return &j.ID })
	return b.Backend.Enqueue(ctx, p)
}

func (b idRewriter) Complete(ctx context.Context, p backend.CompleteParams) ([]error, error) {
	p.Items = withIDs(p.Items, b.fix, func(c *backend.Completion) *string { return &c.ID })
	return b.Backend.Complete(ctx, p)
}

func (b idRewriter) Fail(ctx context.Context, p backend.FailParams) ([]error, error) {
	p.Items = withIDs(p.Items, b.fix, func(f *backend.Failure) *string { return &f.ID })
	return b.Backend.Fail(ctx, p)
}

func (b idRewriter) Extend(ctx context.Context, p backend.ExtendParams) ([]error, error) {
	p.Items = withIDs(p.Items, b.fix, ackID)
	return b.Backend.Extend(ctx, p)
}

func (b idRewriter) Release(ctx context.Context, p backend.ReleaseParams) ([]error, error) {
	p.Items = withIDs(p.Items, b.fix, ackID)
	return b.Backend.Release(ctx, p)
}

func (b idRewriter) Get(ctx context.Context, queue, id string) (backend.JobInfo, error) {
	return b.Backend.Get(ctx, queue, b.fix(id))
}

func (b idRewriter) RetryDead(ctx context.Context, p backend.RetryDeadParams) error {
	p.ID = b.fix(p.ID)
	return b.Backend.RetryDead(ctx, p)
}

func (b idRewriter) Delete(ctx context.Context, p backend.DeleteParams) error {
	p.ID = b.fix(p.ID)
	return b.Backend.Delete(ctx, p)
}

// aliasedPayload breaks "The payloads are copied: the caller may reuse their memory once Enqueue returns."
type aliasedPayload struct {
	*memory.Backend
	payloads shown[[]byte] // the caller's own slices
}

func (b *aliasedPayload) Enqueue(ctx context.Context, p backend.EnqueueParams) error {
	err := b.Backend.Enqueue(ctx, p)
	if err == nil {
		for _, j := range p.Jobs {
			b.payloads.set(jobKey{p.Queue, j.ID}, j.Payload)
		}
	}
	return err
}

func (b *aliasedPayload) Claim(ctx context.Context, p backend.ClaimParams) ([]backend.ClaimedJob, error) {
	got, err := b.Backend.Claim(ctx, p)
	for i := range got {
		got[i].Payload = b.payloads.of(jobKey{p.Queue, got[i].ID}, got[i].Payload)
	}
	return got, err
}

func (b *aliasedPayload) Get(ctx context.Context, queue, id string) (backend.JobInfo, error) {
	info, err := b.Backend.Get(ctx, queue, id)
	if err == nil {
		info.Payload = b.payloads.of(jobKey{queue, id}, info.Payload)
	}
	return info, err
}

// overMaxClaim breaks "Claim atomically takes up to p.Max claimable jobs": it takes one more.
type overMaxClaim struct{ *memory.Backend }

func (b overMaxClaim) Claim(ctx context.Context, p backend.ClaimParams) ([]backend.ClaimedJob, error) {
	if p.Validate() == nil {
		p.Max++
	}
	return b.Backend.Claim(ctx, p)
}

// tokenlessComplete breaks "a token that is not the job's current one changes nothing and reports ErrLostClaim" (Complete).
type tokenlessComplete struct{ claimLogger }

func (b *tokenlessComplete) Complete(ctx context.Context, p backend.CompleteParams) ([]error, error) {
	if p.Validate() == nil {
		p.Items = slices.Clone(p.Items)
		for i, it := range p.Items {
			if tok, ok := b.claims.token(p.Queue, it.ID); ok {
				p.Items[i].Token = tok
			}
		}
	}
	return b.Backend.Complete(ctx, p)
}

// reversedEnqueue breaks "the others are claimable at once, in the order given, after every job already pending."
type reversedEnqueue struct{ *memory.Backend }

func (b reversedEnqueue) Enqueue(ctx context.Context, p backend.EnqueueParams) error {
	p.Jobs = slices.Clone(p.Jobs)
	slices.Reverse(p.Jobs)
	return b.Backend.Enqueue(ctx, p)
}

// partialEnqueue breaks "Enqueue adds jobs to a queue, atomically: either every job is stored or, when any of them is invalid or its id already exists, none is": it stores the jobs before an existing id.
type partialEnqueue struct{ *memory.Backend }

func (b partialEnqueue) Enqueue(ctx context.Context, p backend.EnqueueParams) error {
	err := b.Backend.Enqueue(ctx, p)
	if !errors.Is(err, backend.ErrJobExists) {
		return err
	}
	for _, j := range p.Jobs {
		if b.Backend.Enqueue(ctx, backend.EnqueueParams{Queue: p.Queue, Jobs: []backend.NewJob{j}}) != nil {
			break
		}
	}
	return err
}

// releaseKeepsAttempt breaks "Release hands claimed jobs back to pending ... without using up an attempt (the attempts counter is decremented)."
type releaseKeepsAttempt struct {
	attemptsShown
	released ackSet
}

func (b *releaseKeepsAttempt) Release(ctx context.Context, p backend.ReleaseParams) ([]error, error) {
	errs, err := b.Backend.Release(ctx, p)
	succeeded(errs, err, func(i int) {
		if b.released.add(ackOf(p.Queue, p.Items[i])) == 0 { // a repeat changes nothing
			b.add(jobKey{p.Queue, p.Items[i].ID}, 1)
		}
	})
	return errs, err
}

// retryDeadKeepsAttempts breaks "RetryDead moves a dead-lettered job back to pending with its attempts reset to zero".
type retryDeadKeepsAttempts struct{ attemptsShown }

func (b *retryDeadKeepsAttempts) RetryDead(ctx context.Context, p backend.RetryDeadParams) error {
	before, gerr := b.Backend.Get(ctx, p.Queue, p.ID)
	err := b.Backend.RetryDead(ctx, p)
	if err == nil && gerr == nil && before.State == backend.StateDead {
		b.add(jobKey{p.Queue, p.ID}, before.Attempts)
	}
	return err
}

// poisonRequeued breaks "A job whose attempts have reached its max attempts is dead-lettered instead" (Reclaim): it sends such jobs back to pending.
type poisonRequeued struct{ *memory.Backend }

func (b poisonRequeued) Reclaim(ctx context.Context, p backend.ReclaimParams) (backend.ReclaimResult, error) {
	res, err := b.Backend.Reclaim(ctx, p)
	if err != nil {
		return res, err
	}
	var dead []string
	for _, id := range res.Dead {
		if b.Backend.RetryDead(ctx, backend.RetryDeadParams{Queue: p.Queue, ID: id}) == nil {
			res.Requeued = append(res.Requeued, id)
		} else {
			dead = append(dead, id) // its record is gone: nothing to send back
		}
	}
	res.Dead = dead
	return res, nil
}

// uncappedHistory breaks "The job is added to the completed history, which is trimmed to p.Retention.Max entries" (and the dead history's Max).
type uncappedHistory struct{ *memory.Backend }

func uncapped(r backend.Retention) backend.Retention {
	if r.Max > 0 {
		r.Max = math.MaxInt32
	}
	return r
}

func (b uncappedHistory) Complete(ctx context.Context, p backend.CompleteParams) ([]error, error) {
	p.Retention = uncapped(p.Retention)
	return b.Backend.Complete(ctx, p)
}

func (b uncappedHistory) Fail(ctx context.Context, p backend.FailParams) ([]error, error) {
	p.Retention = uncapped(p.Retention)
	return b.Backend.Fail(ctx, p)
}

func (b uncappedHistory) Reclaim(ctx context.Context, p backend.ReclaimParams) (backend.ReclaimResult, error) {
	p.DeadRetention = uncapped(p.DeadRetention)
	return b.Backend.Reclaim(ctx, p)
}

// completeCountedTwice breaks "Repeating a complete with the same token after it succeeded is a no-op that succeeds, with no second history entry, event or counter increment."
type completeCountedTwice struct {
	*memory.Backend
	acks  ackSet
	mu    sync.Mutex
	extra map[string]int64 // repeats counted, by queue
}

func (b *completeCountedTwice) Complete(ctx context.Context, p backend.CompleteParams) ([]error, error) {
	errs, err := b.Backend.Complete(ctx, p)
	succeeded(errs, err, func(i int) {
		if b.acks.add(ackOf(p.Queue, p.Items[i].Ack)) > 0 {
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

func (b *completeCountedTwice) Stats(ctx context.Context, queue string) (backend.Stats, error) {
	st, err := b.Backend.Stats(ctx, queue)
	if err == nil {
		b.mu.Lock()
		st.CompletedTotal += b.extra[queue]
		b.mu.Unlock()
	}
	return st, err
}

func (b *completeCountedTwice) Purge(ctx context.Context, p backend.PurgeParams) error {
	err := b.Backend.Purge(ctx, p)
	if err == nil {
		b.mu.Lock()
		delete(b.extra, p.Queue)
		b.mu.Unlock()
	}
	return err
}

// extendAfterComplete breaks "A job whose token is stale, or whose claim already recorded an outcome, reports ErrLostClaim" (Extend), after a Complete.
type extendAfterComplete struct {
	*memory.Backend
	completed ackSet
}

func (b *extendAfterComplete) Complete(ctx context.Context, p backend.CompleteParams) ([]error, error) {
	errs, err := b.Backend.Complete(ctx, p)
	succeeded(errs, err, func(i int) { b.completed.add(ackOf(p.Queue, p.Items[i].Ack)) })
	return errs, err
}

func (b *extendAfterComplete) Extend(ctx context.Context, p backend.ExtendParams) ([]error, error) {
	errs, err := b.Backend.Extend(ctx, p)
	for i, e := range errs {
		if errors.Is(e, backend.ErrLostClaim) && b.completed.has(ackOf(p.Queue, p.Items[i])) {
			errs[i] = nil
		}
	}
	return errs, err
}

// deletedStillListed breaks "Delete removes one job, in whatever state it is.": List still shows it.
type deletedStillListed struct {
	*memory.Backend
	mu     sync.Mutex
	ghosts map[jobKey]backend.State // deleted jobs, with their state then
}

func (b *deletedStillListed) Delete(ctx context.Context, p backend.DeleteParams) error {
	info, gerr := b.Backend.Get(ctx, p.Queue, p.ID)
	err := b.Backend.Delete(ctx, p)
	if err == nil && gerr == nil {
		b.mu.Lock()
		if b.ghosts == nil {
			b.ghosts = map[jobKey]backend.State{}
		}
		b.ghosts[jobKey{p.Queue, p.ID}] = info.State
		b.mu.Unlock()
	}
	return err
}

func (b *deletedStillListed) Enqueue(ctx context.Context, p backend.EnqueueParams) error {
	err := b.Backend.Enqueue(ctx, p)
	if err == nil {
		b.mu.Lock()
		for _, j := range p.Jobs {
			delete(b.ghosts, jobKey{p.Queue, j.ID})
		}
		b.mu.Unlock()
	}
	return err
}

func (b *deletedStillListed) List(ctx context.Context, p backend.ListParams) ([]string, error) {
	if p.Validate() != nil {
		return b.Backend.List(ctx, p)
	}
	all, err := b.Backend.List(ctx, backend.ListParams{Queue: p.Queue, State: p.State, Limit: everything})
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	var ghosts []string
	for k, st := range b.ghosts {
		if k.queue == p.Queue && st == p.State && !slices.Contains(all, k.id) {
			ghosts = append(ghosts, k.id)
		}
	}
	b.mu.Unlock()
	slices.Sort(ghosts)
	return window(append(all, ghosts...), p.Offset, p.Limit), nil
}

// forgetfulEnqueue breaks "A repeat within the window returns that result ... without acting again" for Enqueue.
type forgetfulEnqueue struct{ *memory.Backend }

func (b forgetfulEnqueue) Enqueue(ctx context.Context, p backend.EnqueueParams) error {
	if p.Validate() == nil {
		p.RequestID = ""
	}
	return b.Backend.Enqueue(ctx, p)
}

// forgetfulDelete breaks "a repeated Delete does not delete a job enqueued again under the same id".
type forgetfulDelete struct{ *memory.Backend }

func (b forgetfulDelete) Delete(ctx context.Context, p backend.DeleteParams) error {
	if p.Validate() == nil {
		p.RequestID = ""
	}
	return b.Backend.Delete(ctx, p)
}

// forgetfulClaim breaks "A repeat within the window returns that result (a Claim: the jobs the first run took that its claim still holds ...) without acting again".
type forgetfulClaim struct{ *memory.Backend }

func (b forgetfulClaim) Claim(ctx context.Context, p backend.ClaimParams) ([]backend.ClaimedJob, error) {
	if p.Validate() == nil {
		p.RequestID = ""
	}
	return b.Backend.Claim(ctx, p)
}

// dueStillScheduled breaks "A scheduled job whose run time has come counts as pending for every method: Get reports it pending".
type dueStillScheduled struct {
	*memory.Backend
	mu    sync.Mutex
	runAt map[jobKey]time.Time
}

// setRunAt records when a job falls due, or forgets it for a job that is
// pending at once.
func (b *dueStillScheduled) setRunAt(k jobKey, now time.Time, delay time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.runAt == nil {
		b.runAt = map[jobKey]time.Time{}
	}
	if delay > 0 {
		b.runAt[k] = now.Add(delay).Round(0)
	} else {
		delete(b.runAt, k)
	}
}

func (b *dueStillScheduled) Enqueue(ctx context.Context, p backend.EnqueueParams) error {
	now := time.Now()
	err := b.Backend.Enqueue(ctx, p)
	if err == nil {
		for _, j := range p.Jobs {
			b.setRunAt(jobKey{p.Queue, j.ID}, now, j.Delay)
		}
	}
	return err
}

func (b *dueStillScheduled) Fail(ctx context.Context, p backend.FailParams) ([]error, error) {
	now := time.Now()
	errs, err := b.Backend.Fail(ctx, p)
	succeeded(errs, err, func(i int) {
		if !p.Items[i].Dead {
			b.setRunAt(jobKey{p.Queue, p.Items[i].ID}, now, p.Items[i].Delay)
		}
	})
	return errs, err
}

func (b *dueStillScheduled) Get(ctx context.Context, queue, id string) (backend.JobInfo, error) {
	info, err := b.Backend.Get(ctx, queue, id)
	if err != nil || info.State != backend.StatePending {
		return info, err
	}
	b.mu.Lock()
	at, ok := b.runAt[jobKey{queue, id}]
	b.mu.Unlock()
	// A job made pending after its run time (released, or reclaimed) was
	// claimed since: only a job that fell due on its own is misreported.
	if ok && at.After(info.ClaimedAt) {
		info.State, info.RunAt = backend.StateScheduled, at
	}
	return info, nil
}

// pollingClaim breaks "When no job is claimable, Claim waits up to p.Wait for one ... and returns as soon as one is claimable.": it looks once a second.
type pollingClaim struct{ *memory.Backend }

func (b pollingClaim) Claim(ctx context.Context, p backend.ClaimParams) ([]backend.ClaimedJob, error) {
	if p.Validate() != nil || p.Wait == 0 {
		return b.Backend.Claim(ctx, p)
	}
	deadline := time.Now().Add(p.Wait)
	once := p
	once.Wait = 0
	for {
		got, err := b.Backend.Claim(ctx, once)
		left := time.Until(deadline)
		if err != nil || len(got) > 0 || left <= 0 {
			return got, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(min(time.Second, left)):
		}
	}
}

// prefixPurge breaks "Purge deletes every job, list and counter of one queue and nothing else.": it purges the queues whose name extends the one given too.
type prefixPurge struct {
	*memory.Backend
	mu     sync.Mutex
	queues map[string]bool
}

func (b *prefixPurge) Enqueue(ctx context.Context, p backend.EnqueueParams) error {
	err := b.Backend.Enqueue(ctx, p)
	if err == nil {
		b.mu.Lock()
		if b.queues == nil {
			b.queues = map[string]bool{}
		}
		b.queues[p.Queue] = true
		b.mu.Unlock()
	}
	return err
}

func (b *prefixPurge) Purge(ctx context.Context, p backend.PurgeParams) error {
	if err := b.Backend.Purge(ctx, p); err != nil {
		return err
	}
	b.mu.Lock()
	var also []string
	for q := range b.queues {
		if q != p.Queue && strings.HasPrefix(q, p.Queue) {
			also = append(also, q)
		}
	}
	b.mu.Unlock()
	for _, q := range also {
		if err := b.Backend.Purge(ctx, backend.PurgeParams{Queue: q}); err != nil {
			return err
		}
	}
	return nil
}

// offsetlessList breaks "skipping p.Offset and returning at most p.Limit" (List).
type offsetlessList struct{ *memory.Backend }

func (b offsetlessList) List(ctx context.Context, p backend.ListParams) ([]string, error) {
	if p.Validate() == nil {
		p.Offset = 0
	}
	return b.Backend.List(ctx, p)
}

// notelessComplete breaks "Error, when not empty, is kept as the job's LastError" (Completion).
type notelessComplete struct{ *memory.Backend }

func (b notelessComplete) Complete(ctx context.Context, p backend.CompleteParams) ([]error, error) {
	p.Items = slices.Clone(p.Items)
	for i := range p.Items {
		p.Items[i].Error = ""
	}
	return b.Backend.Complete(ctx, p)
}

// cancelDeafClaim breaks "When ctx is cancelled, Claim returns ctx.Err() promptly": a waiting claim sleeps through a cancel (not a deadline) until its Wait ends or a job comes.
type cancelDeafClaim struct{ *memory.Backend }

func (b cancelDeafClaim) Claim(ctx context.Context, p backend.ClaimParams) ([]backend.ClaimedJob, error) {
	if ctx.Err() != nil || p.Wait == 0 {
		return b.Backend.Claim(ctx, p)
	}
	deaf := context.WithoutCancel(ctx)
	if d, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		deaf, cancel = context.WithDeadline(deaf, d)
		defer cancel()
	}
	return b.Backend.Claim(deaf, p)
}

// emptyClaimRemembered breaks "A call that changed nothing (an enqueue refused with ErrJobExists, a claim that found no job) leaves no record: its repeat is simply a new call."
type emptyClaimRemembered struct {
	*memory.Backend
	mu    sync.Mutex
	empty map[requestKey]bool
}

func (b *emptyClaimRemembered) Claim(ctx context.Context, p backend.ClaimParams) ([]backend.ClaimedJob, error) {
	k := requestKey{p.Queue, p.RequestID}
	if p.Validate() == nil && ctx.Err() == nil && p.RequestID != "" {
		b.mu.Lock()
		empty := b.empty[k]
		b.mu.Unlock()
		if empty {
			return []backend.ClaimedJob{}, nil
		}
	}
	got, err := b.Backend.Claim(ctx, p)
	if err == nil && len(got) == 0 && p.RequestID != "" {
		b.mu.Lock()
		if b.empty == nil {
			b.empty = map[requestKey]bool{}
		}
		b.empty[k] = true
		b.mu.Unlock()
	}
	return got, err
}

// waitingRepeat breaks "the repeat of a Claim that took jobs never waits,
// even when it holds none of them now" the way an engine that claims again
// while a repeat comes back empty does: it keeps the caller until its
// context ends.
type waitingRepeat struct {
	*memory.Backend
	mu   sync.Mutex
	took map[requestKey]bool
}

func (b *waitingRepeat) Claim(ctx context.Context, p backend.ClaimParams) ([]backend.ClaimedJob, error) {
	k := requestKey{p.Queue, p.RequestID}
	got, err := b.Backend.Claim(ctx, p)
	if err != nil || p.RequestID == "" {
		return got, err
	}
	b.mu.Lock()
	repeat := b.took[k]
	if len(got) > 0 {
		if b.took == nil {
			b.took = map[requestKey]bool{}
		}
		b.took[k] = true
	}
	b.mu.Unlock()
	if repeat && len(got) == 0 && p.Wait > 0 {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return got, err
}

// replayedClaim breaks "A repeat within the window returns that result (a Claim: the jobs the first run took that its claim still holds ...)": it replays the first reply, acknowledged jobs included.
type replayedClaim struct {
	*memory.Backend
	mu      sync.Mutex
	replies map[requestKey][]backend.ClaimedJob
}

func (b *replayedClaim) Claim(ctx context.Context, p backend.ClaimParams) ([]backend.ClaimedJob, error) {
	k := requestKey{p.Queue, p.RequestID}
	if p.Validate() == nil && ctx.Err() == nil && p.RequestID != "" {
		b.mu.Lock()
		r, ok := b.replies[k]
		b.mu.Unlock()
		if ok {
			return slices.Clone(r), nil
		}
	}
	got, err := b.Backend.Claim(ctx, p)
	if err == nil && len(got) > 0 && p.RequestID != "" {
		b.mu.Lock()
		if b.replies == nil {
			b.replies = map[requestKey][]backend.ClaimedJob{}
		}
		b.replies[k] = slices.Clone(got)
		b.mu.Unlock()
	}
	return got, err
}

// listedPurge breaks "Purge publishes purged with no ids.": its event lists the jobs it deleted.
type listedPurge struct {
	*memory.Backend
	relay relay
	mu    sync.Mutex
	ids   map[string][]string // the jobs of each queue's latest purge
}

func (b *listedPurge) Purge(ctx context.Context, p backend.PurgeParams) error {
	var ids []string
	for _, st := range backend.States {
		ids = append(ids, listAll(ctx, b.Backend, p.Queue, st)...)
	}
	b.mu.Lock()
	if b.ids == nil {
		b.ids = map[string][]string{}
	}
	b.ids[p.Queue] = ids
	b.mu.Unlock()
	return b.Backend.Purge(ctx, p)
}

func (b *listedPurge) Subscribe(ctx context.Context, queue string) (<-chan backend.Event, error) {
	return b.relay.subscribe(ctx, b.Backend, queue, func(ev backend.Event) []backend.Event {
		if ev.Kind == backend.EventPurged {
			b.mu.Lock()
			ev.IDs = slices.Clone(b.ids[ev.Queue])
			b.mu.Unlock()
		}
		return []backend.Event{ev}
	})
}

// deadlineExtend breaks "Extend renews the leases of claimed jobs to p.Lease from now on the backend's clock": it adds p.Lease to the lease left.
type deadlineExtend struct{ *memory.Backend }

func (b deadlineExtend) Extend(ctx context.Context, p backend.ExtendParams) ([]error, error) {
	if err := p.Validate(); err != nil {
		return b.Backend.Extend(ctx, p)
	}
	errs := make([]error, len(p.Items))
	for i, a := range p.Items {
		lease := p.Lease
		if info, err := b.Get(ctx, p.Queue, a.ID); err == nil && info.State == backend.StateProcessing {
			lease += max(time.Until(info.LeaseUntil), 0)
		}
		e, err := b.Backend.Extend(ctx, backend.ExtendParams{Queue: p.Queue, Items: []backend.Ack{a}, Lease: lease})
		if err != nil {
			return nil, err
		}
		errs[i] = e[0]
	}
	return errs, nil
}

// onceExtend breaks "a repeated Extend renews the lease again, from the time of the repeat": it reports a repeat with the same token as done, and renews nothing.
type onceExtend struct {
	*memory.Backend
	acks ackSet
}

func (b *onceExtend) Extend(ctx context.Context, p backend.ExtendParams) ([]error, error) {
	if err := p.Validate(); err != nil {
		return b.Backend.Extend(ctx, p)
	}
	errs := make([]error, len(p.Items))
	var fresh []backend.Ack
	var at []int
	for i, a := range p.Items {
		if b.acks.add(ackOf(p.Queue, a)) == 0 {
			fresh = append(fresh, a)
			at = append(at, i)
		}
	}
	if len(fresh) == 0 {
		return errs, nil
	}
	p.Items = fresh
	inner, err := b.Backend.Extend(ctx, p)
	if err != nil {
		return nil, err
	}
	for k, i := range at {
		errs[i] = inner[k]
	}
	return errs, nil
}

// zeroBeatIgnored breaks "A TTL of zero removes the process at once" (WorkerTracker.Beat): a stopping process stays counted until its last beat runs out.
type zeroBeatIgnored struct{ *memory.Backend }

func (b zeroBeatIgnored) Beat(ctx context.Context, p backend.BeatParams) error {
	if p.Validate() == nil && ctx.Err() == nil && p.TTL == 0 {
		return nil
	}
	return b.Backend.Beat(ctx, p)
}

// endlessBeat breaks "Workers counts the processes ... whose last beat has not run out": every beat lasts MaxBeatTTL, whatever its TTL.
type endlessBeat struct{ *memory.Backend }

func (b endlessBeat) Beat(ctx context.Context, p backend.BeatParams) error {
	if p.Validate() == nil && p.TTL > 0 {
		p.TTL = backend.MaxBeatTTL
	}
	return b.Backend.Beat(ctx, p)
}
