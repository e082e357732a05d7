package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue/conformance/redistest"
)

// TestServeWarnsAboutEviction runs "jobqueue serve" on a Redis whose
// maxmemory-policy may evict queue keys, on each adapter: it must say so
// as it starts, and must not on a Redis with noeviction.
func TestServeWarnsAboutEviction(t *testing.T) {
	for _, policy := range []string{"allkeys-lru", "noeviction"} {
		t.Run(policy, func(t *testing.T) {
			srv := redistest.Start(t, redistest.WithArgs("--maxmemory-policy", policy))
			for _, kind := range []string{backendGoredis, backendRueidis} {
				var out, errOut syncBuffer
				env := &cmdEnv{
					stdin: strings.NewReader(""), stdout: &out, stderr: &errOut,
					getenv: func(k string) string {
						if k == "REDIS_URL" {
							return srv.URL
						}
						return ""
					},
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan int)
				go func() {
					done <- env.dispatch(ctx, []string{"serve", "-backend", kind, "-addr", "127.0.0.1:0", "-queue", "evictwarn"})
				}()
				waitFor(t, "the dashboard address", 10*time.Second, func() bool {
					return strings.Contains(errOut.String(), "dashboard at ")
				})
				cancel()
				if code := <-done; code != exitOK {
					t.Errorf("%s: serve exited %d", kind, code)
				}
				log := errOut.String()
				warned := strings.Contains(log, "level=WARN") && strings.Contains(log, "maxmemory-policy allkeys-lru")
				if warned != (policy == "allkeys-lru") {
					t.Errorf("%s on %s: warned %v; serve's log:\n%s", kind, policy, warned, log)
				}
			}
		})
	}
}
