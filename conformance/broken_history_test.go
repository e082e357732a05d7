package conformance_test

import (
	"context"
	"sync"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/memory"
)

// historyBroken are the broken backends of the per-minute history
// (backend.Historian).
func historyBroken() []brokenBackend {
	mem := memory.New
	return []brokenBackend{
		{"history-forgets-failed", "History/", func() backend.Backend { return failedForgotten{mem()} }},
		{"history-counts-snoozes", "History/CountsWhatHappened", func() backend.Backend { return &snoozeFailed{historyShown: historyShown{Backend: mem()}} }},
		{"history-counts-repeats", "History/RepeatsCountOnce, LostReplies/Repeat/Complete, LostReplies/LostReply/Complete, Ack/Repeat/Complete",
			func() backend.Backend { return &repeatInHistory{historyShown: historyShown{Backend: mem()}} }},
	}
}

// historyShown is a memory backend whose History adds counts of its own
// to those the store keeps; a decorator that embeds it adds them to make
// the history count what it must not. Purge forgets them.
type historyShown struct {
	*memory.Backend
	mu    sync.Mutex
	extra map[string][]backend.HistoryPoint // by queue, each in the minute it was counted
}

func (b *historyShown) add(queue string, pt backend.HistoryPoint) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.extra == nil {
		b.extra = map[string][]backend.HistoryPoint{}
	}
	pt.Minute = time.Now().Truncate(time.Minute)
	b.extra[queue] = append(b.extra[queue], pt)
}

func (b *historyShown) History(ctx context.Context, p backend.HistoryParams) ([]backend.HistoryPoint, error) {
	got, err := b.Backend.History(ctx, p)
	if err != nil {
		return got, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, x := range b.extra[p.Queue] {
		for i := range got {
			if got[i].Minute.Equal(x.Minute) {
				got[i] = got[i].Add(x)
			}
		}
	}
	return got, nil
}

func (b *historyShown) Purge(ctx context.Context, p backend.PurgeParams) error {
	err := b.Backend.Purge(ctx, p)
	if err == nil {
		b.mu.Lock()
		delete(b.extra, p.Queue)
		b.mu.Unlock()
	}
	return err
}

// failedForgotten breaks "Failed ... counts the attempts that Fail ended with an error (retried or dead-lettered)": its history counts none.
type failedForgotten struct{ *memory.Backend }

func (b failedForgotten) History(ctx context.Context, p backend.HistoryParams) ([]backend.HistoryPoint, error) {
	got, err := b.Backend.History(ctx, p)
	for i := range got {
		got[i].Failed = 0
	}
	return got, err
}

// snoozeFailed breaks "snoozes are not failures": its history counts a snooze as a failed attempt.
// A repeat counts nothing more.
type snoozeFailed struct {
	historyShown
	acks ackSet
}

func (b *snoozeFailed) Fail(ctx context.Context, p backend.FailParams) ([]error, error) {
	errs, err := b.Backend.Fail(ctx, p)
	succeeded(errs, err, func(i int) {
		if p.Items[i].Snooze && b.acks.add(ackOf(p.Queue, p.Items[i].Ack)) == 0 {
			b.add(p.Queue, backend.HistoryPoint{Failed: 1})
		}
	})
	return errs, err
}

// repeatInHistory breaks "a repeat ... changes nothing more — no second job, history entry, event or counter increment" for the history: a repeated Complete counts again.
type repeatInHistory struct {
	historyShown
	acks ackSet
}

func (b *repeatInHistory) Complete(ctx context.Context, p backend.CompleteParams) ([]error, error) {
	errs, err := b.Backend.Complete(ctx, p)
	succeeded(errs, err, func(i int) {
		if b.acks.add(ackOf(p.Queue, p.Items[i].Ack)) > 0 {
			b.add(p.Queue, backend.HistoryPoint{Completed: 1})
		}
	})
	return errs, err
}
