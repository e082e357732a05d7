package redisqtest

import (
	"context"
	"fmt"
	"net/url"
	"strings"
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
	"Cancel":    "cancel",
	"Pause":     "control",
	"Resume":    "control",
	"SetLimits": "control",
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
		LoadLibrary(t, srv.URL)
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
			p.LoseReplyTo(CallPattern(t, name))
		}
		return conformance.ReplyLoser{Backend: b, Lose: lose, Lost: p.Lost}
	}
}

// CallPattern returns what names a call of script's function in a request,
// the function's name as a RESP bulk string, for a faultproxy.Proxy's
// LoseReplyTo.
func CallPattern(tb testing.TB, script string) string {
	f := redisq.FunctionLibrary().Function(script)
	if f == nil {
		tb.Fatalf("redisqtest: no script %q", script)
	}
	return fmt.Sprintf("$%d\r\n%s\r\n", len(f.Name), f.Name)
}

// LoadLibrary loads the function library into the server at serverURL, so
// that the first call there runs its function: the reply a proxy loses is
// then that of a call that ran, not Redis's "Function not found".
func LoadLibrary(tb testing.TB, serverURL string) {
	opt, err := redis.ParseURL(serverURL)
	if err != nil {
		tb.Fatal(err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	lib := redisq.FunctionLibrary()
	err = c.FunctionLoad(context.Background(), lib.Src).Err()
	if err != nil && !strings.Contains(err.Error(), "already exists") {
		tb.Fatalf("redisqtest: FUNCTION LOAD %s: %v", lib.Name, err)
	}
}
