package backend

import "fmt"

// State is where a job is in its life cycle.
type State string

// The job states. Completed, Dead and Cancelled are histories: capped, and
// their jobs expire.
const (
	// StatePending jobs are claimable now.
	StatePending State = "pending"
	// StateScheduled jobs become pending at their run time: delayed jobs
	// and retries backing off.
	StateScheduled State = "scheduled"
	// StateProcessing jobs are claimed and leased to a worker.
	StateProcessing State = "processing"
	// StateCompleted jobs finished successfully.
	StateCompleted State = "completed"
	// StateDead jobs are dead-lettered: out of attempts, failed with a
	// permanent error, or corrupt. RetryDead sends one back.
	StateDead State = "dead"
	// StateCancelled jobs were cancelled (Canceller) before they
	// finished: never claimed again, never retried.
	StateCancelled State = "cancelled"
)

// States lists every state, in life-cycle order.
var States = []State{StatePending, StateScheduled, StateProcessing, StateCompleted, StateDead, StateCancelled}

// Valid reports whether s is one of the known states.
func (s State) Valid() bool {
	switch s {
	case StatePending, StateScheduled, StateProcessing, StateCompleted, StateDead, StateCancelled:
		return true
	}
	return false
}

// ParseState returns the state named by s, or an error wrapping
// ErrInvalidState.
func ParseState(s string) (State, error) {
	st := State(s)
	if !st.Valid() {
		return "", fmt.Errorf("%w: %q (want one of pending, scheduled, processing, completed, dead, cancelled)", ErrInvalidState, s)
	}
	return st, nil
}
