package memory

import (
	"container/heap"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
)

// hold is a unique key held by a job (backend.Unique): the job's id, the
// end of the window, and the finished states that give it up early.
type hold struct {
	key   string
	id    string
	until time.Time
	// onCompleted and onDead say which finished states end the hold; a
	// hold with either also ends when its job is deleted or purged.
	onCompleted, onDead bool
	hidx                int
}

// releasable reports whether the hold ends with its job, and not only
// with its window.
func (h *hold) releasable() bool { return h.onCompleted || h.onDead }

// holds keeps a queue's unique keys, and their windows in a heap, so that
// keys whose window ended are dropped in order rather than kept forever.
type holds struct {
	byKey map[string]*hold
	order holdHeap
	// use counts the holds' bytes in their Backend's usage (bounds.go).
	use *usage
}

// holder returns the hold of key that is live at now, or nil, dropping
// the holds whose window has ended.
func (hs *holds) holder(key string, now time.Time) *hold {
	hs.expire(now)
	return hs.byKey[key]
}

func (hs *holds) expire(now time.Time) {
	for len(hs.order) > 0 && !hs.order[0].until.After(now) {
		h := heap.Pop(&hs.order).(*hold)
		delete(hs.byKey, h.key)
		hs.use.add(0, -h.estimate())
	}
}

// checkUnique returns the error of an enqueue of jobs when some of their
// keys are held: a *backend.DuplicateError listing them all; q is locked.
func (q *queue) checkUnique(now time.Time, jobs []backend.NewJob) error {
	var dups []backend.Duplicate
	for i, nj := range jobs {
		if nj.Unique.Key == "" {
			continue
		}
		if h := q.holds.holder(nj.Unique.Key, now); h != nil {
			dups = append(dups, backend.Duplicate{Index: i, Key: nj.Unique.Key, ExistingID: h.id})
		}
	}
	if dups == nil {
		return nil
	}
	return &backend.DuplicateError{Queue: q.name, Duplicates: dups}
}

// takeUnique makes j hold its unique key u, which checkUnique found free;
// q is locked.
func (q *queue) takeUnique(j *job, u backend.Unique, now time.Time) {
	if u.Key == "" {
		return
	}
	h := &hold{key: u.Key, id: j.id, until: now.Add(u.Window), onCompleted: u.Releases(backend.StateCompleted), onDead: u.Releases(backend.StateDead)}
	if q.holds.byKey == nil {
		q.holds.byKey = make(map[string]*hold)
	}
	// Its bytes were counted with its job's, by Enqueue.
	q.holds.byKey[h.key] = h
	heap.Push(&q.holds.order, h)
	if h.releasable() {
		j.hold = h
	}
}

// releaseUnique gives up j's unique key as j enters state, when its hold
// ends there; an empty state is a delete or a purge, which, like a cancel,
// ends every hold that may end early. A key another job holds now is left alone; q is
// locked.
func (q *queue) releaseUnique(j *job, state backend.State) {
	h := j.hold
	if h == nil {
		return
	}
	switch {
	case state == "", state == backend.StateCancelled,
		state == backend.StateCompleted && h.onCompleted,
		state == backend.StateDead && h.onDead:
	default:
		return
	}
	j.hold = nil
	if q.holds.byKey[h.key] == h {
		delete(q.holds.byKey, h.key)
		heap.Remove(&q.holds.order, h.hidx)
		q.use.add(0, -h.estimate())
	}
}

// holdHeap orders holds by the end of their window.
type holdHeap []*hold

func (h holdHeap) Len() int           { return len(h) }
func (h holdHeap) Less(i, j int) bool { return h[i].until.Before(h[j].until) }
func (h holdHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hidx = i
	h[j].hidx = j
}
func (h *holdHeap) Push(x any) {
	e := x.(*hold)
	e.hidx = len(*h)
	*h = append(*h, e)
}
func (h *holdHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.hidx = -1
	return e
}
