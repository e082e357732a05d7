// config.go checks the warning about Redis's maxmemory-policy
// (backend.ConfigChecker) on real servers, alone and under a Worker.

package redisqtest

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
)

// checkConfig runs b's backend.ConfigChecker, failing the test on an
// error.
func checkConfig(t *testing.T, b backend.Backend) []string {
	t.Helper()
	cc, ok := b.(backend.ConfigChecker)
	require.True(t, ok, "%T does not implement backend.ConfigChecker", b)
	warnings, err := cc.CheckConfig(context.Background())
	require.NoError(t, err)
	return warnings
}

// adminClient returns a go-redis client on url for changing the server's
// settings, closed by t's cleanup.
func adminClient(t *testing.T, url string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(url)
	require.NoError(t, err)
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// withUser returns url with the ACL user name and password pw.
func withUser(t *testing.T, raw, name, pw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	u.User = url.UserPassword(name, pw)
	return u.String()
}

// ConfigCheck checks the maxmemory-policy warning of open's adapter on a
// private server started with allkeys-lru: one warning that names the
// policy and what it risks; none for noeviction; one about finished records
// and request records for a volatile policy. Then it takes CONFIG away from an
// ACL user, whose check must read INFO instead, and INFO too, whose check
// must say that the policy could not be read, with no error.
func ConfigCheck(t *testing.T, open Open) {
	srv := redistest.Start(t, redistest.WithArgs("--maxmemory-policy", "allkeys-lru"))
	admin := adminClient(t, srv.URL)
	ctx := context.Background()
	b, _ := open(t, srv.URL)

	warnings := checkConfig(t, b)
	if assert.Len(t, warnings, 1, "allkeys-lru") {
		assert.Contains(t, warnings[0], "maxmemory-policy allkeys-lru")
		assert.Contains(t, warnings[0], "pending and running jobs")
	}

	// The ACL users share the server's policy, whatever it is when they
	// check: set allkeys-lru back after the other policies.
	for _, policy := range []string{"noeviction", "volatile-ttl", "allkeys-lru"} {
		require.NoError(t, admin.ConfigSet(ctx, "maxmemory-policy", policy).Err())
		warnings := checkConfig(t, b)
		switch policy {
		case "noeviction":
			assert.Empty(t, warnings, policy)
		case "volatile-ttl":
			if assert.Len(t, warnings, 1, policy) {
				assert.Contains(t, warnings[0], "maxmemory-policy volatile-ttl")
				assert.Contains(t, warnings[0], "completed and dead-lettered jobs")
			}
		}
	}

	require.NoError(t, admin.Do(ctx, "ACL", "SETUSER", "noconfig", "on", ">pw", "~*", "&*", "+@all", "-config").Err())
	require.NoError(t, admin.Do(ctx, "ACL", "SETUSER", "noadmin", "on", ">pw", "~*", "&*", "+@all", "-config", "-info").Err())

	t.Run("CONFIG refused", func(t *testing.T) {
		b, _ := open(t, withUser(t, srv.URL, "noconfig", "pw"))
		warnings := checkConfig(t, b)
		if assert.Len(t, warnings, 1) {
			assert.Contains(t, warnings[0], "maxmemory-policy allkeys-lru", "read from INFO")
		}
	})
	t.Run("CONFIG and INFO refused", func(t *testing.T) {
		b, _ := open(t, withUser(t, srv.URL, "noadmin", "pw"))
		warnings := checkConfig(t, b)
		if assert.Len(t, warnings, 1) {
			assert.Contains(t, warnings[0], "could not read the maxmemory-policy")
			assert.Contains(t, warnings[0], "NOPERM")
		}
	})
}

// WorkerConfigWarning runs a Worker on a private server for each policy
// and checks its log: the warning, at WARN, for allkeys-lru, and no
// warning at all for noeviction; the worker does its job either way.
func WorkerConfigWarning(t *testing.T, open Open) {
	for _, policy := range []string{"allkeys-lru", "noeviction"} {
		t.Run(policy, func(t *testing.T) {
			srv := redistest.Start(t, redistest.WithArgs("--maxmemory-policy", policy))
			b, _ := open(t, srv.URL)
			q, err := jobqueue.New(b, QueueName(t))
			require.NoError(t, err)
			id, err := q.Enqueue(context.Background(), "x")
			require.NoError(t, err)
			logs := &syncBuffer{}
			w, err := q.NewWorker(func(context.Context, *jobqueue.Job) (any, error) { return nil, nil },
				jobqueue.WorkerOptions{Concurrency: 1, ClaimWait: 100 * time.Millisecond,
					Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			ran := make(chan error, 1)
			go func() { ran <- w.Run(ctx) }()
			require.Eventually(t, func() bool {
				info, err := q.Get(context.Background(), id)
				return err == nil && info.State == jobqueue.StateCompleted &&
					strings.Contains(logs.String(), "checked the backend's settings")
			}, 10*time.Second, 10*time.Millisecond, "the worker ran its job and checked the settings")
			cancel()
			require.NoError(t, <-ran)

			var warned []string
			for line := range strings.Lines(logs.String()) {
				if strings.Contains(line, "level=WARN") {
					warned = append(warned, line)
				}
			}
			if policy == "noeviction" {
				assert.Empty(t, warned)
				return
			}
			if assert.Len(t, warned, 1) {
				assert.Contains(t, warned[0], "maxmemory-policy allkeys-lru")
			}
		})
	}
}

// ClusterConfigCheck checks the warning on a Cluster whose nodes all have
// volatile-lru: one warning per master, each naming its node.
func ClusterConfigCheck(t *testing.T, open ClusterOpen) {
	c := redistest.StartCluster(t, redistest.WithArgs("--maxmemory-policy", "volatile-lru"))
	b := open(t, c)
	warnings := checkConfig(t, b)
	masters := c.Masters(t)
	require.Len(t, warnings, len(masters), "one warning per master: %q", warnings)
	for _, m := range masters {
		want := fmt.Sprintf("Redis node %s has maxmemory-policy volatile-lru", m)
		assert.True(t, slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, want) }),
			"no warning names master %s: %q", m, warnings)
	}
}
