// Package kindcap bounds the job kinds that metrics label, for jqprom and
// jqotel: kinds come from producers, and a producer that makes them up
// must not give a metrics backend a series per job.
package kindcap

import "sync"

// Other is the label of the kinds that came after the cap was reached. No
// job kind can take it (kinds are made of [A-Za-z0-9_.-]), so it never
// merges with a real kind.
const Other = "(other)"

// Cap labels kinds: the first max distinct kinds it is given are their own
// label, every later one is Other. The empty kind (a job enqueued without
// one) is always its own label and does not count. A kind keeps the label
// it was first given, so an attempt's end is labelled as its start was.
// It is safe for concurrent use.
type Cap struct {
	max  int
	mu   sync.RWMutex
	seen map[string]struct{}
}

// New returns a Cap of max kinds; 0 labels every kind Other.
func New(max int) *Cap { return &Cap{max: max, seen: map[string]struct{}{}} }

// Label returns kind's label.
func (c *Cap) Label(kind string) string {
	if kind == "" {
		return ""
	}
	c.mu.RLock()
	_, ok := c.seen[kind]
	full := len(c.seen) >= c.max
	c.mu.RUnlock()
	switch {
	case ok:
		return kind
	case full:
		return Other
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[kind]; ok {
		return kind
	}
	if len(c.seen) >= c.max {
		return Other
	}
	c.seen[kind] = struct{}{}
	return kind
}
