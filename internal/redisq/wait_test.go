package redisq

import (
	"testing"
	"time"
)

// TestSetDueKeepsEarliest reports run-ats out of order, as concurrent
// claims do: the wake-up stays at the earliest, and fires.
func TestSetDueKeepsEarliest(t *testing.T) {
	e := NewEngine(nil) // no Redis: a waiter is queued by hand, so no blocker starts
	t.Cleanup(e.Close)
	q := e.waitQueue("q")
	w := &waiter{ch: make(chan struct{}, 1), deadline: time.Now().Add(time.Minute)}
	q.queue = append(q.queue, w)

	const now = 1_000_000
	q.setDue(now, now+30)
	first := q.dueAt
	q.setDue(now, -1)        // a claim that saw nothing scheduled
	q.setDue(now, now+5000)  // one that saw a later run-at
	q.setDue(now-10, now+25) // the same run-at, reported by an older claim
	if q.due == nil || !q.dueAt.Equal(first) {
		t.Fatalf("the wake-up moved from %v to %v (timer set: %v)", first, q.dueAt, q.due != nil)
	}
	q.setDue(now, now+10)
	if !q.dueAt.Before(first) {
		t.Fatal("an earlier run-at did not bring the wake-up forward")
	}
	select {
	case <-w.ch:
	case <-time.After(time.Second):
		t.Fatal("the due timer did not wake the waiting claim")
	}
	time.Sleep(50 * time.Millisecond) // the first timer, if it still ran, would fire now
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.due != nil {
		t.Fatal("the timer that fired is still set")
	}
}
