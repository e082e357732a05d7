package jobqueue

import (
	"math/rand/v2"
	"time"
)

// Backoff decides how long a failed job waits before its next attempt.
type Backoff interface {
	// Delay returns the wait after the given attempt failed; attempt
	// counts from 1.
	Delay(attempt int) time.Duration
}

// BackoffFunc adapts a function to Backoff.
type BackoffFunc func(attempt int) time.Duration

// Delay calls f.
func (f BackoffFunc) Delay(attempt int) time.Duration { return f(attempt) }

// ConstantBackoff waits the same time before every retry.
type ConstantBackoff time.Duration

// Delay returns the constant.
func (c ConstantBackoff) Delay(int) time.Duration { return time.Duration(c) }

// ExponentialBackoff doubles the wait after each failed attempt: Base after
// the first, 2×Base after the second, and so on up to Max. Jitter, from 0
// to 1, takes up to that fraction off at random, so jobs that failed
// together do not retry together.
type ExponentialBackoff struct {
	Base   time.Duration
	Max    time.Duration
	Jitter float64
}

// Delay returns the wait after the given failed attempt.
func (e ExponentialBackoff) Delay(attempt int) time.Duration {
	if e.Base <= 0 {
		return 0
	}
	d := e.Base
	for i := 1; i < attempt && (e.Max <= 0 || d < e.Max); i++ {
		if d > time.Duration(1<<62)/2 {
			break
		}
		d *= 2
	}
	if e.Max > 0 && d > e.Max {
		d = e.Max
	}
	if j := min(max(e.Jitter, 0), 1); j > 0 {
		d -= time.Duration(rand.Float64() * j * float64(d))
	}
	return d
}
