package redisqtest

import (
	"context"
	"net/url"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/jobqueue-go/jobqueue/conformance"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/internal/faultproxy"
	"github.com/jobqueue-go/jobqueue/internal/redisq"
)

// methodScripts names the script each mutating Backend method runs.
var methodScripts = map[string]string{
	"Enqueue":   "enqueue",
	"Claim":     "claim",
	"Complete":  "ack",
	"Fail":      "ack",
	"Release":   "ack",
	"Extend":    "extend",
	"Reclaim":   "reclaim",
	"RetryDead": "retry_dead",
	"Delete":    "delete",
	"Purge":     "purge",
}

// LoseReplies returns a conformance.Harness.LoseReplies for the adapter
// that open connects: a backend on the shared server through a fault proxy
// of its own, which loses the reply to the next call of a Backend method
// when asked. query is added to the URL open gets (for go-redis,
// "max_retries=-1" keeps the client from sending the call again by itself,
// so the repeat is the caller's).
func LoseReplies(open Open, query string) func(t *testing.T) conformance.ReplyLoser {
	return func(t *testing.T) conformance.ReplyLoser {
		srv := redistest.Shared(t)
		preload(t, srv.URL)
		p, err := faultproxy.Start(srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		u, err := url.Parse(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		u.Host, u.RawQuery = p.Addr(), query
		b, _ := open(t, u.String())
		lose := func(method string) {
			name, ok := methodScripts[method]
			if !ok {
				t.Fatalf("redisqtest: no script for method %q", method)
			}
			for _, s := range redisq.Scripts() {
				if s.Name == name {
					p.LoseReplyTo(s.SHA)
					return
				}
			}
			t.Fatalf("redisqtest: no script %q", name)
		}
		return conformance.ReplyLoser{Backend: b, Lose: lose, Lost: p.Lost}
	}
}

// preload loads every script into the server, so that a call goes out as
// EVALSHA and the reply the proxy loses is that of a script that ran, not
// a NOSCRIPT.
func preload(t *testing.T, serverURL string) {
	opt, err := redis.ParseURL(serverURL)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	for _, s := range redisq.Scripts() {
		if err := c.ScriptLoad(context.Background(), s.Src).Err(); err != nil {
			t.Fatalf("load script %s: %v", s.Name, err)
		}
	}
}
