package reliability

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/internal/redisq/redisqtest"
	"github.com/jobqueue-go/jobqueue/jqcron"
	"github.com/jobqueue-go/jobqueue/memory"
)

// TestCronThreeSchedulers runs three Schedulers of one schedule, every
// 150 ms, with no leader, on one store (memory, and each Redis adapter,
// each Scheduler with a client of its own, as three processes would): 60
// consecutive ticks give exactly 60 jobs, one per tick. One of the three
// stops halfway, as a process that dies, and the other two go on alone.
// Over the whole run, every job is a tick of its own: no tick was
// enqueued twice, before, during or after the 60 counted.
func TestCronThreeSchedulers(t *testing.T) {
	const (
		every    = 150 * time.Millisecond
		counted  = 60
		schedule = "pulse"
	)
	srv := redistest.Start(t, redistest.RequireProcess())
	redisqtest.LoadLibrary(t, srv.URL)
	for _, store := range append([]string{"memory"}, adapters...) {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			queue := "cron-three-" + store
			mem := memory.New()
			open := func() *jobqueue.Queue {
				t.Helper()
				var b backend.Backend = mem
				if store != "memory" {
					rb, closeBackend, err := openAdapter(store, srv.URL)
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(closeBackend)
					b = rb
				}
				q, err := jobqueue.New(b, queue)
				if err != nil {
					t.Fatal(err)
				}
				return q
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var schedulers []*jqcron.Scheduler
			stops := make([]func(), 3)
			for i := range stops {
				s, err := jqcron.NewScheduler(jqcron.Options{})
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Schedule(open(), schedule, fmt.Sprintf("@every %v", every), map[string]string{"from": "cron"}); err != nil {
					t.Fatal(err)
				}
				sctx, stop := context.WithCancel(ctx)
				var wg sync.WaitGroup
				wg.Go(func() {
					if err := s.Run(sctx); err != nil {
						t.Error(err)
					}
				})
				stops[i] = func() { stop(); wg.Wait() }
				schedulers = append(schedulers, s)
			}
			defer func() {
				for _, stop := range stops {
					stop()
				}
			}()
			// The counted ticks start a second from now, once the three
			// run.
			first := time.Now().Add(time.Second).Truncate(every).Add(every)
			last := first.Add((counted - 1) * every)
			waitTick := func(ss []*jqcron.Scheduler, tick time.Time) {
				t.Helper()
				deadline := time.Now().Add(time.Until(tick) + 30*time.Second)
				for _, s := range ss {
					for s.Schedules()[0].LastTick.Before(tick) {
						if time.Now().After(deadline) {
							t.Fatalf("a Scheduler is at tick %v, long after %v", s.Schedules()[0].LastTick, tick)
						}
						time.Sleep(10 * time.Millisecond)
					}
				}
			}
			waitTick(schedulers, first.Add(counted/2*every))
			stops[0]() // a process dies halfway
			waitTick(schedulers[1:], last)
			for _, stop := range stops {
				stop()
			}

			q := open()
			ticks := map[time.Time]int{}
			total := 0
			for {
				jobs, err := q.Claim(context.Background(), 500, 0)
				if err != nil {
					t.Fatal(err)
				}
				if len(jobs) == 0 {
					break
				}
				for _, j := range jobs {
					name, tick, ok := jqcron.ScheduledTick(j)
					if !ok || name != schedule {
						t.Fatalf("job %s is no tick of %s: %v", j.ID, schedule, j.Headers)
					}
					ticks[tick]++
					total++
				}
			}
			inWindow, twice := 0, 0
			for tick, n := range ticks {
				if n > 1 {
					twice++
					t.Errorf("tick %v has %d jobs", tick, n)
				}
				if !tick.Before(first) && !tick.After(last) {
					inWindow += n
				}
			}
			for tick := first; !tick.After(last); tick = tick.Add(every) {
				if ticks[tick.UTC()] != 1 {
					t.Errorf("tick %v has %d jobs, want 1", tick.UTC(), ticks[tick.UTC()])
				}
			}
			if inWindow != counted {
				t.Errorf("%d jobs for the %d ticks from %v to %v, want %d", inWindow, counted, first, last, counted)
			}
			var enqueued, duplicates, missed int64
			for _, s := range schedulers {
				info := s.Schedules()[0]
				enqueued += info.Enqueued
				duplicates += info.Duplicates
				missed += info.Missed
			}
			if enqueued != int64(total) {
				t.Errorf("the Schedulers enqueued %d jobs; the queue holds %d", enqueued, total)
			}
			recs, err := jqcron.Schedules(context.Background(), q)
			if err != nil || len(recs) != 1 || recs[0].LastTick.Before(last) {
				t.Errorf("the store's record: %+v, %v; want %s with a last tick from %v on", recs, err, schedule, last)
			}
			report(t, Row{
				Scenario: "15 cron, 3 Schedulers, no leader",
				Injected: fmt.Sprintf("one schedule every %v; a Scheduler stopped after 30 ticks", every),
				Jobs:     total, Duplicates: twice,
				Result: fmt.Sprintf("%d jobs for the %d counted ticks, one each; %d enqueued, %d refused as duplicates, %d missed", inWindow, counted, enqueued, duplicates, missed),
			})
		})
	}
}
