package redisq_test

import (
	"testing"

	"github.com/jobqueue-go/jobqueue/internal/faultproxy"
)

// startLossyProxy starts a proxy to target, closed when the test ends, that
// can lose the reply to a chosen request: what a client sees when its
// connection breaks, or its read times out, at the worst moment.
func startLossyProxy(t *testing.T, target string) *faultproxy.Proxy {
	p, err := faultproxy.Start(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}
