package conformance_test

import (
	"context"
	"maps"
	"sync"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/memory"
)

// controlBroken are the broken backends of pause and limits
// (backend.Controller).
func controlBroken() []brokenBackend {
	mem := memory.New
	return []brokenBackend{
		{"pause-ignored", "Control/PauseHoldsJobs, Control/PauseKeepsAcks, Control/ResumeWakesBlockedClaims", func() backend.Backend { return &shownSettings{Backend: mem(), pause: true} }},
		{"concurrency-off-by-one", "Control/ConcurrencyCapsClaims, Control/SlotFreedWakesClaim, Control/ConcurrencyAcrossQueues", func() backend.Backend { return &shownSettings{Backend: mem(), extraSlot: true} }},
		{"rate-per-claim", "Control/RateCapsStarts, Control/RateWindowSlides", func() backend.Backend { return &shownSettings{Backend: mem(), ratePerClaim: true} }},
		{"purge-forgets-settings", "Control/SettingsInStats", func() backend.Backend { return purgeForgets{mem()} }},
		{"kind-limits-ignored", "KindLimits/ConcurrencyPassesOtherKinds, KindLimits/SlotFreedWakesClaim, KindLimits/RateCapsStarts", func() backend.Backend { return &kindSettings{Backend: mem(), mode: kindIgnored} }},
		{"kind-limits-on-queue", "KindLimits/ConcurrencyPassesOtherKinds, KindLimits/HeldJobsArePending, KindLimits/Workers", func() backend.Backend { return &kindSettings{Backend: mem(), mode: kindOnQueue} }},
		{"kind-concurrency-off-by-one", "KindLimits/ConcurrencyPassesOtherKinds, KindLimits/SlotFreedWakesClaim, KindLimits/Workers", func() backend.Backend { return &kindSettings{Backend: mem(), mode: kindExtraSlot} }},
		{"settings-unpublished", "Events/Kind/paused, Events/Kind/resumed, Events/Kind/limits, Events/SettingsOnlyWhenChanged", func() backend.Backend { return &settingsEvents{Backend: mem(), drop: true} }},
		{"settings-published-unchanged", "Events/SettingsOnlyWhenChanged", func() backend.Backend { return &settingsEvents{Backend: mem()} }},
	}
}

// settingsEvents breaks "A call that changes the settings publishes one
// event … A call that changes nothing … publishes nothing": with drop, no
// setting's event reaches a subscriber, as from a backend that publishes
// job events only; without it, every call publishes, as from a backend
// that publishes what it was asked rather than what it changed.
type settingsEvents struct {
	*memory.Backend
	drop  bool
	relay relay
}

func (b *settingsEvents) Subscribe(ctx context.Context, queue string) (<-chan backend.Event, error) {
	return b.relay.subscribe(ctx, b.Backend, queue, func(ev backend.Event) []backend.Event {
		switch ev.Kind {
		case backend.EventPaused, backend.EventResumed, backend.EventLimits:
			if b.drop {
				return nil
			}
		}
		return []backend.Event{ev}
	})
}

// set runs call, and publishes kind itself when call changed nothing
// (and so published nothing) and the events are not dropped.
func (b *settingsEvents) set(ctx context.Context, queue string, kind backend.EventKind, call func() error) error {
	before, err := b.Backend.Stats(ctx, queue)
	if err != nil {
		return err
	}
	if err := call(); err != nil {
		return err
	}
	after, err := b.Backend.Stats(ctx, queue)
	if err == nil && !b.drop && after.Paused == before.Paused && after.Limits == before.Limits {
		b.relay.publish(backend.Event{Queue: queue, Kind: kind})
	}
	return err
}

func (b *settingsEvents) Pause(ctx context.Context, queue string) error {
	return b.set(ctx, queue, backend.EventPaused, func() error { return b.Backend.Pause(ctx, queue) })
}

func (b *settingsEvents) Resume(ctx context.Context, queue string) error {
	return b.set(ctx, queue, backend.EventResumed, func() error { return b.Backend.Resume(ctx, queue) })
}

func (b *settingsEvents) SetLimits(ctx context.Context, p backend.LimitParams) error {
	return b.set(ctx, p.Queue, backend.EventLimits, func() error { return b.Backend.SetLimits(ctx, p) })
}

// kindSettings is a memory backend whose Stats show the kinds' limits it
// was given, while it enforces them wrongly: not at all, on the whole
// queue (as a limiter that cannot pass a kind's jobs by would), or with
// one slot too many.
type kindSettings struct {
	*memory.Backend
	mode kindMode

	mu    sync.Mutex
	shown map[string]map[string]backend.Limits
	queue map[string]backend.Limits
}

type kindMode int

const (
	kindIgnored kindMode = iota
	kindOnQueue
	kindExtraSlot
)

func (b *kindSettings) SetLimits(ctx context.Context, p backend.LimitParams) error {
	if err := p.Validate(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if p.Kind == "" {
		if b.queue == nil {
			b.queue = map[string]backend.Limits{}
		}
		b.queue[p.Queue] = p.Limits
		return b.Backend.SetLimits(ctx, p)
	}
	if b.shown == nil {
		b.shown = map[string]map[string]backend.Limits{}
	}
	if b.shown[p.Queue] == nil {
		b.shown[p.Queue] = map[string]backend.Limits{}
	}
	if p.Limits.IsZero() {
		delete(b.shown[p.Queue], p.Kind)
	} else {
		b.shown[p.Queue][p.Kind] = p.Limits
	}
	switch b.mode {
	case kindOnQueue:
		p.Kind = ""
	case kindExtraSlot:
		if p.Concurrency > 0 {
			p.Concurrency++
		}
	default:
		return nil
	}
	return b.Backend.SetLimits(ctx, p)
}

func (b *kindSettings) Stats(ctx context.Context, queue string) (backend.Stats, error) {
	st, err := b.Backend.Stats(ctx, queue)
	b.mu.Lock()
	defer b.mu.Unlock()
	st.Limits = b.queue[queue]
	st.KindLimits = nil
	if len(b.shown[queue]) > 0 {
		st.KindLimits = maps.Clone(b.shown[queue])
	}
	return st, err
}

// shownSettings is a memory backend whose Stats show the settings it was
// given, while it enforces them wrongly: a pause that pauses nothing, a
// concurrency limit one slot too wide, or a rate applied to each claim
// call on its own (as a limit kept by each worker would be).
type shownSettings struct {
	*memory.Backend
	pause, extraSlot, ratePerClaim bool

	mu     sync.Mutex
	paused map[string]bool
	limits map[string]backend.Limits
}

func (b *shownSettings) Pause(ctx context.Context, queue string) error {
	if !b.pause {
		return b.Backend.Pause(ctx, queue)
	}
	if err := b.Backend.Resume(ctx, queue); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.paused == nil {
		b.paused = map[string]bool{}
	}
	b.paused[queue] = true
	return nil
}

func (b *shownSettings) Resume(ctx context.Context, queue string) error {
	if err := b.Backend.Resume(ctx, queue); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.paused, queue)
	return nil
}

func (b *shownSettings) SetLimits(ctx context.Context, p backend.LimitParams) error {
	if err := p.Validate(); err != nil {
		return err
	}
	enforced := p
	if b.extraSlot && p.Concurrency > 0 {
		enforced.Concurrency++
	}
	if b.ratePerClaim {
		enforced.Rate, enforced.Per = 0, 0
	}
	if err := b.Backend.SetLimits(ctx, enforced); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.limits == nil {
		b.limits = map[string]backend.Limits{}
	}
	b.limits[p.Queue] = p.Limits
	return nil
}

func (b *shownSettings) Claim(ctx context.Context, p backend.ClaimParams) ([]backend.ClaimedJob, error) {
	b.mu.Lock()
	l := b.limits[p.Queue]
	b.mu.Unlock()
	if b.ratePerClaim && l.Rate > 0 {
		p.Max = min(p.Max, l.Rate)
	}
	return b.Backend.Claim(ctx, p)
}

func (b *shownSettings) Stats(ctx context.Context, queue string) (backend.Stats, error) {
	st, err := b.Backend.Stats(ctx, queue)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.paused[queue] {
		st.Paused = true
	}
	if l, ok := b.limits[queue]; ok {
		st.Limits = l
	}
	return st, err
}

// purgeForgets breaks "the settings outlive Purge".
type purgeForgets struct{ *memory.Backend }

func (b purgeForgets) Purge(ctx context.Context, p backend.PurgeParams) error {
	if err := b.Backend.Purge(ctx, p); err != nil {
		return err
	}
	if err := b.Backend.SetLimits(ctx, backend.LimitParams{Queue: p.Queue}); err != nil {
		return err
	}
	return b.Backend.Resume(ctx, p.Queue)
}
