package main

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/internal/browsertest"
	"github.com/jobqueue-go/jobqueue/jqcron"
)

// The shared browser helpers, under the names these tests use.
var (
	newBrowser     = browsertest.New
	step           = browsertest.Step
	until          = browsertest.Until
	count          = browsertest.Count
	saveScreenshot = browsertest.SaveScreenshot
)

// setKnob moves a range input as a user would, firing its input event.
func setKnob(sel, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
		`(() => { const el = document.querySelector(%q); el.value = %q; el.dispatchEvent(new Event("input", {bubbles: true})); })()`, sel, value))
}

func TestBrowserDashboard(t *testing.T) {
	ctx := newBrowser(t)
	ts := newTestServer(t, 300*time.Millisecond)

	step(t, ctx, "load the page",
		chromedp.Navigate(ts.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#enqueue-btn")),
		until(`document.querySelector("#backend-name").textContent.includes("memory")`),
	)

	step(t, ctx, "enqueue a batch of 7 invoices",
		chromedp.Click(chromedp.CSS(`label[for="kind-invoice"]`)),
		chromedp.SetValue(chromedp.CSS("#count"), "7"),
		chromedp.Click(chromedp.CSS("#enqueue-btn")),
		until(count("#col-pending .job")+` === 7`),
	)
	step(t, ctx, "enqueue an email at priority 3 and see it first in pending",
		chromedp.Click(chromedp.CSS(`label[for="kind-email"]`)),
		chromedp.SetValue(chromedp.CSS("#priority"), "3"),
		chromedp.SetValue(chromedp.CSS("#count"), "1"),
		chromedp.Click(chromedp.CSS("#enqueue-btn")),
		until(count("#col-pending .job")+` === 8`),
		until(`document.querySelector("#stat-pending_depth").textContent === "8"`),
		until(`(() => { const c = document.querySelector("#col-pending .job"); return c.querySelector(".kind").textContent === "email" && c.querySelector(".pill.prio").textContent === "P3"; })()`),
		chromedp.SetValue(chromedp.CSS("#priority"), "0"),
	)
	if st := ts.stats(); num(st["pending_depth"]) != 8 || num(st["enqueued_total"]) != 8 {
		t.Fatalf("after enqueue: stats %v", st)
	}

	step(t, ctx, "start 4 fast workers and see the jobs complete",
		setKnob("#latency", "50"),
		chromedp.SetValue(chromedp.CSS("#pool-size"), "4"),
		chromedp.Click(chromedp.CSS("#start-btn")),
		until(`document.querySelector("#pool-state").textContent === "4 running"`),
		until(count("#col-completed .job")+` === 8`),
		until(`document.querySelector("#stat-completed_total").textContent === "8"`),
	)
	waitFor(t, "the latency knob to reach the server", 5*time.Second, func() bool { return num(ts.stats()["work_latency_ms"]) == 50 })

	step(t, ctx, "set the hang rate to 100%", setKnob("#hang-rate", "1"))
	waitFor(t, "the hang rate to reach the server", 5*time.Second, func() bool { return ts.stats()["hang_rate"] == 1.0 })

	var hung []string
	step(t, ctx, "enqueue 4 emails and see the workers hang on them",
		chromedp.Click(chromedp.CSS(`label[for="kind-email"]`)),
		chromedp.SetValue(chromedp.CSS("#count"), "4"),
		chromedp.Click(chromedp.CSS("#enqueue-btn")),
		until(count("#col-processing .job.hung")+` === 4`),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			ids, err := chromedp.Evaluate[[]string](`[...document.querySelectorAll("#col-processing .job.hung")].map(e => e.dataset.id)`)(ctx, tg)
			hung = ids
			return err
		}),
	)

	step(t, ctx, "heal the workers, and wait for the hung leases to expire",
		setKnob("#hang-rate", "0"),
		until(count("#col-processing .job.expired")+` === 4`),
	)
	waitFor(t, "the hang rate to reach the server", 5*time.Second, func() bool { return ts.stats()["hang_rate"] == 0.0 })
	if st := ts.stats(); num(st["processing_depth"]) != 4 || num(st["completed_total"]) != 8 {
		t.Fatalf("hung jobs should wait in processing: stats %v", st)
	}

	allBack := `[` + quoteAll(hung) + `].every(id => document.querySelector('#col-completed .job[data-id="' + id + '"]'))`
	step(t, ctx, "run a reclaim sweep and see the hung jobs come back and complete",
		chromedp.Click(chromedp.CSS("#reclaim-btn")),
		until(`document.querySelector("#last-sweep").textContent.includes("Reclaimed 4 jobs: 4 back to pending")`),
		until(allBack),
		until(count("#col-processing .job")+` === 0`),
	)
	st := ts.stats()
	if num(st["reclaimed_total"]) != 4 || num(st["completed_total"]) != 12 || num(st["hung_total"]) != 4 {
		t.Fatalf("after the sweep: stats %v", st)
	}

	step(t, ctx, "set the fail rate to 100%", setKnob("#fail-rate", "1"))
	waitFor(t, "the fail rate to reach the server", 5*time.Second, func() bool { return ts.stats()["fail_rate"] == 1.0 })
	var dead string
	step(t, ctx, "enqueue a webhook and see it dead-lettered",
		chromedp.Click(chromedp.CSS(`label[for="kind-webhook"]`)),
		chromedp.SetValue(chromedp.CSS("#count"), "1"),
		chromedp.Click(chromedp.CSS("#enqueue-btn")),
		until(count("#col-dead .job")+` === 1`),
		until(`document.querySelector("#stat-dead_depth").textContent === "1" && document.querySelector("#stat-dead_total").textContent === "1"`),
		until(`document.querySelector("#count-dead").textContent === "1"`),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			id, err := chromedp.Evaluate[string](`document.querySelector("#col-dead .job").dataset.id`)(ctx, tg)
			dead = id
			return err
		}),
	)
	if st := ts.stats(); num(st["failed_depth"]) != 1 || num(st["failed_total"]) != 1 {
		t.Fatalf("after the dead letter: stats %v", st)
	}

	// The webhook failed 3 times: 2 retries, then dead. The chart reads
	// the store's per-minute history, so a reload shows it again.
	chart := `(() => { const c = document.querySelector("#history-chart"); return c.dataset.completed === "12" && c.dataset.failed === "3" && c.dataset.minutes === "60"; })()`
	bars := func(cls string) string {
		return fmt.Sprintf(`[...document.querySelectorAll("#history-chart rect.%s")].reduce((n, r) => n + Number(r.dataset.n), 0)`, cls)
	}
	step(t, ctx, "see the last hour's chart count the completions and failures",
		until(chart),
		until(bars("bar-completed")+` === 12 && `+bars("bar-failed")+` === 3`),
		until(count("#history-chart rect.bar-completed")+` >= 1 && `+count(`#history-chart rect[data-n="0"]`)+` === 0`),
	)
	step(t, ctx, "reload the page and see the same chart",
		chromedp.Navigate(ts.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#enqueue-btn")),
		until(chart),
		until(bars("bar-completed")+` === 12 && `+bars("bar-failed")+` === 3`),
	)

	saveScreenshot(t, ctx, "dashboard.png", chromedp.FullScreenshot(100))

	step(t, ctx, "heal the workers", setKnob("#fail-rate", "0"))
	waitFor(t, "the fail rate to reach the server", 5*time.Second, func() bool { return ts.stats()["fail_rate"] == 0.0 })
	step(t, ctx, "retry the dead job from its details and see it complete",
		chromedp.Click(chromedp.CSS("#col-dead .job")),
		until(`document.querySelector("#drawer-kind .state-tag")?.textContent === "dead" && !document.querySelector("#retry-btn").hidden`),
		// A click by script: the drawer may still be sliding in.
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#retry-btn").click()`),
		until(count("#col-dead .job")+` === 0`),
		until(fmt.Sprintf(`document.querySelector('#col-completed .job[data-id=%q]') !== null`, dead)),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#drawer-close").click()`),
		chromedp.Sleep(300*time.Millisecond), // the drawer's slide-out
	)

	step(t, ctx, "open a job's details",
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`#col-completed .job[data-id=%q]`, hung[0]))),
		until(`document.querySelector("#drawer").classList.contains("open") && document.querySelector("#drawer-body pre.json") !== null`),
		until(`document.querySelector("#drawer-body").textContent.includes("message_id")`),
		chromedp.Sleep(300*time.Millisecond), // the drawer's slide-in
	)
	saveScreenshot(t, ctx, "dashboard-detail.png", chromedp.CaptureScreenshot())

	step(t, ctx, "fit a phone's width without sideways scrolling",
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#drawer-close").click()`),
		chromedp.EmulateViewport(390, 1400),
		until(`document.documentElement.scrollWidth <= window.innerWidth`),
		chromedp.Sleep(300*time.Millisecond), // the drawer's slide-out
	)
	saveScreenshot(t, ctx, "dashboard-phone.png", chromedp.CaptureScreenshot())
}

func quoteAll(ids []string) string {
	s := ""
	for i, id := range ids {
		if i > 0 {
			s += ","
		}
		s += strconv.Quote(id)
	}
	return s
}

// TestBrowserSchedules runs the demo's Scheduler with a schedule that
// ticks every second and one that has yet to tick, and checks that the
// page's Schedules panel lists both from the store, with a next tick, and
// the last run of the first once it ticked; the ticks' jobs show on the
// board.
func TestBrowserSchedules(t *testing.T) {
	ctx := newBrowser(t)
	ts := newTestServer(t, time.Second)

	step(t, ctx, "load the page and see no schedule",
		chromedp.Navigate(ts.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#enqueue-btn")),
		until(`document.querySelector("#schedules").dataset.count === "0"`),
		chromedp.WaitVisible(chromedp.CSS("#schedules-empty")),
	)

	if err := ts.srv.runSchedules([]demoSchedule{
		{name: "heartbeat", spec: "@every 1s", kind: "webhook", recipient: "https://status.example.com/heartbeat"},
		{name: "new-year", spec: "0 0 1 1 *", kind: "email", recipient: "all@example.com"},
	}); err != nil {
		t.Fatal(err)
	}
	row := func(name string) string {
		return fmt.Sprintf(`document.querySelector('#schedules-body tr[data-name=%q]')`, name)
	}
	future := func(name string) string {
		return fmt.Sprintf(`(() => { const r = %s; return r !== null && Date.parse(r.dataset.next) > 0 && /^in /.test(r.querySelector(".s-next").textContent) && r.querySelector(".s-next").title !== ""; })()`, row(name))
	}
	step(t, ctx, "see both schedules listed, with spec, zone and a next tick",
		until(`document.querySelector("#schedules").dataset.count === "2"`),
		until(future("new-year")),
		until(fmt.Sprintf(`(() => { const r = %s; const spec = r.querySelector(".s-spec").textContent; return spec.includes("0 0 1 1 *") && spec.includes("UTC") && r.querySelector(".s-last").textContent === "never" && r.dataset.last === ""; })()`, row("new-year"))),
		until(fmt.Sprintf(`%s.querySelector(".s-spec").textContent.includes("@every 1s")`, row("heartbeat"))),
		chromedp.WaitVisible(chromedp.CSS(".sched-table")),
		chromedp.WaitNotVisible(chromedp.CSS("#schedules-empty")),
	)
	step(t, ctx, "see the heartbeat's last run after it ticked, and its job on the board",
		until(fmt.Sprintf(`(() => { const r = %s; return Date.parse(r.dataset.last) > 0 && / ago$/.test(r.querySelector(".s-last").textContent); })()`, row("heartbeat"))),
		until(`[...document.querySelectorAll("#board .job .who")].some(e => e.textContent === "https://status.example.com/heartbeat")`),
	)
	// The page's last run is the store's.
	infos, err := jqcron.Schedules(context.Background(), ts.q)
	if err != nil || len(infos) != 2 || infos[0].Name != "heartbeat" || infos[0].LastTick.IsZero() {
		t.Fatalf("the store's schedules: %+v, %v", infos, err)
	}
	step(t, ctx, "see the heartbeat's next tick again once the page read the schedules after a tick", until(future("heartbeat")))

	// A schedule whose last Scheduler stopped in 2020 reads as abandoned,
	// the running ones do not.
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := ts.q.Backend().(backend.ScheduleKeeper).MarkSchedule(context.Background(), backend.MarkScheduleParams{
		Queue: ts.q.Name(), Name: "old", Definition: `{"spec":"@every 1m","tz":"UTC","missed":"skip"}`, Tick: old, Seen: old,
	}); err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "see the schedule no Scheduler runs marked abandoned",
		until(fmt.Sprintf(`(() => { const r = %s; return r !== null && r.dataset.abandoned === "true" && r.querySelector(".s-next").textContent === "abandoned" && r.querySelector(".s-next").title.includes("schedules -rm old"); })()`, row("old"))),
		until(fmt.Sprintf(`%s.dataset.abandoned === "false"`, row("heartbeat"))),
	)
	saveScreenshot(t, ctx, "dashboard-schedules.png", chromedp.FullScreenshot(100))

	step(t, ctx, "fit the schedules in a phone's width without sideways scrolling",
		chromedp.EmulateViewport(390, 1400),
		until(`document.documentElement.scrollWidth <= window.innerWidth`),
	)
	saveScreenshot(t, ctx, "dashboard-schedules-phone.png", chromedp.FullScreenshot(100))
}

// TestBrowserLimits sets a queue's limits and a kind's from outside the
// page, as `jobqueue limits` would, and sees the top bar show them, and
// hide them again once removed.
func TestBrowserLimits(t *testing.T) {
	ctx := newBrowser(t)
	ts := newTestServer(t, time.Second)
	chip := `document.querySelector("#limits-chip")`
	step(t, ctx, "load the page and see no limits",
		chromedp.Navigate(ts.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#enqueue-btn")),
		until(chip+`.hidden === true`),
	)
	bg := context.Background()
	if err := ts.q.SetLimits(bg, jobqueue.Limits{Concurrency: 5}); err != nil {
		t.Fatal(err)
	}
	if err := ts.q.SetKindLimits(bg, "email", jobqueue.Limits{Concurrency: 2, Rate: 10, Per: time.Minute}); err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "see the queue's and the kind's limits",
		until(chip+`.hidden === false`),
		until(`document.querySelector("#limits").textContent === "queue 5 at once · email 2 at once, 10/1m 0s"`),
	)
	if err := ts.q.SetKindLimits(bg, "email", jobqueue.Limits{}); err != nil {
		t.Fatal(err)
	}
	if err := ts.q.SetLimits(bg, jobqueue.Limits{}); err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "see them gone once removed", until(chip+`.hidden === true`))
}

// text is a JavaScript expression: the text of the element sel matches.
func text(sel string) string {
	return fmt.Sprintf(`(document.querySelector(%q)?.textContent ?? "")`, sel)
}

// visible is a JavaScript expression: whether the element sel matches is
// laid out (not hidden, nor inside something hidden).
func visible(sel string) string {
	return fmt.Sprintf(`(document.querySelector(%q)?.offsetParent != null)`, sel)
}

// TestBrowserOutage kills the Redis under the demo's page. The page shows
// the outage as the dashboard does: a banner with the store's reason and
// when the outage began, the last numbers kept and greyed, no empty-state
// text for lists it cannot read, the actions hidden; and the worker pool,
// which runs in this process, still running. Reloaded, it shows dashes
// rather than zeros, and the same start. Redis comes back and the page
// with it; only when the page's own server stops does it say "server
// unreachable".
func TestBrowserOutage(t *testing.T) {
	ctx := newBrowser(t)
	// Every write on disk before it is acknowledged: the Redis killed
	// below comes back with the queue as it was.
	srv := redistest.Start(t, redistest.RequireProcess(), redistest.WithArgs("--appendonly", "yes", "--appendfsync", "always"))
	q, err := jobqueue.New(browsertest.FailFast(t, srv.URL), fmt.Sprintf("demo-outage-%d", time.Now().UnixNano()),
		jobqueue.WithLease(time.Second), jobqueue.WithBackoff(jobqueue.ConstantBackoff(50*time.Millisecond)))
	if err != nil {
		t.Fatal(err)
	}
	ts := serveQueue(t, q, "Redis at "+srv.URL+" (go-redis)")

	step(t, ctx, "enqueue 5 jobs and set the work latency to 0",
		chromedp.Navigate(ts.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#enqueue-btn")),
		chromedp.SetValue(chromedp.CSS("#count"), "5"),
		chromedp.Click(chromedp.CSS("#enqueue-btn")),
		until(text("#stat-enqueued_total")+` === "5"`),
		setKnob("#latency", "0"),
	)
	waitFor(t, "the latency knob to reach the server", 5*time.Second, func() bool { return num(ts.stats()["work_latency_ms"]) == 0 })
	step(t, ctx, "let 4 workers complete the jobs",
		chromedp.SetValue(chromedp.CSS("#pool-size"), "4"),
		chromedp.Click(chromedp.CSS("#start-btn")),
		until(text("#pool-state")+` === "4 running"`),
		until(text("#stat-completed_total")+` === "5" && `+count("#col-completed .job")+` === 5`),
		until(visible("#col-dead .empty")+` && `+visible("#schedules-empty")+` && `+text("#live-text")+` === "live"`),
	)

	srv.Kill(t)
	banner := `(() => { const o = document.querySelector("#outage"); return o !== null && !o.hidden && Date.parse(o.dataset.since) > 0 && o.dataset.reason.startsWith("queue unavailable: ") && o.dataset.reason.includes("connection refused"); })()`
	running := text("#pool-state") + ` === "4 running" && document.querySelector("#pool-state").closest(".data") === null && ` + count("#worker-dots .wdot") + ` === 4`
	noEmptyText := `!["No dead letters", "Nothing waiting", "Nothing finished", "No schedule recorded"].some(t => document.body.innerText.includes(t))`
	hidden := `!` + visible("#enqueue-btn") + ` && !` + visible("#start-btn") + ` && !` + visible("#stop-btn") + ` && !` + visible("#reclaim-btn") + ` && !` + visible("#reset-btn") + ` && document.querySelector(".controls").inert`
	step(t, ctx, "see the outage: the store's reason, since when, the last numbers greyed, the workers running",
		until(banner),
		until(`document.body.classList.contains("stale") && `+text("#live-text")+` === "store unreachable"`),
		until(text("#outage-when")+`.startsWith("since ")`),
		until(text("#stat-completed_total")+` === "5" && `+text("#stat-enqueued_total")+` === "5" && `+count("#col-completed .job")+` === 5`),
		until(`getComputedStyle(document.querySelector(".stats")).opacity < 1 && getComputedStyle(document.querySelector("#board")).opacity < 1`),
		until(running),
		until(noEmptyText),
		until(hidden),
		chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`),
	)
	saveScreenshot(t, ctx, "demo-outage.png", chromedp.CaptureScreenshot())

	var since string
	step(t, ctx, "read the outage's start",
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			v, err := chromedp.Evaluate[string](`document.querySelector("#outage").dataset.since`)(ctx, tg)
			since = v
			return err
		}),
	)
	step(t, ctx, "reload during the outage: the banner, the same start, dashes and no zeros, the workers running",
		chromedp.Reload(),
		until(banner),
		until(fmt.Sprintf(`document.querySelector("#outage").dataset.since === %q`, since)),
		until(`[...document.querySelectorAll('[id^="stat-"], #rate, [id^="count-"]')].every(e => e.textContent === "—")`),
		until(running),
		until(noEmptyText),
		until(visible("#col-dead .unknown")),
		until(hidden),
	)

	srv.Restart(t)
	step(t, ctx, "see the store answer again",
		until(`document.querySelector("#outage").hidden && !document.body.classList.contains("stale")`),
		until(text("#stat-completed_total")+` === "5" && `+text("#live-text")+` === "live"`),
		until(visible("#enqueue-btn")+` && `+visible("#col-dead .empty")),
	)

	ts.hs.Close()
	step(t, ctx, "stop the page's own server: only now \"server unreachable\"",
		until(`!document.querySelector("#outage").hidden && `+text("#outage-title")+`.includes("server") && `+text("#live-text")+` === "server unreachable"`),
		until(text("#stat-completed_total")+` === "5"`),
	)
}
