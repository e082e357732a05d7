// Package warnlog is the logger of the root package's Worker and of
// jqcron's Scheduler when they are given none.
package warnlog

import (
	"context"
	"log/slog"
)

// New returns a logger that hands the records at WARN and above to
// slog.Default()'s handler, looked up at each record, and drops the rest.
// The records a Worker or a Scheduler logs at WARN and ERROR are the ones
// an operator must see (outages, a store that may evict jobs, poison jobs,
// panics, missed ticks), and a library that logs nothing by default hides
// them from everyone who did not know to ask.
func New() *slog.Logger { return slog.New(handler{}) }

type handler struct {
	// with are the WithAttrs and WithGroup calls made on the handler, in
	// order, replayed on the default handler of the moment.
	with []func(slog.Handler) slog.Handler
}

func (d handler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && slog.Default().Handler().Enabled(ctx, l)
}

func (d handler) Handle(ctx context.Context, r slog.Record) error {
	h := slog.Default().Handler()
	for _, f := range d.with {
		h = f(h)
	}
	return h.Handle(ctx, r)
}

func (d handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return d.then(func(h slog.Handler) slog.Handler { return h.WithAttrs(attrs) })
}

func (d handler) WithGroup(name string) slog.Handler {
	return d.then(func(h slog.Handler) slog.Handler { return h.WithGroup(name) })
}

func (d handler) then(f func(slog.Handler) slog.Handler) handler {
	return handler{with: append(d.with[:len(d.with):len(d.with)], f)}
}
