package redisq_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/internal/redisq/redisqtest"
)

// histKey is the key of the history hash of the hour that starts at hour.
func histKey(queue string, hour time.Time) string {
	return "queue:{" + queue + "}:hist:" + strconv.FormatInt(hour.Unix(), 10)
}

// TestHistoryLayout checks the history hashes as Redis holds them: one per
// hour, fields <counter>:<minute>, an expiry the retention and one hour
// after the hour began, read across hours, and deleted by Purge with every
// other key of the queue.
func TestHistoryLayout(t *testing.T) {
	srv := redistest.Shared(t)
	ctx := context.Background()
	raw := goredisClient(t, srv, "")
	b := newGoredis(t, srv, "")
	h := b.(backend.Historian)
	q := redisqtest.QueueName(t)

	enqueueIDs(t, b, q, 3, "a")
	jobs, err := b.Claim(ctx, backend.ClaimParams{Queue: q, Max: 1, Lease: time.Minute})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %v %v", jobs, err)
	}
	errs, err := b.Fail(ctx, backend.FailParams{Queue: q, Items: []backend.Failure{{Ack: backend.Ack{ID: "a", Token: jobs[0].Token}, Error: "x"}}})
	if err = errors.Join(err, errors.Join(errs...)); err != nil {
		t.Fatal(err)
	}
	now, err := raw.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	hour := now.Truncate(time.Hour)
	// The calls ran within the last few milliseconds: in this hour, or
	// (rarely) in the one before.
	key := histKey(q, hour)
	fields, err := raw.HGetAll(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(fields) == 0 && now.Sub(hour) < time.Second {
		hour = hour.Add(-time.Hour)
		key = histKey(q, hour)
		fields = raw.HGetAll(ctx, key).Val()
	}
	var names []string
	for f, v := range fields {
		name, m, _ := strings.Cut(f, ":")
		if n, err := strconv.Atoi(m); err != nil || n < 0 || n > 59 || v != "1" {
			t.Errorf("history field %s = %s: want <counter>:<minute 0-59> = 1", f, v)
		}
		names = append(names, name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"enqueued", "failed", "retried"}) {
		t.Errorf("history fields %v: want enqueued, failed and retried", fields)
	}
	at, err := raw.PExpireTime(ctx, key).Result()
	if want := hour.Add(backend.HistoryRetention + time.Hour); err != nil || at != time.Duration(want.UnixMilli())*time.Millisecond {
		t.Errorf("the history hash expires at %v (%v), want %v", at, err, want.UnixMilli())
	}

	// An hour of the window that is nearly a day old, one just past it,
	// and a counter this version does not know, which reads as nothing.
	old := hour.Add(-23 * time.Hour)
	gone := hour.Add(-25 * time.Hour)
	raw.HSet(ctx, histKey(q, old), "completed:0", 7, "teleported:0", 1)
	raw.HSet(ctx, histKey(q, gone), "completed:0", 9)
	got, err := h.History(ctx, backend.HistoryParams{Queue: q, Minutes: 1440})
	if err != nil {
		t.Fatal(err)
	}
	var completed []time.Time
	for _, pt := range got {
		if pt.Completed > 0 {
			completed = append(completed, pt.Minute)
		}
	}
	if !slices.EqualFunc(completed, []time.Time{old}, time.Time.Equal) || got[len(got)-1].Minute.Before(now.Truncate(time.Minute)) {
		t.Errorf("completions in minutes %v, the last point %v; want one in %v, and the last at %v", completed, got[len(got)-1].Minute, old, now)
	}

	// Purge leaves no key of the queue behind: the history hashes of the
	// window go, the older one expires on its own (here it has no TTL).
	raw.Del(ctx, histKey(q, gone))
	if err := b.Purge(ctx, backend.PurgeParams{Queue: q}); err != nil {
		t.Fatal(err)
	}
	if left, err := raw.Keys(ctx, "queue:{"+q+"}:*").Result(); err != nil || len(left) != 0 {
		t.Errorf("keys left by a purge: %q %v", left, err)
	}
}
