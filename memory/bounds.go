package memory

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/jobqueue-go/jobqueue/backend"
)

// Option sets a bound of a Backend (New).
type Option func(*usage)

// WithMaxJobs bounds the jobs the backend stores, in every queue and every
// state together, finished jobs kept in a history included, to n: an
// enqueue that would store more is refused whole with an error wrapping
// backend.ErrFull. Zero means no bound, as without the option; a negative
// n panics.
func WithMaxJobs(n int) Option {
	if n < 0 {
		panic(fmt.Sprintf("memory: WithMaxJobs(%d): want 0 (no bound) or more", n))
	}
	return func(u *usage) { u.maxJobs = int64(n) }
}

// WithMaxBytes bounds the backend's estimate of the bytes it stores to n:
// an enqueue that would take the estimate over n is refused whole with an
// error wrapping backend.ErrFull. Zero means no bound, as without the
// option; a negative n panics.
//
// The estimate of a job is its id, kind, payload, result and last error,
// its headers' names and values with 256 bytes for their map and 48 for
// each entry, and 512 bytes for its record and its place in the queue's
// lists, maps and heaps: for small jobs, within about a tenth of what the
// Go heap grows by on a 64-bit machine. A unique key held (backend.Unique)
// adds its length and 128 bytes, for as long as it is held, which may
// outlast its job. Request records, schedules, worker beats and the
// per-minute history are small and bounded otherwise, and not counted.
func WithMaxBytes(n int64) Option {
	if n < 0 {
		panic(fmt.Sprintf("memory: WithMaxBytes(%d): want 0 (no bound) or more", n))
	}
	return func(u *usage) { u.maxBytes = n }
}

// The fixed parts of the estimate (WithMaxBytes), measured with Go's heap
// statistics: a pending job of 32-byte id and empty payload grows the heap
// by about 470 bytes; a headers map of up to 8 entries by about 340; a
// unique key's hold by about 125.
const (
	jobOverhead       = 512
	headersOverhead   = 256
	headerOverhead    = 48
	uniqueKeyOverhead = 128
)

// usage is what a Backend stores, counted across its queues against its
// bounds. The counts change with atomic adds under the queues' own locks;
// only an enqueue, which must see room and take it in one step, also
// holds mu, so that two enqueues on different queues cannot both take the
// last room.
type usage struct {
	maxJobs, maxBytes int64 // zero: no bound
	mu                sync.Mutex
	jobs, bytes       atomic.Int64
}

// bounded reports whether any bound applies.
func (u *usage) bounded() bool { return u.maxJobs > 0 || u.maxBytes > 0 }

// reserve counts jobs new jobs of the given estimated bytes as stored, or
// refuses them all with an error wrapping backend.ErrFull when they would
// take a bound over. Acknowledgements that grow a job are not refused:
// they add with grow, and may take the bytes over their bound, after
// which enqueues are refused until enough has gone.
func (u *usage) reserve(queue string, jobs, bytes int64) error {
	if !u.bounded() {
		u.add(jobs, bytes)
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	storedJobs, storedBytes := u.jobs.Load(), u.bytes.Load()
	if u.maxJobs > 0 && storedJobs+jobs > u.maxJobs {
		return fmt.Errorf("%w: the memory backend holds %d jobs, and %d more would pass its bound of %d (memory.WithMaxJobs); enqueue to queue %q refused: drain, delete or purge jobs, or raise the bound",
			backend.ErrFull, storedJobs, jobs, u.maxJobs, queue)
	}
	if u.maxBytes > 0 && storedBytes+bytes > u.maxBytes {
		return fmt.Errorf("%w: the memory backend holds about %d bytes, and %d more would pass its bound of %d (memory.WithMaxBytes); enqueue to queue %q refused: drain, delete or purge jobs, or raise the bound",
			backend.ErrFull, storedBytes, bytes, u.maxBytes, queue)
	}
	u.add(jobs, bytes)
	return nil
}

// add counts jobs and bytes as stored, or, negative, as gone.
func (u *usage) add(jobs, bytes int64) {
	if jobs != 0 {
		u.jobs.Add(jobs)
	}
	if bytes != 0 {
		u.bytes.Add(bytes)
	}
}

// estimate is the bytes the job takes by the estimate of WithMaxBytes.
func (j *job) estimate() int64 {
	n := jobOverhead + len(j.id) + len(j.kind) + len(j.payload) + len(j.result) + len(j.lastError)
	if len(j.headers) > 0 {
		n += headersOverhead
		for k, v := range j.headers {
			n += headerOverhead + len(k) + len(v)
		}
	}
	return int64(n)
}

// resized counts the change of j's estimate after an acknowledgement set
// its result or last error; q is locked. It is never refused (see
// reserve): refusing it would lose the outcome of a job that ran.
func (q *queue) resized(j *job) {
	n := j.estimate()
	q.use.add(0, n-j.size)
	j.size = n
}

// estimate is the bytes the hold takes by the estimate of WithMaxBytes.
func (h *hold) estimate() int64 { return int64(uniqueKeyOverhead + len(h.key)) }
