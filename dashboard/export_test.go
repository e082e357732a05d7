package dashboard

import "time"

// DiscoverEvery sets how often a dashboard made with Discover reads the
// registry of queues, for tests that cannot wait DiscoverInterval.
func DiscoverEvery(d time.Duration) Option {
	return func(c *config) { c.discoverEvery = d }
}
