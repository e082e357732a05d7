package jobqueue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
)

// A running Worker beats each queue it serves whose backend implements
// backend.WorkerTracker, so that the queue's Stats.Workers counts it: at
// the start of Run, then every beat interval, and, as Run returns, once
// more with a TTL of zero, which takes it off the count at once. A Worker
// that dies without that last beat stops being counted when its TTL runs
// out. The same goroutine registers each queue whose backend implements
// backend.QueueRegistry (see registry.go): at the start, before the first
// beat, unless its Queue value registered it already; and then at the
// end of the first beat interval that ends refreshEvery or more after the
// last registration.

const (
	// beatsPerTTL is how many beat intervals a beat lasts: a beat or two
	// may be late or lost without the Worker dropping out of the count.
	beatsPerTTL = 3
	// minBeatInterval bounds the interval from below: the count is for
	// people and dashboards, and an idle Worker should cost its store
	// little, so a Worker beats at most every 10 s, whatever its
	// heartbeat interval (one that dies stops counting within 30 s).
	minBeatInterval = 10 * time.Second
	// lastBeatTimeout bounds the beat that takes a stopping Worker off
	// the count; a backend that does not answer by then lets the TTL run
	// out instead.
	lastBeatTimeout = 2 * time.Second
)

// beatInterval returns how often a Worker whose heartbeat interval is
// heartbeat beats: the heartbeat interval, but at least minBeatInterval
// and short enough that beatsPerTTL intervals fit in backend.MaxBeatTTL.
// Each beat lasts beatsPerTTL intervals.
func beatInterval(heartbeat time.Duration) time.Duration {
	return min(max(heartbeat, minBeatInterval), backend.MaxBeatTTL/beatsPerTTL)
}

// beatTarget is one served queue that a Worker beats or registers, or
// both.
type beatTarget struct {
	q *Queue
	// t is nil when the queue's backend tracks no workers, and r when it
	// keeps no registry.
	t   backend.WorkerTracker
	r   backend.QueueRegistry
	log *slog.Logger
}

// startPresence starts the Worker's beats and registrations and returns
// the function that stops them and sends the last beat. They run on until
// then, whatever happens to ctx, whose values they keep. It starts nothing
// when no served queue's backend tracks workers or keeps a registry.
func (w *Worker) startPresence(ctx context.Context) (stop func()) {
	var targets []beatTarget
	for _, sq := range w.queues {
		t, _ := sq.q.b.(backend.WorkerTracker)
		r, _ := sq.q.b.(backend.QueueRegistry)
		if sq.q.cfg.unlisted {
			r = nil
		}
		if t == nil && r == nil {
			continue
		}
		log := w.log
		if len(w.queues) > 1 {
			log = log.With("queue", sq.q.name)
		}
		targets = append(targets, beatTarget{q: sq.q, t: t, r: r, log: log})
	}
	if len(targets) == 0 {
		return func() {}
	}
	id := processID()
	interval := w.beatEvery
	ttl := beatsPerTTL * interval
	beatCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The queues are registered before the first beat, all at once,
		// each for registerTimeout at most. Later registrations run beside
		// the beats, one round at a time: a registry that is slow to
		// answer (on Cluster it may live on another node) never delays a
		// beat past its TTL.
		var regs sync.WaitGroup
		for _, b := range targets {
			if b.r != nil {
				regs.Go(func() { b.q.registerOnce(beatCtx, b.r, b.log) })
			}
		}
		regs.Wait()
		defer regs.Wait()
		registered := time.Now()
		var refreshing atomic.Bool
		beatAll(beatCtx, targets, id, ttl)
		every(beatCtx, interval, func() {
			beatAll(beatCtx, targets, id, ttl)
			if time.Since(registered) < w.refreshEvery || !refreshing.CompareAndSwap(false, true) {
				return
			}
			registered = time.Now()
			regs.Go(func() {
				defer refreshing.Store(false)
				var round sync.WaitGroup
				for _, b := range targets {
					if b.r != nil {
						round.Go(func() { b.q.refresh(beatCtx, b.r, b.log) })
					}
				}
				round.Wait()
			})
		})
	}()
	return func() {
		cancel()
		<-done
		last, cancel := context.WithTimeout(context.WithoutCancel(ctx), lastBeatTimeout)
		defer cancel()
		beatAll(last, targets, id, 0)
	}
}

// beatAll beats every target once, each call bounded by ttl (a beat that
// arrives later would be out of date), or by lastBeatTimeout for the last
// beat. A failed beat is logged at debug level only: the next one may
// succeed, and a backend that is away is reported by the Worker's claims
// and acknowledgements. Beats cut short by stop are not logged.
func beatAll(ctx context.Context, targets []beatTarget, id string, ttl time.Duration) {
	bound := ttl
	if bound == 0 {
		bound = lastBeatTimeout
	}
	for _, b := range targets {
		if b.t == nil {
			continue
		}
		callCtx, cancel := context.WithTimeout(ctx, bound)
		err := b.t.Beat(callCtx, backend.BeatParams{Queue: b.q.name, ID: id, TTL: ttl})
		cancel()
		if err != nil && !errors.Is(err, context.Canceled) {
			b.log.Debug("jobqueue: worker beat failed", "ttl", ttl, "error", err)
		}
	}
}

// processID names a Worker among the processes of its queues:
// host:pid:random, the random part telling apart the Workers of one
// process. The host name is cut to the characters a backend.BeatParams.ID
// allows, without colons, and to 64 bytes.
func processID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	host = strings.Map(func(r rune) rune {
		if r <= ' ' || r > '~' || r == ':' {
			return '_'
		}
		return r
	}, host)
	if len(host) > 64 {
		host = host[:64]
	}
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms.
	return host + ":" + strconv.Itoa(os.Getpid()) + ":" + hex.EncodeToString(b[:])
}
