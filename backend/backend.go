// Package backend defines the storage contract of jobqueue: the Backend
// interface, the request and response types of its methods, the job states
// and the error values every implementation returns.
//
// A Backend is a short list of atomic state changes on named queues. It holds
// no policy: defaults, retry and backoff decisions, payload limits and
// retention settings are decided by the root jobqueue package and passed in
// with each call. The conformance package is the executable definition of
// these semantics; every implementation runs it.
//
// This package imports no client library, so a third party can implement a
// Backend (for another store) without pulling in Redis clients.
//
// # Lost replies and repeated calls
//
// This section is the one statement of these rules; the implementations
// and the root package refer to it.
//
// A call whose reply is lost (the connection dropped, a read timed out) may
// or may not have run in the store, and its caller cannot tell which. Every
// mutating method is therefore safe to repeat with the same params: a
// repeat returns what the first run returned and changes nothing more — no
// second job, history entry, event or counter increment.
//
//   - Enqueue, Claim, Reclaim, RetryDead, Delete, Purge and
//     Canceller.Cancel are recognised by their RequestID, a caller-made id (RequestID, ValidateRequestID). A
//     backend remembers the request id of every such call that changed
//     something, with what the call returned, for at least RequestWindow.
//     A repeat within the window returns that result (a Claim: the jobs
//     the first run took that its claim still holds, with the same tokens
//     and lease deadlines; a Reclaim: the same ids) without acting again,
//     even when the queue has changed in between: a repeated Delete does
//     not delete a job enqueued again under the same id, a repeated Purge
//     does not delete jobs enqueued since. A call that changed nothing (an
//     enqueue refused with ErrJobExists, a claim that found no job) leaves
//     no record: its repeat is simply a new call. An empty RequestID means
//     the caller will not repeat the call, and the backend keeps no record.
//     A request id names one call: a call that reuses another call's id
//     gets that call's result. Only Claim's Wait may differ in a repeat
//     (the caller passes what is left of it); the repeat of a Claim that
//     took jobs never waits, even when it holds none of them now.
//   - Complete, Fail, Release and Extend are recognised by their claim
//     tokens (see Backend): a repeat of the outcome a token already
//     recorded succeeds and changes nothing; a repeated Extend renews the
//     lease again, from the time of the repeat. A repeat after the job was
//     claimed again reports ErrLostClaim, and one after its record is gone
//     (a retention that keeps nothing, Delete, Purge) reports ErrNotFound,
//     although the first run took effect.
//   - WorkerTracker.Beat takes no id: a repeat beats again, which only
//     sets the process's expiry once more, from the time of the repeat
//     (and removes it again, for a TTL of zero).
//   - A repeat of a call made with a Durability (DurableWriter) waits
//     again, and succeeds only once what the first run wrote is durable.
//     The same holds for a call that reported ErrNotDurable.
//   - Reads (Get, List, Stats, Summarizer.Summaries) change nothing, so
//     their repeats are free.
//     They never write to the store either, so an implementation may serve
//     them from a read-only replica.
//
// Implementations never repeat a call themselves. They report a round trip
// that failed, so that the call may or may not have run, as an error
// wrapping ErrUnavailable, and nothing else as such. Repeating is the
// caller's decision: the root jobqueue.Queue repeats a call that failed
// with ErrUnavailable a bounded number of times, with backoff and the same
// params. A client library that sends a command again on its own after a
// lost reply loses no job under these rules (an adapter's doc says what
// else such a resend costs).
package backend

import (
	"context"
	"time"
)

// RequestWindow is the least time a backend remembers the request id of a
// call that changed something (see "Lost replies and repeated calls"). A
// caller repeats a call within it; a repeat after it may run again.
const RequestWindow = time.Minute

// Backend is the storage contract of a job queue. Every method is safe for
// concurrent use by many goroutines and many processes sharing the store.
//
// Methods that take a batch of items (Enqueue, Complete, Fail, Extend,
// Release) check each item on its own: an item with a stale token does not
// stop the others. Their per-item errors come back in a slice that has one
// entry per item, in order; the second return value reports a failure of the
// whole call (a dropped connection, a cancelled context, invalid params), in
// which case the caller must assume nothing is known about the items.
//
// Every method checks its params first (their Validate methods, or
// ValidateJobRef) and changes nothing when they are invalid. A method
// called with a context that has already ended returns its error and
// changes nothing.
//
// Claim tokens fence every acknowledgement. A job's record keeps the token of
// its latest claim and which outcome (complete, fail or release) was recorded
// for it. An acknowledgement whose token is the current one, while the job is
// processing, takes effect. One whose token is the current one and whose
// outcome was already recorded with that token (the same operation repeated)
// succeeds and changes nothing. Any other token, including the token of a
// claim that Reclaim took back, reports ErrLostClaim and changes nothing.
// Once a job is claimed again, its previous tokens are all stale. A job whose
// record is gone (deleted, purged, expired, or finished under a retention
// that keeps nothing) reports ErrNotFound, repeats included.
//
// A scheduled job whose run time has come counts as pending for every
// method: Get reports it pending, List and Stats count it with the pending
// jobs (after those already pending, in run-time order), and Claim takes
// it. A claimed job whose lease has run out stays processing until Reclaim
// takes it back.
//
// Every state change publishes its events (see Event) when the backend
// implements Subscriber.
type Backend interface {
	// Enqueue adds jobs to a queue, atomically: either every job is stored
	// or, when any of them is invalid, its id already exists or its unique
	// key is held, none is and the error says why (ErrInvalidArgument,
	// ErrJobExists, a *DuplicateError listing every held key). A job with a
	// positive Delay becomes claimable once the delay has passed on the
	// backend's clock; the others are claimable at once, in the order
	// given, after every job already pending. The payloads are copied: the
	// caller may reuse their memory once Enqueue returns. A repeat is
	// recognised by p.RequestID.
	Enqueue(ctx context.Context, p EnqueueParams) error

	// Claim atomically takes up to p.Max claimable jobs, the highest
	// Priority level first and oldest first within a level, and leases
	// them for p.Lease: each comes back with a fresh claim token, and its
	// attempts counter incremented. There is no moment at which a claimed
	// job is neither pending nor processing. A job whose Expiry has passed
	// before it was claimed is never returned: the claim dead-letters it
	// under p.DeadRetention, with a LastError saying it expired.
	//
	// When no job is claimable, Claim waits up to p.Wait for one (without
	// polling the store in a busy loop) and returns as soon as one is
	// claimable. Delayed jobs that fall due during the wait are claimed
	// promptly. When the wait runs out, Claim returns an empty slice and a
	// nil error. When ctx is cancelled, Claim returns ctx.Err() promptly,
	// and no job is lost: a job is either returned or still claimable. A
	// paused queue, or one at a limit, has no claimable job (see
	// Controller). A repeat is recognised by p.RequestID.
	Claim(ctx context.Context, p ClaimParams) ([]ClaimedJob, error)

	// Complete finishes claimed jobs with a result. Each item is checked
	// against its claim token: a token that is not the job's current one
	// changes nothing and reports ErrLostClaim; an unknown id reports
	// ErrNotFound. Repeating a complete with the same token after it
	// succeeded is a no-op that succeeds, with no second history entry,
	// event or counter increment. The job is added to the completed
	// history, which is trimmed to p.Retention.Max entries, and its record
	// expires after p.Retention.TTL.
	Complete(ctx context.Context, p CompleteParams) ([]error, error)

	// Fail ends the current attempt of claimed jobs with an error text.
	// Each item says what follows for its own job: retry at once (Delay
	// 0), retry after Delay, or dead-letter (Dead). Dead-lettered jobs
	// join the dead history, trimmed to p.Retention.Max, and expire after
	// p.Retention.TTL. A Snooze item puts its job back (pending at once,
	// or scheduled for Delay) without using up an attempt (the attempts
	// counter is decremented), leaves its LastError as it was, counts no
	// retry and publishes EventSnoozed. A job retried or snoozed keeps its
	// Priority level and joins the tail of it. Tokens are checked and
	// repeats are no-ops as for Complete.
	Fail(ctx context.Context, p FailParams) ([]error, error)

	// Extend renews the leases of claimed jobs to p.Lease from now on the
	// backend's clock (a heartbeat). A job whose token is stale, or whose
	// claim already recorded an outcome, reports ErrLostClaim and keeps
	// its current owner's lease.
	Extend(ctx context.Context, p ExtendParams) ([]error, error)

	// Release hands claimed jobs back to pending at once, ahead of every
	// other pending job of their Priority level, without using up an
	// attempt (the attempts counter is decremented). It is for a worker
	// that shuts down before finishing.
	// Tokens are checked and repeats are no-ops as for Complete.
	Release(ctx context.Context, p ReleaseParams) ([]error, error)

	// Reclaim returns up to p.Max jobs whose lease has expired to the tail
	// of their Priority level of pending, oldest deadline first; a lease that has not run out is never taken
	// back, however close it is to its end. A job whose attempts have
	// reached its max attempts is dead-lettered instead (a poison job that
	// kills its worker must not be retried forever), with LastError saying
	// the lease expired, and under p.DeadRetention. A reclaimed job's old
	// token is stale from then on. The cost is bounded by p.Max, so callers
	// loop while a call returns a full batch. Many processes may reclaim
	// the same queue at once; each expired job is reclaimed by one of
	// them. A repeat is recognised by p.RequestID.
	Reclaim(ctx context.Context, p ReclaimParams) (ReclaimResult, error)

	// Get returns one job's record. An unknown or expired id reports
	// ErrNotFound. It changes nothing.
	Get(ctx context.Context, queue, id string) (JobInfo, error)

	// List returns the ids of the jobs in one state, in the order the state
	// keeps them (pending: next to be claimed first, that is the highest
	// Priority level first and oldest first within a level, then the
	// scheduled jobs that are due but not yet moved to pending, which a
	// claim moves to the tail of their level, so a backend may list them
	// there instead; processing: earliest lease deadline first;
	// scheduled: earliest run time first; completed, dead and cancelled:
	// most recent first), skipping p.Offset and returning at most p.Limit. It changes
	// nothing.
	List(ctx context.Context, p ListParams) ([]string, error)

	// Stats returns the depth of each state and the queue's global
	// counters (see Stats for what each counts). It changes nothing.
	Stats(ctx context.Context, queue string) (Stats, error)

	// Purge deletes every job, list and counter of one queue and nothing
	// else. Workers holding claims on the purged queue get ErrNotFound when
	// they acknowledge. A backend may purge in steps, so that a large queue
	// does not hold the store for long: a Purge cut short (by a lost reply,
	// or its context) has deleted part of the queue, and its repeat goes
	// on with it, jobs enqueued meanwhile included. A repeat of a Purge
	// that finished is recognised by p.RequestID.
	Purge(ctx context.Context, p PurgeParams) error

	// RetryDead moves a dead-lettered job back to the tail of its Priority
	// level of pending with its attempts reset to zero (and no Expiry: a
	// job sent back by hand runs); the token of its last claim is stale from then on. A
	// job that is not dead reports ErrWrongState; an unknown id reports
	// ErrNotFound. A repeat is recognised by p.RequestID.
	RetryDead(ctx context.Context, p RetryDeadParams) error

	// Delete removes one job, in whatever state it is. A worker holding
	// its claim gets ErrNotFound when it acknowledges. A repeat is
	// recognised by p.RequestID.
	Delete(ctx context.Context, p DeleteParams) error
}

// Subscriber is an optional capability: a Backend that publishes state
// changes implements it. Callers find it by type assertion.
type Subscriber interface {
	// Subscribe delivers the queue's events on the returned channel until
	// ctx is done, then closes it. Events are notifications, not a log: a
	// slow reader or a reconnect may miss some.
	Subscribe(ctx context.Context, queue string) (<-chan Event, error)
}

// ConfigChecker is an optional capability: a Backend whose store has
// settings that can lose jobs behind its back implements it (on Redis, a
// maxmemory-policy that evicts keys). Callers find it by type assertion;
// a Worker calls it when it starts and logs what it returns.
type ConfigChecker interface {
	// CheckConfig reads the store's settings, changing nothing, and
	// returns one human-readable warning per setting that puts jobs at
	// risk, none when all is well. A setting the backend may not read is
	// a warning that says so, not an error: the error is for a check that
	// could not be made at all (the store did not answer).
	CheckConfig(ctx context.Context) ([]string, error)
}

// Local is an optional capability: a Backend whose store lives in its
// caller's process (the memory backend) implements it. Its calls are never
// in doubt, since no reply of it can be lost on the way: each call has run,
// or not, as it reports, and it never returns ErrUnavailable. Callers find
// it by type assertion; the root jobqueue.Queue sends such a backend no
// request ids, which spares it remembering them.
type Local interface {
	// Local marks the backend; it does nothing.
	Local()
}

// NewJob is one job to enqueue.
type NewJob struct {
	// ID is the job's unique id within its queue, chosen by the caller,
	// as ValidateNewID accepts.
	ID string
	// Kind names what the job is, for routing it to a handler: empty, or
	// a name as ValidateKind accepts. It is stored and returned as given.
	Kind string
	// Payload is stored as given and returned unchanged on claim.
	Payload []byte
	// Headers are small string metadata that travel with the job (trace
	// context, tenant, request id), as ValidateHeaders accepts; nil or
	// empty for none. They are copied and returned unchanged on claim.
	Headers map[string]string
	// Priority is the job's level, 0 to MaxPriority: a claim takes the
	// highest level that has claimable jobs first. Zero, the default, is
	// the lowest level.
	Priority int
	// MaxAttempts is how many times the job may be claimed in all; at
	// least 1.
	MaxAttempts int
	// Delay postpones the first claim; zero or negative means now.
	Delay time.Duration
	// Timeout, when positive, bounds one attempt of the job: the worker
	// ends its handler's context then. The backend only stores and returns
	// it.
	Timeout time.Duration
	// Expiry, when positive, is how long after the enqueue (on the
	// backend's clock) an attempt of the job may still start: a claim
	// that meets the job later, a retry's included, dead-letters it
	// instead of returning it, with a LastError that says it expired. It
	// must be longer than Delay. Zero means never.
	Expiry time.Duration
	// Unique, when its Key is set, refuses the job while another job of
	// the queue holds the key (see Unique and ErrDuplicate).
	Unique Unique
}

// EnqueueParams are the inputs of Backend.Enqueue.
type EnqueueParams struct {
	Queue string
	Jobs  []NewJob
	// RequestID recognises a repeat of this call (see the package doc).
	RequestID string
	// Durability, when enabled, makes the call wait until its jobs are
	// durable (see DurableWriter).
	Durability Durability
}

// ClaimParams are the inputs of Backend.Claim.
type ClaimParams struct {
	Queue string
	// Max is the most jobs one call returns; at least 1.
	Max int
	// Wait is how long to wait for a job when none is claimable; zero
	// means return at once.
	Wait time.Duration
	// Lease is how long the claim lasts before Reclaim may take it back,
	// unless renewed with Extend; at least 1 ms.
	Lease time.Duration
	// DeadRetention applies to expired jobs that the claim dead-letters
	// (see NewJob.Expiry).
	DeadRetention Retention
	// RequestID recognises a repeat of this call (see the package doc).
	RequestID string
}

// ClaimedJob is one job handed to a claimer.
type ClaimedJob struct {
	ID      string
	Token   string
	Kind    string
	Payload []byte
	// Headers are the job's headers; nil when it has none.
	Headers  map[string]string
	Priority int
	// Timeout is the job's NewJob.Timeout; zero for none.
	Timeout time.Duration
	// Attempts counts the claims of this job, this one included.
	Attempts    int
	MaxAttempts int
	EnqueuedAt  time.Time
	// LeaseUntil is when the lease expires on the backend's clock.
	LeaseUntil time.Time
}

// Retention bounds a history: at most Max entries, each kept for TTL. When
// a history grows past Max, its oldest entries and their job records are
// deleted at once. Max 0 or TTL 0 keeps nothing: the finished job's record is
// deleted when it finishes.
type Retention struct {
	Max int
	TTL time.Duration
}

// Ack names a claimed job and the token of its claim.
type Ack struct {
	ID    string
	Token string
}

// Completion is one item of a Complete call.
type Completion struct {
	Ack
	// Result is stored with the job; it may be empty. It is copied: the
	// caller may reuse its memory once Complete returns.
	Result []byte
	// Error, when not empty, is kept as the job's LastError: a note on a
	// job that succeeded, such as why its result could not be stored.
	Error string
}

// CompleteParams are the inputs of Backend.Complete.
type CompleteParams struct {
	Queue     string
	Items     []Completion
	Retention Retention
	// Durability, when enabled, makes the call wait until the outcomes
	// it recorded are durable (see DurableWriter).
	Durability Durability
}

// Failure is one item of a Fail call.
type Failure struct {
	Ack
	// Error is the failure's text, kept as the job's LastError.
	Error string
	// Dead dead-letters the job; otherwise it is retried.
	Dead bool
	// Snooze puts the job back without using up an attempt (see
	// Backend.Fail); Error is then ignored. Dead and Snooze exclude each
	// other.
	Snooze bool
	// Delay postpones the retry or the snoozed job; zero means pending at
	// once.
	Delay time.Duration
}

// FailParams are the inputs of Backend.Fail.
type FailParams struct {
	Queue string
	Items []Failure
	// Retention applies to the dead history.
	Retention Retention
	// Durability, when enabled, makes the call wait until the outcomes
	// it recorded are durable (see DurableWriter).
	Durability Durability
}

// ExtendParams are the inputs of Backend.Extend.
type ExtendParams struct {
	Queue string
	Items []Ack
	// Lease is the new lease length, counted from now; at least 1 ms.
	Lease time.Duration
}

// ReleaseParams are the inputs of Backend.Release.
type ReleaseParams struct {
	Queue string
	Items []Ack
}

// ReclaimParams are the inputs of Backend.Reclaim.
type ReclaimParams struct {
	Queue string
	// Max bounds the jobs one call reclaims; at least 1.
	Max int
	// DeadRetention applies to jobs dead-lettered because their lease
	// expired on their last attempt.
	DeadRetention Retention
	// RequestID recognises a repeat of this call (see the package doc).
	RequestID string
}

// ReclaimResult lists what one Reclaim call did.
type ReclaimResult struct {
	// Requeued are the ids returned to pending.
	Requeued []string
	// Dead are the ids dead-lettered because they had no attempts left.
	Dead []string
}

// Len is the number of jobs the call reclaimed in all.
func (r ReclaimResult) Len() int { return len(r.Requeued) + len(r.Dead) }

// ListParams are the inputs of Backend.List.
type ListParams struct {
	Queue  string
	State  State
	Offset int
	// Limit is the most ids returned; at least 1.
	Limit int
}

// PurgeParams are the inputs of Backend.Purge.
type PurgeParams struct {
	Queue string
	// RequestID recognises a repeat of this call (see the package doc).
	RequestID string
}

// RetryDeadParams are the inputs of Backend.RetryDead.
type RetryDeadParams struct {
	Queue string
	ID    string
	// RequestID recognises a repeat of this call (see the package doc).
	RequestID string
}

// DeleteParams are the inputs of Backend.Delete.
type DeleteParams struct {
	Queue string
	ID    string
	// RequestID recognises a repeat of this call (see the package doc).
	RequestID string
}

// JobInfo is one job's record, as Get returns it.
type JobInfo struct {
	ID          string
	State       State
	Kind        string
	Payload     []byte
	Headers     map[string]string
	Priority    int
	Timeout     time.Duration
	Attempts    int
	MaxAttempts int
	EnqueuedAt  time.Time
	// ExpiresAt is the job's expiry (see NewJob.Expiry): a claim that
	// meets it from then on dead-letters it. Zero for none.
	ExpiresAt time.Time
	// RunAt is when a scheduled job becomes claimable; zero otherwise.
	RunAt time.Time
	// ClaimedAt is the start of the latest claim; zero if never claimed.
	ClaimedAt time.Time
	// LeaseUntil is the lease deadline while processing; zero otherwise.
	LeaseUntil time.Time
	// FinishedAt is when the job completed, was dead-lettered or became
	// cancelled.
	FinishedAt time.Time
	Result     []byte
	LastError  string
}

// Stats are a queue's depths and global counters. Counters are shared by
// every process using the queue and survive until Purge.
type Stats struct {
	// Pending counts the jobs claimable now, due scheduled jobs included.
	Pending int64
	// Scheduled counts the jobs whose run time is still to come.
	Scheduled int64
	// Processing counts the claimed jobs, those whose lease has run out
	// but that no Reclaim has taken back yet included.
	Processing int64
	// Completed and Dead count the jobs their histories keep.
	Completed int64
	Dead      int64

	// EnqueuedTotal counts jobs enqueued.
	EnqueuedTotal int64
	// ClaimedTotal counts claims, including repeated claims of one job.
	ClaimedTotal int64
	// CompletedTotal counts completions.
	CompletedTotal int64
	// RetriedTotal counts failures that Fail sent back for another try
	// (reclaims are not counted here).
	RetriedTotal int64
	// DeadTotal counts jobs dead-lettered, by Fail, by Reclaim, or because
	// their record was corrupt.
	DeadTotal int64
	// ReclaimedTotal counts expired leases reclaimed (requeued or dead).
	ReclaimedTotal int64

	// Latency is the queue latency: how long the longest-waiting
	// claimable job has been waiting, on the backend's clock, counted
	// from when it last became claimable (its enqueue, the run time of a
	// delayed job or a retry, a reclaim, a RetryDead; a released job keeps
	// the time it had). Zero when nothing is claimable. It is read from
	// the head of each priority level and the earliest due scheduled job,
	// so it costs the same at any depth: within a level, jobs wait in the
	// order they became claimable.
	Latency time.Duration

	// Workers counts the processes working the queue: those whose last
	// beat (WorkerTracker) has not run out. Zero on a backend that does
	// not implement WorkerTracker.
	Workers int64

	// Cancelled counts the jobs the cancelled history keeps (Canceller).
	Cancelled int64
	// CancelledTotal counts jobs that became cancelled.
	CancelledTotal int64
	// Paused and Limits are the queue's settings (see Controller); false
	// and none on a backend that does not implement Controller.
	// KindLimits holds the limits of each kind that has some (nil for
	// none).
	Paused     bool
	Limits     Limits
	KindLimits map[string]Limits
}

// Event is a state-change notification. It carries ids, never payloads. A
// call publishes one event per kind of change it made, listing every job it
// changed that way, never one event per job: a Fail call may publish
// retrying and dead, a Reclaim call reclaimed (requeued jobs) and dead
// (poison jobs). Purge publishes purged with no ids, and so do the
// Controller's calls, with paused, resumed and limits, when they change
// the queue's settings (see Controller). A repeated call (see "Lost
// replies and repeated calls") publishes nothing. A backend may
// write concurrent Enqueue calls of one queue together; their jobs may then
// share one enqueued event.
type Event struct {
	Queue string
	Kind  EventKind
	IDs   []string
}

// EventKind names what happened to the jobs of an Event.
type EventKind string

// QueueWide reports whether events of kind are about the whole queue and
// name no job (purged, paused, resumed, limits): a reader that expects
// ids, or a backend that drops events naming no job, tells them apart by
// it.
func (k EventKind) QueueWide() bool {
	switch k {
	case EventPurged, EventPaused, EventResumed, EventLimits:
		return true
	}
	return false
}

// The event kinds.
const (
	EventEnqueued  EventKind = "enqueued"
	EventClaimed   EventKind = "claimed"
	EventCompleted EventKind = "completed"
	EventRetrying  EventKind = "retrying"
	EventSnoozed   EventKind = "snoozed"
	EventDead      EventKind = "dead"
	EventReclaimed EventKind = "reclaimed"
	EventReleased  EventKind = "released"
	EventRetried   EventKind = "retried" // a dead job sent back by RetryDead
	EventDeleted   EventKind = "deleted"
	EventPurged    EventKind = "purged"
	// EventCancelled: jobs became cancelled (Canceller), at the cancel or
	// when their claim ended.
	EventCancelled EventKind = "cancelled"
	// EventPaused, EventResumed and EventLimits: the queue was paused,
	// resumed, or its limits changed (Controller). They name no jobs;
	// Stats reads the settings.
	EventPaused  EventKind = "paused"
	EventResumed EventKind = "resumed"
	EventLimits  EventKind = "limits"
)
