package reliability

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/internal/faultproxy"
	"github.com/jobqueue-go/jobqueue/internal/redisq/redisqtest"
)

// rawClient is a plain go-redis client for the test's own commands (CLIENT
// KILL, DEBUG SLEEP…), closed when the test ends.
func rawClient(t *testing.T, url string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// startProxy puts a fault proxy in front of srv and returns it with the URL
// workers use to go through it.
func startProxy(t *testing.T, srv *redistest.Server) (*faultproxy.Proxy, string) {
	t.Helper()
	p, err := faultproxy.Start(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, "redis://" + p.Addr()
}

// TestClientKillLoop kills every client connection four times a second
// while jobs trickle in, so the workers' claims are mostly blocked in
// Redis when their connections die: the claims must be reissued and every
// job done.
func TestClientKillLoop(t *testing.T) {
	forEachAdapter(t, nil, func(t *testing.T, adapter string, srv *redistest.Server) {
		f := newFleet(t, srv.URL, childConfig{Adapter: adapter, URL: srv.URL, Work: 5 * time.Millisecond})
		raw := rawClient(t, srv.URL)
		f.spawn(2)
		ctx, stopProducing := context.WithCancel(t.Context())
		p := f.produce(ctx, "trickle", 300)
		var killed, blocked int64
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end); {
			time.Sleep(250 * time.Millisecond)
			list, err := raw.ClientList(t.Context()).Result()
			if err != nil {
				t.Fatal(err)
			}
			blocked += int64(strings.Count(list, "cmd=blpop"))
			n, err := raw.ClientKillByFilter(t.Context(), "TYPE", "normal").Result()
			if err != nil {
				t.Fatal(err)
			}
			killed += n
		}
		stopProducing()
		ids := p.stop()
		f.waitDrained(len(ids), f.aftermath())
		f.stop()
		o := f.check(ids, checkOptions{})
		if blocked == 0 {
			t.Error("no claim was blocked in BLPOP when the connections were killed; the scenario did not test what it claims")
		}
		report(t, Row{
			Scenario: "7 CLIENT KILL loop", Injected: fmt.Sprintf("CLIENT KILL TYPE normal every 250 ms for 5 s: %d connections, %d blocked in BLPOP", killed, blocked),
			Jobs: len(ids), Lost: o.lost, Duplicates: o.duplicates,
			Result: o.result(fmt.Sprintf("%d enqueue errors retried", p.errs)),
		})
	})
}

// TestProxyDropsReplies puts a proxy between the workers and Redis that,
// again and again, forwards a claim or a complete and then drops the
// connection before the reply gets back: a claim whose jobs never reach
// their worker must be reclaimed (or handed back by the repeated claim),
// and a complete sent again must change nothing.
func TestProxyDropsReplies(t *testing.T) {
	forEachAdapter(t, nil, func(t *testing.T, adapter string, srv *redistest.Server) {
		const jobs = 6_000
		proxy, url := startProxy(t, srv)
		f := newFleet(t, srv.URL, childConfig{Adapter: adapter, URL: url, Concurrency: 16, Work: 10 * time.Millisecond})
		ids := f.enqueue(jobs)
		f.spawn(2)
		claim, ack := redisqtest.CallPattern(t, "claim"), redisqtest.CallPattern(t, "ack")
		lost := map[string]int{}
		for i := 0; i < 40; i++ {
			name, call := "claim", claim
			if i%2 == 1 {
				name, call = "complete", ack
			}
			before := proxy.Lost()
			proxy.LoseReplyTo(call)
			for deadline := time.Now().Add(2 * time.Second); proxy.Armed() && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
			// Wait for the reply to be lost, not only for the request.
			for deadline := time.Now().Add(time.Second); proxy.Lost() == before && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
			lost[name] += proxy.Lost() - before
			if s, err := f.q.Stats(t.Context()); err != nil || s.Pending == 0 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		proxy.LoseReplyTo("\x00never") // disarm
		f.waitDrained(jobs, f.aftermath())
		f.stop()
		o := f.check(ids, checkOptions{})
		if lost["claim"] < 5 || lost["complete"] < 5 {
			t.Errorf("the proxy lost %d claim and %d complete replies; want at least 5 of each", lost["claim"], lost["complete"])
		}
		report(t, Row{
			Scenario: "8 dropped replies", Injected: fmt.Sprintf("proxy drops the connection after forwarding a claim (%d times) or a complete (%d times)", lost["claim"], lost["complete"]),
			Jobs: jobs, Lost: o.lost, Duplicates: o.duplicates, Result: o.result(),
		})
	})
}

// TestProxyLatency delays every reply by 200 ms to 1 s: with the
// lease above twice the heartbeat interval plus the latency, no lease
// may run out, so nothing is reclaimed and nothing runs twice.
func TestProxyLatency(t *testing.T) {
	forEachAdapter(t, nil, func(t *testing.T, adapter string, srv *redistest.Server) {
		const jobs = 128
		proxy, url := startProxy(t, srv)
		proxy.SetReplyLatency(200*time.Millisecond, time.Second)
		heartbeat, latency := time.Second, time.Second
		vis := 2*(heartbeat+latency) + time.Second
		f := newFleet(t, srv.URL, childConfig{Adapter: adapter, URL: url, Lease: vis, Heartbeat: heartbeat, Work: 2 * time.Second})
		ids := f.enqueue(jobs)
		f.spawn(2)
		f.waitDrained(jobs, time.Minute)
		f.stop()
		o := f.check(ids, checkOptions{})
		if o.reclaimed != 0 || o.duplicates != 0 {
			t.Errorf("%d reclaims and %d duplicate runs under latency; want none", o.reclaimed, o.duplicates)
		}
		report(t, Row{
			Scenario: "9 latency", Injected: fmt.Sprintf("proxy delays every reply 200 ms–1 s; lease %v, heartbeat %v, handlers 2 s", vis, heartbeat),
			Jobs: jobs, Lost: o.lost, Duplicates: o.duplicates, Result: o.result(),
		})
	})
}

// TestServerStalls freezes Redis twice in the middle of a drain, once with
// DEBUG SLEEP and once with CLIENT PAUSE, each shorter than a lease: no job
// may be lost or dead-lettered.
func TestServerStalls(t *testing.T) {
	forEachAdapter(t, []string{"--enable-debug-command", "yes"}, func(t *testing.T, adapter string, srv *redistest.Server) {
		const jobs = 6_000
		f := newFleet(t, srv.URL, childConfig{Adapter: adapter, URL: srv.URL, Concurrency: 16, Lease: 3 * time.Second, Work: 5 * time.Millisecond})
		raw := rawClient(t, srv.URL)
		ids := f.enqueue(jobs)
		f.spawn(2)
		time.Sleep(500 * time.Millisecond)
		if err := raw.Do(t.Context(), "DEBUG", "SLEEP", "1.5").Err(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		if err := raw.Do(t.Context(), "CLIENT", "PAUSE", "1500", "ALL").Err(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond)
		f.waitDrained(jobs, f.aftermath())
		f.stop()
		o := f.check(ids, checkOptions{})
		report(t, Row{
			Scenario: "10 server stalls", Injected: "DEBUG SLEEP 1.5 s, then CLIENT PAUSE 1.5 s ALL, mid-drain; lease 3 s",
			Jobs: jobs, Lost: o.lost, Duplicates: o.duplicates, Result: o.result(),
		})
	})
}
