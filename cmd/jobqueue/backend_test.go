package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
)

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"redis://127.0.0.1:6379/":            "redis://127.0.0.1:6379/",
		"redis://:s3cret@host:6379/2":        "redis://:xxxxx@host:6379/2",
		"rediss://user:s3cret@host:6380":     "rediss://user:xxxxx@host:6380",
		"redis://user@host":                  "redis://user@host",
		"redis://us er:s3cret@ho st:1/%zz":   "(REDIS_URL that does not parse as a URL)",
		"rediss://default:p%40ss@cache:6380": "rediss://default:xxxxx@cache:6380",
	} {
		if got := redactURL(in); got != want || strings.Contains(got, "s3cret") {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
	err := errors.New(`dial redis://u:s3cret@h:1/: refused (password s3cret)`)
	if got := scrub(err, "redis://u:s3cret@h:1/"); strings.Contains(got, "s3cret") {
		t.Errorf("scrub left the password: %q", got)
	}
	if got := scrub(errors.New("bad url redis://u:p w@h"), "redis://u:p w@h"); strings.Contains(got, "p w") {
		t.Errorf("scrub of an unparsable URL left the password: %q", got)
	}
}

func TestOpenBackendRefusesUnknownKind(t *testing.T) {
	if _, err := openBackend(context.Background(), "postgres", "", "", memoryBounds{}); err == nil || !strings.Contains(err.Error(), "unknown backend") {
		t.Errorf("openBackend(postgres): %v", err)
	}
}

func TestExplicitRedisBackendFailsWithoutRedis(t *testing.T) {
	const dead = "redis://:hunter2@127.0.0.1:1/"
	for _, kind := range []string{backendGoredis, backendRueidis} {
		start := time.Now()
		_, err := openBackend(context.Background(), kind, dead, "", memoryBounds{})
		if err == nil {
			t.Fatalf("%s on a dead URL: no error", kind)
		}
		if msg := err.Error(); strings.Contains(msg, "hunter2") || !strings.Contains(msg, "redis://:xxxxx@127.0.0.1:1/") {
			t.Errorf("%s: %q", kind, msg)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s took %v to give up", kind, d)
		}
	}
	ob, err := openBackend(context.Background(), backendAuto, dead, "", memoryBounds{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	if ob.kind != backendMemory || strings.Contains(ob.note, "hunter2") || !strings.Contains(ob.note, "did not answer") {
		t.Errorf("auto without Redis: kind %s, note %q", ob.kind, ob.note)
	}
}

// TestBadRedisURLIsAnErrorAndHidesThePassword checks that a REDIS_URL that
// does not parse stops every Redis backend, auto included (a typo must not
// silently switch to memory), a port out of range included, and that no message quotes its password,
// even in the escaped forms URL parsers print.
func TestBadRedisURLIsAnErrorAndHidesThePassword(t *testing.T) {
	for _, raw := range []string{`redis://u:pa\ss-hunter2@127.0.0.1:1/`, "redis://u:hunter2\t@127.0.0.1:1/", "redis://:hunter2@127.0.0.1:notaport/", "redis://:hunter2@127.0.0.1:1/notadb",
		"redis://u:hunter2@127.0.0.1:99999/", "redis://u:hunter2@127.0.0.1:0/"} {
		for _, kind := range []string{backendAuto, backendGoredis, backendRueidis} {
			ob, err := openBackend(context.Background(), kind, raw, "", memoryBounds{})
			if err == nil {
				ob.Close()
				t.Errorf("%s on %q: no error (kind %s)", kind, raw, ob.kind)
				continue
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("%s: the password leaks: %q", kind, err)
			}
		}
	}
}

// TestInspectionNeedsRedis checks that with auto and no Redis answering,
// the inspection commands fail rather than report on, or enqueue into, a
// throw-away in-memory queue.
func TestInspectionNeedsRedis(t *testing.T) {
	c := &cli{t: t, getenv: func(k string) string {
		if k == "REDIS_URL" {
			return "redis://:hunter2@127.0.0.1:1/"
		}
		return ""
	}}
	for _, args := range [][]string{{"stats"}, {"enqueue", `{"a":1}`}, {"purge", "--yes"}} {
		r := c.run("", args...)
		if r.code != exitError || !strings.Contains(r.stderr, "needs the Redis") || strings.Contains(r.stderr, "hunter2") {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	if r := c.run("", "stats", "-backend", "memory"); r.code != exitOK {
		t.Errorf("stats -backend memory: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestAutoFailsWhenRedisRefusesCredentials checks that auto falls back to
// memory only when nothing answers: a server that refuses the password is
// a mistake to report, not a reason to run without Redis.
func TestAutoFailsWhenRedisRefusesCredentials(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
					if _, err := c.Write([]byte("-WRONGPASS invalid username-password pair or user is disabled.\r\n")); err != nil {
						return
					}
				}
			}()
		}
	}()
	_, err = openBackend(context.Background(), backendAuto, "redis://app:hunter2@"+ln.Addr().String()+"/", "", memoryBounds{})
	if err == nil {
		t.Fatal("auto fell back to memory on a server that refused the password")
	}
	if msg := err.Error(); !strings.Contains(msg, "WRONGPASS") || strings.Contains(msg, "hunter2") {
		t.Errorf("error: %q", msg)
	}
}

// TestOnRedis runs the dashboard API and the inspection subcommands on
// each Redis adapter, through the same selection code "jobqueue serve"
// uses.
func TestOnRedis(t *testing.T) {
	srv := redistest.Shared(t)
	for _, kind := range []string{backendAuto, backendGoredis, backendRueidis} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			ob, err := openBackend(ctx, kind, srv.URL, "", memoryBounds{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(ob.Close)
			wantKind := kind
			if kind == backendAuto {
				wantKind = backendGoredis
			}
			if ob.kind != wantKind || !strings.HasPrefix(ob.desc, "Redis at ") || ob.note != "" {
				t.Fatalf("opened %s: kind %s, desc %q, note %q", kind, ob.kind, ob.desc, ob.note)
			}
			name := fmt.Sprintf("cmd-%s-%d", kind, time.Now().UnixNano())
			q, err := jobqueue.New(ob, name, jobqueue.WithLease(200*time.Millisecond), jobqueue.WithBackoff(jobqueue.ConstantBackoff(20*time.Millisecond)))
			if err != nil {
				t.Fatal(err)
			}
			ts := serveQueue(t, q, ob.desc)

			ts.post("/workers/start", url.Values{"size": {"3"}, "work_latency_ms": {"10"}, "hang_rate": {"1"}})
			_, body := ts.post("/enqueue", url.Values{"count": {"2"}, "kind": {"email"}})
			if len(strs(body["enqueued"])) != 2 {
				t.Fatalf("enqueue: %v", body)
			}
			waitFor(t, "2 hung jobs", 5*time.Second, func() bool { return num(ts.stats()["hung_total"]) == 2 })
			ts.post("/workers/configure", url.Values{"hang_rate": {"0"}, "fail_rate": {"1"}})
			time.Sleep(250 * time.Millisecond)
			_, body = ts.post("/reclaim", nil)
			if len(strs(body["requeued"])) != 2 {
				t.Fatalf("reclaim: %v", body)
			}
			waitFor(t, "2 dead letters", 10*time.Second, func() bool { return num(ts.stats()["failed_total"]) == 2 })
			ts.post("/workers/stop", nil)

			// The subcommands open the queue afresh from REDIS_URL, as a
			// separate process would, and see what the server did.
			c := &cli{t: t, getenv: func(k string) string {
				if k == "REDIS_URL" {
					return srv.URL
				}
				return ""
			}}
			flags := []string{"-backend", kind, "-queue", name}
			var st queueStats
			if err := json.Unmarshal([]byte(c.ok("", append([]string{"stats", "--json"}, flags...)...)), &st); err != nil ||
				st.DeadDepth != 2 || st.DeadTotal != 2 || st.ReclaimedTotal != 2 || st.EnqueuedTotal != 2 {
				t.Fatalf("stats --json: %+v %v", st, err)
			}
			out := c.ok("", append([]string{"list", "dead"}, flags...)...)
			if !strings.Contains(out, "simulated email") || !strings.Contains(out, "2 of 2 dead jobs") {
				t.Errorf("list dead:\n%s", out)
			}
			c.ok("", append([]string{"retry", "--all-dead"}, flags...)...)
			id := strings.TrimSpace(c.ok("", append([]string{"enqueue", `{"kind":"email","recipient":"x@example.com"}`}, flags...)...))
			if out := c.ok("", append([]string{"show", id}, flags...)...); !strings.Contains(out, "x@example.com") {
				t.Errorf("show:\n%s", out)
			}
			c.ok("", append([]string{"delete", id}, flags...)...)
			c.ok("", append([]string{"purge", "--yes"}, flags...)...)
			if err := json.Unmarshal([]byte(c.ok("", append([]string{"stats", "--json"}, flags...)...)), &st); err != nil || st.PendingDepth+st.DeadDepth+st.EnqueuedTotal != 0 {
				t.Errorf("after purge: %+v %v", st, err)
			}
		})
	}
}
