package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	goredislib "github.com/redis/go-redis/v9"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/internal/load"
	"github.com/jobqueue-go/jobqueue/internal/redisq/redisqtest"
)

// fillDead makes n dead jobs in q with payload, the fastest way the
// library offers: batches enqueued with one attempt each, claimed in one
// call and failed in one call on the backend. It returns their ids in
// the dead list's order, most recent first.
func fillDead(t *testing.T, q *jobqueue.Queue, n int, payload func(i int) any) []string {
	t.Helper()
	ctx := context.Background()
	b := q.Backend()
	keep := backend.Retention{Max: n, TTL: 24 * time.Hour}
	const batch = 5000
	failed := make([]string, 0, n)
	for done := 0; done < n; done += batch {
		vs := make([]any, min(batch, n-done))
		for i := range vs {
			vs[i] = payload(done + i)
		}
		if _, err := q.EnqueueBatch(ctx, vs, jobqueue.MaxAttempts(1), jobqueue.Kind("email")); err != nil {
			t.Fatal(err)
		}
		claimed, err := b.Claim(ctx, backend.ClaimParams{Queue: q.Name(), Max: len(vs), Lease: time.Hour, DeadRetention: keep})
		if err != nil || len(claimed) != len(vs) {
			t.Fatalf("claim %d jobs: %d, %v", len(vs), len(claimed), err)
		}
		items := make([]backend.Failure, len(claimed))
		for i, c := range claimed {
			items[i] = backend.Failure{Ack: backend.Ack{ID: c.ID, Token: c.Token}, Error: "smtp: 550 mailbox unavailable", Dead: true}
			failed = append(failed, c.ID)
		}
		errs, err := b.Fail(ctx, backend.FailParams{Queue: q.Name(), Items: items, Retention: keep})
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range errs {
			if e != nil {
				t.Fatalf("fail %s: %v", items[i].ID, e)
			}
		}
	}
	slices.Reverse(failed)
	return failed
}

// costProxy stands between the browser and "jobqueue dashboard". While
// it measures, it answers one API request at a time and reads Redis's
// INFO commandstats before and after it, so the commands counted are
// that request's alone; then it sends the same request for the twin
// queue (the same parameters, another queue) and counts that too. The
// twin is measured a few milliseconds later, on the same clock minute,
// so a read of history, whose commands depend on the hours the minutes
// read span, costs the same on both queues.
type costProxy struct {
	t          *testing.T
	base       string // the dashboard command
	rdb        *goredislib.Client
	proxy      *httputil.ReverseProxy
	queue      string // the queue the page shows
	twin       string
	measuring  atomic.Bool
	mu         sync.Mutex
	calls      []measuredCall
	twinFailed atomic.Value // string: why a twin request failed
}

// measuredCall is one API request the dashboard answered, and what it
// and its twin cost Redis.
type measuredCall struct {
	path       string
	query      string
	cost, twin int64
}

func newCostProxy(t *testing.T, base, redisURL, queue, twin string) *costProxy {
	t.Helper()
	opt, err := goredislib.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	target, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	p := &costProxy{t: t, base: base, rdb: goredislib.NewClient(opt), queue: queue, twin: twin}
	t.Cleanup(func() { p.rdb.Close() })
	p.proxy = &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) }}
	// The INFO client's own handshake is counted now, not in a request.
	p.commands()
	return p
}

// commands returns how many commands Redis has run, those that scripts
// ran included, INFO left out.
func (p *costProxy) commands() int64 {
	calls, err := redisqtest.Commandstats(context.Background(), load.GoRedisInfo(p.rdb))
	if err != nil {
		p.t.Errorf("INFO commandstats: %v", err)
		return 0
	}
	delete(calls, "info")
	return redisqtest.Commands(calls)
}

func (p *costProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !p.measuring.Load() || !strings.HasPrefix(r.URL.Path, "/api/") {
		p.proxy.ServeHTTP(w, r)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	before := p.commands()
	// ServeHTTP returns once the reply is copied: the handler is done.
	p.proxy.ServeHTTP(w, r)
	after := p.commands()
	c := measuredCall{path: r.URL.Path, query: r.URL.RawQuery, cost: after - before}
	if q := r.URL.Query(); q.Get("queue") == p.queue {
		q.Set("queue", p.twin)
		res, err := http.Get(p.base + r.URL.Path + "?" + q.Encode())
		if err == nil {
			_, err = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if err == nil && res.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %d", res.StatusCode)
			}
		}
		if err != nil {
			p.twinFailed.Store(fmt.Sprintf("%s?%s: %v", r.URL.Path, q.Encode(), err))
		}
		c.twin = p.commands() - after
	}
	p.calls = append(p.calls, c)
}

// measured returns the calls measured so far.
func (p *costProxy) measured() []measuredCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.calls)
}

// polls counts the page's polls among calls: each reads api/queue once.
func polls(calls []measuredCall) int {
	n := 0
	for _, c := range calls {
		if c.path == "/api/queue" {
			n++
		}
	}
	return n
}

// TestBrowserDashboardDeepQueue is the dashboard's acceptance test: the
// "jobqueue dashboard" command on a Redis of its own, with 100,000 dead
// jobs in one queue. In Chromium, the page counts them, pages through the
// dead list by its cursor, and finds a job deep in it by the first 8
// characters of its id, 31 windows of 1,000 ids on. Then, while the page
// polls the dead list, every API request it makes costs Redis the
// commands the same request costs on a queue of 60 dead jobs with
// payloads of 16 KiB (the largest a list previews), give or take the one hash a history read touches
// when its window spans one hour more (INFO commandstats, scripts'
// commands included):
// what a poll costs does not grow with the depth or the payloads, and
// the commands a second are at most the polls a second times what the
// dearest poll costs on the small queue.
func TestBrowserDashboardDeepQueue(t *testing.T) {
	ctx := newBrowser(t)
	srv := redistest.Start(t)
	ob, err := openBackend(context.Background(), backendGoredis, srv.URL, "", memoryBounds{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ob.Close)
	const depth = 100_000
	deep, err := jobqueue.New(ob.Backend, "deep")
	if err != nil {
		t.Fatal(err)
	}
	small, err := jobqueue.New(ob.Backend, "small")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	dead := fillDead(t, deep, depth, func(i int) any { return map[string]any{"to": fmt.Sprintf("user%d@example.com", i)} })
	// The largest payloads a list previews (backend.MaxPreviewedPayload):
	// past it a summary reads no payload at all, and costs less.
	big := strings.Repeat("x", backend.MaxPreviewedPayload-100)
	fillDead(t, small, 60, func(i int) any { return map[string]any{"n": i, "blob": big} })
	t.Logf("%d dead jobs loaded in %v", depth, time.Since(start).Round(time.Millisecond))

	s := startCommand(t, envOf(map[string]string{"REDIS_URL": srv.URL}), "dashboard", "-queue", "deep", "-queue", "small")
	p := newCostProxy(t, s.base, srv.URL, "deep", "small")
	proxy := httptest.NewServer(p)
	t.Cleanup(proxy.Close)
	site := proxy.URL

	ids := `JSON.stringify([...document.querySelectorAll("#jobs-body tr.job")].map(r => r.dataset.id))`
	pageIDs := func() []string {
		t.Helper()
		raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](ids))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		if err := json.Unmarshal([]byte(raw), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	text := func(sel string) string {
		return fmt.Sprintf(`(document.querySelector(%q)?.textContent ?? "")`, sel)
	}

	step(t, ctx, "open the dead list of the deep queue: 100,000",
		chromedp.Navigate(site+"/#q=deep&s=dead"),
		until(text("#d-dead")+` === "100,000" && `+text(`#tabs [data-state="dead"]`)+` === "Dead 100,000"`),
		until(text("#page-info")+` === "dead jobs 1–25 of 100,000"`),
	)
	seen := map[string]bool{}
	for page := range 5 {
		if page > 0 {
			step(t, ctx, fmt.Sprintf("go to page %d by the cursor", page+1),
				chromedp.Click(chromedp.CSS("#next-btn")),
				until(fmt.Sprintf(`%s === "dead jobs %s–%s of 100,000"`, text("#page-info"), thousands(int64(page*25+1)), thousands(int64(page*25+25)))),
			)
		}
		got := pageIDs()
		if want := dead[page*25 : page*25+25]; !slices.Equal(got, want) {
			t.Fatalf("page %d: %v\nwant the dead list's jobs %d to %d, most recent first: %v", page+1, got, page*25+1, page*25+25, want)
		}
		for _, id := range got {
			if seen[id] {
				t.Fatalf("page %d repeats job %s", page+1, id)
			}
			seen[id] = true
		}
	}

	// The search looks through 1,000 ids at a time: the job 31,416th in
	// the list is in the 32nd window.
	target := dead[31_415]
	prefix := target[:8]
	step(t, ctx, "search the first 8 characters of the id of the job 31,416th in the dead list",
		chromedp.SetValue(chromedp.CSS("#search"), prefix),
		chromedp.Click(chromedp.CSS(`#search-form button[type="submit"]`)),
	)
	for w := 0; ; w++ {
		info := fmt.Sprintf("Searched dead ids %s–%s of 100,000: ", thousands(int64(w*1000+1)), thousands(int64(w*1000+1000)))
		if w == 31 {
			step(t, ctx, "find it in the window of ids 31,001–32,000",
				until(fmt.Sprintf(`%s === %q`, text("#page-info"), info+"1 start with “"+prefix+"”")),
				until(count(fmt.Sprintf(`#jobs-body tr.job[data-id=%q]`, target))+` === 1 && `+count("#jobs-body tr.job")+` === 1`),
			)
			break
		}
		step(t, ctx, fmt.Sprintf("search the next 1,000 ids after window %d", w+1),
			until(fmt.Sprintf(`%s === %q && %s === 0`, text("#page-info"), info+"0 start with “"+prefix+"”", count("#jobs-body tr.job"))),
			chromedp.Click(chromedp.CSS("#next-btn")),
		)
	}
	step(t, ctx, "open the job found",
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`#jobs-body tr.job[data-id=%q] td.id`, target))),
		until(fmt.Sprintf(`%s === %q && %s === "dead"`, text("#drawer-title"), target, text("#drawer-kind .state-tag"))),
		until(text("#drawer-body")+`.includes("smtp: 550 mailbox unavailable") && `+text("#drawer-body")+`.includes("user68584@example.com")`),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#drawer-close").click()`),
		chromedp.Click(chromedp.CSS("#clear-btn")),
		until(text("#page-info")+` === "dead jobs 1–25 of 100,000"`),
		chromedp.Click(chromedp.CSS(`#tabs [data-state="pending"]`)),
		until(text("#page-info")+` === ""`),
	)

	// The page sits on the dead list: its first poll reads the counts,
	// the list, the hour and the schedules; the day is switched on; and
	// eight polls go by, the list read again at the fifth.
	p.measuring.Store(true)
	began := time.Now()
	step(t, ctx, "go to the dead list and show the day",
		chromedp.Click(chromedp.CSS(`#tabs [data-state="dead"]`)),
		until(text("#page-info")+` === "dead jobs 1–25 of 100,000"`),
		chromedp.Click(chromedp.CSS(`#history-range [data-range="day"]`)),
		until(`document.querySelector("#day-chart").dataset.points === "144"`),
	)
	waitFor(t, "8 polls", 30*time.Second, func() bool { return polls(p.measured()) >= 8 })
	p.measuring.Store(false)
	p.mu.Lock() // the last request measured is done
	elapsed := time.Since(began)
	calls := slices.Clone(p.calls)
	p.mu.Unlock()
	if why, _ := p.twinFailed.Load().(string); why != "" {
		t.Fatalf("a request for the small queue failed: %s", why)
	}

	// Each request costs the same on both queues, but for the clock: a
	// history read (api/history, and api/queue's rates) reads one hash per
	// hour its window touches, and the twin request, which runs just
	// after, may find the window over one hour more or less. A cost that
	// grew with the depth would be off by far more than one. The dearest
	// poll is one of every request, each at its dearest.
	dearest := map[string]int64{}
	var total int64
	for _, c := range calls {
		if c.cost > c.twin+1 || c.cost < c.twin-1 {
			t.Errorf("%s?%s: %d commands on %d dead jobs, %d on 60 of 16 KiB", c.path, c.query, c.cost, depth, c.twin)
		}
		total += c.cost
		dearest[c.path] = max(dearest[c.path], c.cost, c.twin)
	}
	for _, path := range []string{"/api/queue", "/api/jobs", "/api/history", "/api/schedules"} {
		if _, ok := dearest[path]; !ok {
			t.Fatalf("no %s request measured among %d: %v", path, len(calls), calls)
		}
	}
	var bound int64
	for _, n := range dearest {
		bound += n
	}
	n := polls(calls)
	t.Logf("%d polls, %d API requests in %v: %d commands, %.1f a second; at most %d a poll on the small queue (%v)",
		n, len(calls), elapsed.Round(time.Millisecond), total, float64(total)/elapsed.Seconds(), bound, dearest)
	if total > int64(n)*bound {
		t.Fatalf("%d commands in %d polls on %d dead jobs: more than %d a poll, the dearest poll on 60", total, n, depth, bound)
	}
}
