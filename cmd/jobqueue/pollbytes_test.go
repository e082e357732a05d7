package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/internal/redisq/redisqtest"
)

// TestPollBytes polls GET /api/jobs, as the page does every 800 ms, on
// 60 pending jobs of 1 MiB payloads and on 60 of 100 B, on Redis of its
// own through each adapter: Redis sends the same commands' replies for
// both, well under redisqtest.PollBytes, since the lists read job summaries and
// never whole payloads; the kind still shows, and the recipient of the
// payloads that are previewed (backend.MaxPreviewedPayload). (Before
// summaries, the poll of 1 MiB payloads cost 50 MiB.)
func TestPollBytes(t *testing.T) {
	for _, kind := range []string{backendGoredis, backendRueidis} {
		t.Run(kind, func(t *testing.T) {
			srv := redistest.Start(t)
			ob, err := openBackend(context.Background(), kind, srv.URL, "", memoryBounds{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(ob.Close)
			cost := func(size int) redisqtest.Cost {
				t.Helper()
				q, err := jobqueue.New(ob.Backend, fmt.Sprintf("poll-%d", size), jobqueue.WithPayloadLimit(2<<20))
				if err != nil {
					t.Fatal(err)
				}
				// The recipient comes first and the padding last, as
				// the demo's own payloads keep their fields short.
				head := `{"kind":"email","recipient":"r@example.com","z":"`
				payload := json.RawMessage(head + strings.Repeat("x", size-len(head)-2) + `"}`)
				for range 6 {
					vs := make([]any, 10)
					for i := range vs {
						vs[i] = payload
					}
					if _, err := q.EnqueueBatch(context.Background(), vs, jobqueue.Kind("email")); err != nil {
						t.Fatal(err)
					}
				}
				ts := serveQueue(t, q, ob.desc)
				poll := func() map[string]any {
					t.Helper()
					code, body := ts.get("/api/jobs")
					if code != http.StatusOK {
						t.Fatalf("GET /api/jobs: %d %v", code, body)
					}
					return body
				}
				poll() // loads the function library once
				var body map[string]any
				c := redisqtest.Measure(t, ob.info, func() { body = poll() })
				pending := body["pending"].([]any)
				if len(pending) != defaultListCap {
					t.Fatalf("%d pending jobs listed, want %d", len(pending), defaultListCap)
				}
				// The kind is the job's; the recipient comes from the
				// preview, which a payload over MaxPreviewedPayload has not.
				want := "r@example.com"
				if size > backend.MaxPreviewedPayload {
					want = ""
				}
				for _, j := range pending {
					j := j.(map[string]any)
					if got, _ := j["recipient"].(string); j["kind"] != "email" || got != want {
						t.Fatalf("job %v: kind %v, recipient %v; want email, %q", j["id"], j["kind"], j["recipient"], want)
					}
				}
				t.Logf("GET /api/jobs on %d jobs of %d B: Redis sent %d bytes, ran %v in %v of its CPU",
					len(pending), size, c.OutputBytes, c.ByCommand, c.RedisCPU)
				return c
			}
			redisqtest.RequirePreviewsOnly(t, cost(100), cost(backend.MaxPreviewedPayload), defaultListCap, listPreviewBytes)
			redisqtest.RequirePreviewsOnly(t, cost(100), cost(1<<20), defaultListCap, listPreviewBytes)
		})
	}
}
