package jobqueue

import (
	"context"
	"log/slog"
)

// defaultWarnings is the log handler of a Worker given no Logger: it hands
// the records at WARN and above to slog.Default()'s handler, looked up at
// each record, and drops the rest. The records a Worker logs at WARN and
// ERROR are the ones an operator must see (outages, a store that may evict
// jobs, poison jobs, panics), and a library that logs nothing by default
// hides them from everyone who did not know to ask.
type defaultWarnings struct {
	// with are the WithAttrs and WithGroup calls made on the handler, in
	// order, replayed on the default handler of the moment.
	with []func(slog.Handler) slog.Handler
}

func (d defaultWarnings) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && slog.Default().Handler().Enabled(ctx, l)
}

func (d defaultWarnings) Handle(ctx context.Context, r slog.Record) error {
	h := slog.Default().Handler()
	for _, f := range d.with {
		h = f(h)
	}
	return h.Handle(ctx, r)
}

func (d defaultWarnings) WithAttrs(attrs []slog.Attr) slog.Handler {
	return d.then(func(h slog.Handler) slog.Handler { return h.WithAttrs(attrs) })
}

func (d defaultWarnings) WithGroup(name string) slog.Handler {
	return d.then(func(h slog.Handler) slog.Handler { return h.WithGroup(name) })
}

func (d defaultWarnings) then(f func(slog.Handler) slog.Handler) defaultWarnings {
	return defaultWarnings{with: append(d.with[:len(d.with):len(d.with)], f)}
}
