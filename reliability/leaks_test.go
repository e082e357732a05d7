package reliability

import (
	"time"

	"go.uber.org/goleak"
)

// leakSettle is how long findLeaks waits for goroutines to end. A client
// library may end its own goroutines a little after Close returns: go-redis's
// dial prober, started when a pool fails to dial, sleeps a second between
// probes and sees the pool closed only when it wakes.
const leakSettle = 3 * time.Second

// findLeaks is goleak.Find, asked again until no goroutine beyond opts is
// left or leakSettle has passed; it returns the last report.
func findLeaks(opts ...goleak.Option) error {
	deadline := time.Now().Add(leakSettle)
	for {
		err := goleak.Find(opts...)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
