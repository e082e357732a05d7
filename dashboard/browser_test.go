package dashboard_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/dashboard"
	bt "github.com/jobqueue-go/jobqueue/internal/browsertest"
	"github.com/jobqueue-go/jobqueue/memory"
)

// text is a JavaScript expression: the text of the element sel matches.
func text(sel string) string {
	return fmt.Sprintf(`(document.querySelector(%q)?.textContent ?? "")`, sel)
}

// jsClick clicks by script, for buttons in a drawer that may still be
// sliding in.
func jsClick(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).click()`, sel))
}

// overlapping is a JavaScript expression: whether two labels shown on
// the chart axis sel cover each other.
func overlapping(sel string) string {
	return fmt.Sprintf(`(() => {
		const shown = [...document.querySelectorAll("%s span")].filter(e => !e.hidden).map(e => e.getBoundingClientRect());
		return shown.some((a, i) => shown.some((b, j) => i !== j && a.left < b.right && b.left < a.right));
	})()`, sel)
}

func row(id string) string {
	return fmt.Sprintf(`#jobs-body tr.job[data-id=%q]`, id)
}

// TestBrowserDashboard drives the page in Chromium, mounted under
// /admin/jobs/ in another ServeMux, on a Redis of its own: the overview,
// a queue, its chart, pages of the dead list, a search by id prefix, a
// filter by kind, the jobs "%2e" and "%2e%2e" (which a browser resolves to . and .. in a path) opened and deleted, a retry, a
// pause; then Redis is killed and the page shows the outage, with the
// store's reason and its start, keeping the last numbers greyed, also
// after a reload; and Redis comes back.
func TestBrowserDashboard(t *testing.T) {
	ctx := bt.New(t)
	// Every write on disk before it is acknowledged: the Redis killed
	// below comes back with the queue as it was.
	srv := redistest.Start(t, redistest.RequireProcess(), redistest.WithArgs("--appendonly", "yes", "--appendfsync", "always"))
	b := bt.FailFast(t, srv.URL)
	emails := newQueue(t, b, queueName("emails"))
	reports := newQueue(t, b, queueName("reports"))
	bg := context.Background()

	// 30 dead jobs: a page of 25 and one of 5; 4 completed, for the
	// chart; 6 pending of two kinds and the ids "%2e" and "%2e%2e".
	dead := makeDead(t, emails, 30, "email")
	for i := range 4 {
		if _, err := emails.Enqueue(bg, map[string]any{"n": i}, jobqueue.Kind("digest")); err != nil {
			t.Fatal(err)
		}
	}
	jobs, err := emails.Claim(bg, 4, time.Second)
	if err != nil || len(jobs) != 4 {
		t.Fatalf("claim: %d, %v", len(jobs), err)
	}
	for _, j := range jobs {
		if err := j.Complete(bg, map[string]any{"sent": true}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 4 {
		kind := []string{"email", "digest"}[i%2]
		if _, err := emails.Enqueue(bg, map[string]any{"to": fmt.Sprintf("user%d@example.com", i)}, jobqueue.Kind(kind)); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"%2e", "%2e%2e"} {
		if _, err := emails.Enqueue(bg, map[string]any{"odd": id}, jobqueue.WithID(id), jobqueue.Kind("email")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := reports.Enqueue(bg, map[string]any{"report": "weekly"}); err != nil {
		t.Fatal(err)
	}
	if err := reports.SetLimits(bg, jobqueue.Limits{Concurrency: 2}); err != nil {
		t.Fatal(err)
	}
	recordSchedule(t, emails, "digest", "0 8 * * *")
	s := mount(t, dashboard.New([]*jobqueue.Queue{emails, reports}))

	qrow := func(name string) string { return fmt.Sprintf(`#queues-body tr[data-queue=%q]`, name) }
	bt.Step(t, ctx, "see both queues in the overview",
		chromedp.Navigate(s.URL),
		bt.Until(bt.Count("#queues-body tr")+` === 2`),
		bt.Until(text(qrow(emails.Name())+" .c-pending")+` === "6"`),
		bt.Until(text(qrow(emails.Name())+" .c-dead")+` === "30"`),
		bt.Until(text(qrow(reports.Name())+" .lim")+` === "2 at once"`),
		bt.Until(`document.querySelector("#readonly-chip").hidden && !document.querySelector("#outage").hidden === false`),
	)
	bt.SaveScreenshot(t, ctx, "dashboard-overview.png", chromedp.CaptureScreenshot())

	bt.Step(t, ctx, "open the emails queue: its counts and the last hour's chart",
		chromedp.Click(chromedp.CSS(qrow(emails.Name())+" td.num")),
		chromedp.WaitVisible(chromedp.CSS("#queue-view")),
		bt.Until(text("#d-pending")+` === "6" && `+text("#d-dead")+` === "30" && `+text("#d-completed")+` === "4"`),
		bt.Until(`document.querySelector("#history-chart").dataset.completed === "4" && document.querySelector("#history-chart").dataset.failed === "30" && document.querySelector("#history-chart").dataset.minutes === "60"`),
		bt.Until(bt.Count("#hour-axis .tick:not([hidden])")+` >= 2 && !`+overlapping("#hour-axis")),
		bt.Until(bt.Count("#jobs-body tr.job")+` === 6`),
		bt.Until(`location.hash === "#q=`+emails.Name()+`"`),
		bt.Until(`document.querySelector("#schedules").dataset.count === "1" && `+text(`#schedules-body tr[data-name="digest"]`)+`.includes("0 8 * * *")`),
		bt.Until(text(`#schedules-body tr[data-name="digest"] td:nth-child(4)`)+`.startsWith("in ")`),
	)

	bt.Step(t, ctx, "switch to the day's chart: the same jobs, in 144 steps of 10 minutes; and back",
		chromedp.Click(chromedp.CSS(`#history-range [data-range="day"]`)),
		bt.Until(`!document.querySelector("#day-view").hidden && document.querySelector("#hour-view").hidden && `+text("#history-title")+` === "Last day"`),
		bt.Until(`document.querySelector("#day-chart").dataset.points === "144" && document.querySelector("#day-chart").dataset.completed === "4" && document.querySelector("#day-chart").dataset.failed === "30"`),
		chromedp.Click(chromedp.CSS(`#history-range [data-range="hour"]`)),
		bt.Until(`!document.querySelector("#hour-view").hidden && document.querySelector("#day-view").hidden && `+text("#history-title")+` === "Last hour"`),
	)

	bt.Step(t, ctx, "page through the dead list: 25, then 5",
		chromedp.Click(chromedp.CSS(`#tabs [data-state="dead"]`)),
		bt.Until(bt.Count("#jobs-body tr.job")+` === 25`),
		bt.Until(text("#page-info")+` === "dead jobs 1–25 of 30"`),
		bt.Until(text(row(dead[29])+" .err")+` === "smtp: 550 mailbox unavailable"`),
		chromedp.Click(chromedp.CSS("#next-btn")),
		bt.Until(bt.Count("#jobs-body tr.job")+` === 5`),
		bt.Until(text("#page-info")+` === "dead jobs 26–30 of 30"`),
		bt.Until(`document.querySelector("#next-btn").disabled && !document.querySelector("#prev-btn").disabled`),
		// The dead list is most recent first: the oldest are last.
		bt.Until(`document.querySelector(`+fmt.Sprintf("%q", row(dead[0]))+`) !== null`),
		chromedp.Click(chromedp.CSS("#prev-btn")),
		bt.Until(bt.Count("#jobs-body tr.job")+` === 25`),
		chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`),
	)
	bt.SaveScreenshot(t, ctx, "dashboard-queue.png", chromedp.CaptureScreenshot())

	target := dead[1] // on the second page
	bt.Step(t, ctx, "find a dead job by its id's first 6 characters",
		chromedp.SetValue(chromedp.CSS("#search"), target[:6]),
		chromedp.Click(chromedp.CSS(`#search-form button[type="submit"]`)),
		bt.Until(bt.Count("#jobs-body tr.job")+` === 1`),
		bt.Until(`document.querySelector(`+fmt.Sprintf("%q", row(target))+`) !== null`),
		bt.Until(text("#page-info")+`.startsWith("Searched dead ids 1–30 of 30: 1 start with")`),
		chromedp.Click(chromedp.CSS("#clear-btn")),
		bt.Until(bt.Count("#jobs-body tr.job")+` === 25`),
	)

	bt.Step(t, ctx, "filter the pending page by kind",
		chromedp.Click(chromedp.CSS(`#tabs [data-state="pending"]`)),
		bt.Until(bt.Count("#jobs-body tr.job")+` === 6`),
		chromedp.SetValue(chromedp.CSS("#kind"), "digest"),
		chromedp.Click(chromedp.CSS(`#search-form button[type="submit"]`)),
		bt.Until(bt.Count("#jobs-body tr.job")+` === 2`),
		bt.Until(`[...document.querySelectorAll("#jobs-body .kind")].every(e => e.textContent === "digest")`),
		chromedp.Click(chromedp.CSS("#clear-btn")),
		bt.Until(bt.Count("#jobs-body tr.job")+` === 6`),
	)

	bt.Step(t, ctx, "open the job \"%2e\" from its row",
		chromedp.Click(chromedp.CSS(row("%2e")+" td.id")),
		bt.Until(`document.querySelector("#drawer").classList.contains("open")`),
		bt.Until(text("#drawer-title")+` === "%2e"`),
		bt.Until(text("#drawer-body")+`.includes('"odd": "%2e"')`),
		jsClick("#drawer-close"),
	)
	bt.Step(t, ctx, "find the job \"%2e%2e\" by its whole id, and delete it from the drawer",
		chromedp.SetValue(chromedp.CSS("#search"), "%2e%2e"),
		chromedp.Click(chromedp.CSS(`#search-form button[type="submit"]`)),
		bt.Until(`document.querySelector("#drawer").classList.contains("open") && `+text("#drawer-title")+` === "%2e%2e"`),
		bt.Until(text("#drawer-body")+`.includes('"odd": "%2e%2e"') && !document.querySelector("#delete-btn").hidden`),
		bt.Until(text("#drawer-kind .state-tag")+` === "pending" && !document.querySelector("#cancel-btn").hidden && document.querySelector("#retry-btn").hidden`),
	)
	bt.Step(t, ctx, "let the drawer finish sliding in", bt.Until(`getComputedStyle(document.querySelector("#drawer")).transform === "none"`))
	bt.SaveScreenshot(t, ctx, "dashboard-drawer.png", chromedp.CaptureScreenshot())
	bt.Step(t, ctx, "delete \"..\"",
		jsClick("#delete-btn"),
		bt.Until(text("#drawer-body")+`.includes("This job is gone")`),
		jsClick("#drawer-close"),
		chromedp.Click(chromedp.CSS("#clear-btn")),
		bt.Until(text("#d-pending")+` === "5"`),
	)
	if _, err := emails.Get(bg, "%2e%2e"); !errors.Is(err, jobqueue.ErrNotFound) {
		t.Fatalf("job .. after the page deleted it: %v", err)
	}
	if _, err := emails.Get(bg, "%2e"); err != nil {
		t.Fatalf("job . after the page deleted ..: %v", err)
	}

	bt.Step(t, ctx, "retry a dead job from its drawer",
		chromedp.Click(chromedp.CSS(`#tabs [data-state="dead"]`)),
		bt.Until(bt.Count("#jobs-body tr.job")+` === 25`),
		chromedp.Click(chromedp.CSS(row(dead[29])+" td.id")),
		bt.Until(`!document.querySelector("#retry-btn").hidden`),
		jsClick("#retry-btn"),
		bt.Until(text("#drawer-kind .state-tag")+` === "pending"`),
		jsClick("#drawer-close"),
		bt.Until(text("#d-dead")+` === "29" && `+text("#d-pending")+` === "6"`),
	)
	bt.Step(t, ctx, "pause the queue and resume it",
		jsClick("#pause-btn"),
		bt.Until(`!document.querySelector("#q-paused").hidden && !document.querySelector("#resume-btn").hidden`),
	)
	if st, _ := emails.Stats(bg); !st.Paused {
		t.Fatal("the page's Pause did not pause the queue")
	}
	bt.Step(t, ctx, "resume",
		jsClick("#resume-btn"),
		bt.Until(`document.querySelector("#q-paused").hidden`),
	)

	// The outage.
	srv.Kill(t)
	banner := `(() => { const o = document.querySelector("#outage"); return !o.hidden && Date.parse(o.dataset.since) > 0 && o.dataset.reason.startsWith("queue unavailable: ") && o.dataset.reason.includes("connection refused"); })()`
	kept := text("#d-dead") + ` === "29" && ` + text("#d-pending") + ` === "6" && ` + bt.Count("#jobs-body tr.job") + ` === 25`
	bt.Step(t, ctx, "see the outage: the store's reason, since when, the last numbers greyed",
		bt.Until(banner),
		bt.Until(`document.body.classList.contains("stale") && `+text("#live-text")+` === "store unreachable"`),
		bt.Until(text("#outage-when")+`.startsWith("since ")`),
		bt.Until(kept),
		bt.Until(`getComputedStyle(document.querySelector(".stats")).opacity < 1`),
		bt.Until(`document.querySelector("#jobs-empty").hidden`),
		chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`),
	)
	bt.SaveScreenshot(t, ctx, "dashboard-outage.png", chromedp.CaptureScreenshot())
	var since string
	bt.Step(t, ctx, "read the outage's start",
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			v, err := chromedp.Evaluate[string](`document.querySelector("#outage").dataset.since`)(ctx, tg)
			since = v
			return err
		}),
	)
	bt.Step(t, ctx, "reload during the outage: the banner, the same start, no number made up",
		bt.Until(`location.hash === "#q=`+emails.Name()+`&s=dead"`),
		chromedp.Reload(),
		bt.Until(banner),
		bt.Until(fmt.Sprintf(`document.querySelector("#outage").dataset.since === %q`, since)),
		bt.Until(text("#d-dead")+` === "—" && `+text("#d-pending")+` === "—"`),
		bt.Until(text("#jobs-empty")+` === "Not available: the store does not answer."`),
		bt.Until(`!document.body.textContent.includes("No dead jobs")`),
	)
	bt.Step(t, ctx, "the overview during the outage",
		chromedp.Navigate(s.URL),
		bt.Until(banner),
		bt.Until(`document.body.classList.contains("stale")`),
		bt.Until(text("#queues-empty")+` === "Not available: the store does not answer."`),
	)

	srv.Restart(t)
	bt.Step(t, ctx, "see the store answer again",
		bt.Until(`document.querySelector("#outage").hidden && !document.body.classList.contains("stale")`),
		bt.Until(text(qrow(emails.Name())+" .c-dead")+` === "29"`),
		bt.Until(text("#live-text")+` === "live"`),
	)
}

// TestBrowserReadOnly: a read-only dashboard's page says so and shows no
// action, in the queue view nor in the drawer.
func TestBrowserReadOnly(t *testing.T) {
	ctx := bt.New(t)
	q := memoryQueue(t)
	dead := makeDead(t, q, 1, "email")
	s := mount(t, dashboard.New([]*jobqueue.Queue{q}, dashboard.ReadOnly()))
	visible := func(sel string) string {
		return fmt.Sprintf(`(document.querySelector(%q).offsetParent !== null)`, sel)
	}
	bt.Step(t, ctx, "open the queue's dead list and a dead job",
		chromedp.Navigate(s.URL+"#q="+q.Name()+"&s=dead"),
		bt.Until(bt.Count("#jobs-body tr.job")+` === 1`),
		bt.Until(`!document.querySelector("#readonly-chip").hidden`),
		bt.Until(`!`+visible("#pause-btn")+` && !`+visible("#retry-all-btn")+` && !`+visible("#delete-all-btn")),
		chromedp.Click(chromedp.CSS(row(dead[0])+" td.id")),
		bt.Until(text("#drawer-kind .state-tag")+` === "dead"`),
		bt.Until(`!`+visible("#retry-btn")+` && !`+visible("#delete-btn")+` && !`+visible("#cancel-btn")),
	)
	refused, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(
		`fetch("api/jobs/retry", {method: "POST", body: new URLSearchParams({queue: %q, id: %q})}).then(r => r.status)`, q.Name(), dead[0]),
		chromedp.EvalAsValue, chromedp.EvalAwaitPromise))
	if err != nil || refused != 403 {
		t.Fatalf("a retry posted from the read-only page: %d, %v; want 403", refused, err)
	}
	if info, _ := q.Get(context.Background(), dead[0]); info.State != jobqueue.StateDead {
		t.Fatalf("a read-only dashboard retried a job: %s", info.State)
	}
}

// TestBrowserAuthRefused: a browser the hook refuses gets no page, no
// asset and no data.
func TestBrowserAuthRefused(t *testing.T) {
	ctx := bt.New(t)
	q := memoryQueue(t)
	if _, err := q.Enqueue(context.Background(), map[string]any{"secret": "s3cr3t"}); err != nil {
		t.Fatal(err)
	}
	s := mount(t, dashboard.New([]*jobqueue.Queue{q}, dashboard.Authorize(func(*http.Request) bool { return false })))
	bt.Step(t, ctx, "load the page unauthorised",
		chromedp.Navigate(s.URL),
		bt.Until(`document.body.textContent.includes("not authorised")`),
		bt.Until(`document.querySelector("#queue-view") === null`),
	)
	body, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch("api/overview").then(r => r.status + " " + r.statusText).catch(e => String(e))`, chromedp.EvalAwaitPromise))
	if err != nil || !strings.HasPrefix(body, "403") {
		t.Fatalf("the API from the refused page: %q, %v", body, err)
	}
}

// TestBrowserDayChart shows a made-up day of a queue (madeUpHistory) in
// the day's chart: every bar the count of its 10 minutes, clock ticks
// every 3 hours, and one read of the day however many polls go by.
func TestBrowserDayChart(t *testing.T) {
	ctx := bt.New(t)
	now := time.Now()
	q := newQueue(t, &madeUpHistory{Backend: memory.New(), now: now}, queueName("reports"))
	// Jobs for the counts above the chart; the chart's are made up.
	makeDead(t, q, 3, "report")
	for i := range 9 {
		if _, err := q.Enqueue(context.Background(), map[string]any{"report": i}, jobqueue.Kind("report")); err != nil {
			t.Fatal(err)
		}
	}
	var dayReads atomic.Int64
	began := time.Now()
	h := dashboard.New([]*jobqueue.Queue{q})
	s := mount(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/history" && r.FormValue("step") == "10" {
			dayReads.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	completed, failed := daySteps(now)
	var total, totalFailed int64
	for _, n := range completed {
		total += n
	}
	for _, n := range failed {
		totalFailed += n
	}
	// bars is a JavaScript expression: the bars of one series as
	// {start: count}.
	bars := func(cls string) string {
		return fmt.Sprintf(`JSON.stringify(Object.fromEntries([...document.querySelectorAll("#day-chart rect.%s")].map(r => [r.dataset.at, +r.dataset.n])))`, cls)
	}
	nonzero := func(m map[string]int64) map[string]int64 {
		out := map[string]int64{}
		for k, v := range m {
			if v != 0 {
				out[k] = v
			}
		}
		return out
	}

	bt.Step(t, ctx, "open the queue and switch to the day",
		chromedp.Navigate(s.URL+"#q="+q.Name()),
		bt.Until(`document.querySelector("#history-chart").dataset.minutes === "60"`),
		chromedp.Click(chromedp.CSS(`#history-range [data-range="day"]`)),
		bt.Until(fmt.Sprintf(`document.querySelector("#day-chart").dataset.points === "144" && document.querySelector("#day-chart").dataset.completed === "%d" && document.querySelector("#day-chart").dataset.failed === "%d"`, total, totalFailed)),
	)
	for _, series := range []struct {
		cls  string
		want map[string]int64
	}{{"bar-completed", completed}, {"bar-failed", failed}} {
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](bars(series.cls)))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]int64
		if err := json.Unmarshal([]byte(got), &m); err != nil {
			t.Fatal(err)
		}
		if want := nonzero(series.want); !maps.Equal(m, want) {
			t.Errorf("the day's %s bars:\n%v\nwant\n%v", series.cls, m, want)
		}
	}
	// Every tick on a whole 3 hours of the browser's clock, midnight named
	// by its day; no label shown covers "24 h ago", "now" or another.
	bt.Step(t, ctx, "read the day's axis",
		bt.Until(bt.Count("#day-axis .tick")+` >= 7 && `+bt.Count("#day-chart line.tick")+` === `+bt.Count("#day-axis .tick")),
		bt.Until(bt.Count("#day-axis .tick:not([hidden])")+` >= 5 && !`+overlapping("#day-axis")),
		bt.Until(`[...document.querySelectorAll("#day-axis .tick")].every(e => { const d = new Date(e.dataset.at); return d.getMinutes() === 0 && d.getHours() % 3 === 0 && e.textContent === (d.getHours() === 0 ? d.toLocaleDateString([], {weekday: "short"}) : d.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit", hour12: false})); })`),
		bt.Until(text("#day-axis")+`.startsWith("24 h ago") && `+text("#day-axis")+`.includes("now")`),
		chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`),
	)
	bt.SaveScreenshot(t, ctx, "dashboard-day.png", chromedp.CaptureScreenshot())

	// The day is read once a minute at most: three more polls, and a
	// switch to the hour and back, read it no more.
	queuePolls := `performance.getEntriesByType("resource").filter(e => new URL(e.name).pathname.endsWith("/api/queue")).length`
	polls, err := chromedp.Run(ctx, chromedp.Evaluate[int](queuePolls))
	if err != nil {
		t.Fatal(err)
	}
	bt.Step(t, ctx, "switch to the hour and back, and let three polls go by",
		chromedp.Click(chromedp.CSS(`#history-range [data-range="hour"]`)),
		bt.Until(`document.querySelector("#day-view").hidden`),
		chromedp.Click(chromedp.CSS(`#history-range [data-range="day"]`)),
		bt.Until(`!document.querySelector("#day-view").hidden`),
		bt.Until(fmt.Sprintf(`%s >= %d`, queuePolls, polls+3)),
	)
	// Once a minute at most: once, unless a slow machine took the test
	// past a minute.
	if n, most := dayReads.Load(), 1+int64(time.Since(began)/time.Minute); n < 1 || n > most {
		t.Fatalf("the day was read %d times in %v; want once a minute at most (%d)", n, time.Since(began).Round(time.Second), most)
	}
}
