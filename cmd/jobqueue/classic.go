package main

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jobqueue-go/jobqueue"
)

// The classic endpoints answer the page of the job-queue recipe this
// project grows from: its requests, its field names, its reply shapes and
// its lenience. Where the page sends a value out of range they clamp it,
// as the recipe's server does, rather than refuse it; the dashboard's own
// endpoints under /api/ refuse it with a 400.

// Limits of the classic endpoints.
const (
	// classicListCap bounds the pending and processing lists of GET /jobs,
	// which the recipe lists in full.
	classicListCap = 1000
	// classicHistory is how many completed and dead jobs GET /jobs lists,
	// most recent first, as the recipe does.
	classicHistory = 10
	// classicMaxCount and classicMaxPool are the recipe's ranges for an
	// enqueue's count and the pool's size.
	classicMaxCount = 50
	classicMaxPool  = 8
)

// classicJob is a job as the recipe's page reads it: status, attempts,
// payload (the job's JSON), result and last_error; the dashboard's fields
// come with it. Status is the recipe's name for the state, and the same
// word.
type classicJob struct {
	jobSummary
	Status  string          `json:"status"`
	Payload json.RawMessage `json:"payload"`
	Result  json.RawMessage `json:"result,omitempty"`
}

// classicList is one list of GET /jobs: the jobs of states, in that
// order, up to limit in all.
type classicList struct {
	name   string
	states []jobqueue.State
	limit  int
}

// classicLists are the recipe's four lists. The recipe retries a failed
// job at once, to pending; a job of ours that waits out its retry backoff
// is listed under pending, after the ready ones and with status
// "scheduled", so that the page, which has no scheduled list, still shows
// it.
var classicLists = []classicList{
	{"pending", []jobqueue.State{jobqueue.StatePending, jobqueue.StateScheduled}, classicListCap},
	{"processing", []jobqueue.State{jobqueue.StateProcessing}, classicListCap},
	{"completed", []jobqueue.State{jobqueue.StateCompleted}, classicHistory},
	{"failed", []jobqueue.State{jobqueue.StateDead}, classicHistory},
}

func (s *server) classicJobs(ctx context.Context, l classicList) ([]classicJob, error) {
	out := []classicJob{}
	seen := map[string]bool{} // a job that moved between two reads is listed once
	for _, state := range l.states {
		if len(out) == l.limit {
			break
		}
		infos, err := s.jobInfos(ctx, state, l.limit-len(out))
		if err != nil {
			return nil, err
		}
		for _, info := range infos {
			if seen[info.ID] {
				continue
			}
			seen[info.ID] = true
			js := s.listed(info.Summary(listPreviewBytes), state)
			// The whole payload is at hand: its recipient too, whatever
			// its size.
			js.Recipient = demoFields(info.Payload).Recipient
			cj := classicJob{jobSummary: js, Status: js.State, Payload: rawJSON(info.Payload)}
			if state == jobqueue.StateCompleted {
				cj.Result = rawJSON(info.Result)
			}
			out = append(out, cj)
		}
	}
	return out, nil
}

// handleClassicJobs answers GET /jobs: the recipe's four lists, with the
// stats and the workers besides.
func (s *server) handleClassicJobs(w http.ResponseWriter, r *http.Request) {
	names := make([]string, len(classicLists))
	for i, l := range classicLists {
		names[i] = l.name
	}
	s.writeLists(w, r, names, func(ctx context.Context, i int) (any, error) {
		return s.classicJobs(ctx, classicLists[i])
	}, nil)
}

// handleClassicEnqueue enqueues count jobs, count clamped to 1..50.
func (s *server) handleClassicEnqueue(w http.ResponseWriter, r *http.Request) {
	f, ok := readForm(w, r)
	if !ok {
		return
	}
	s.enqueue(w, r, f, f.clampInt("count", 1, 1, classicMaxCount), f.clampInt("priority", 0, 0, jobqueue.MaxPriority))
}

// handleClassicWorkersStart applies the knobs and runs the pool at the
// given size (default: its current size, or 4); size 0 stops it.
func (s *server) handleClassicWorkersStart(w http.ResponseWriter, r *http.Request) {
	s.classicChangePool(w, r, max(s.pool.size(), defaultPoolSize))
}

// handleClassicWorkersConfigure applies the knobs, and the size when one
// is given.
func (s *server) handleClassicWorkersConfigure(w http.ResponseWriter, r *http.Request) {
	s.classicChangePool(w, r, s.pool.size())
}

// classicChangePool applies every setting the form gives, each clamped
// into its range, and answers with the stats alone, as the recipe does. A
// missing or unreadable value leaves its setting as it is.
func (s *server) classicChangePool(w http.ResponseWriter, r *http.Request, defSize int) {
	f, ok := readForm(w, r)
	if !ok {
		return
	}
	size := f.clampInt("size", defSize, 0, classicMaxPool)
	cfg := s.pool.config()
	cfg.Latency = time.Duration(f.clampInt("work_latency_ms", int(cfg.Latency.Milliseconds()), 0, int(maxLatency.Milliseconds()))) * time.Millisecond
	cfg.FailRate = f.clampRate("fail_rate", cfg.FailRate)
	cfg.HangRate = f.clampRate("hang_rate", cfg.HangRate)
	s.pool.setConfig(cfg)
	s.pool.setSize(size)
	s.handleStats(w, r)
}

func (s *server) handleClassicWorkersStop(w http.ResponseWriter, r *http.Request) {
	if _, ok := readForm(w, r); !ok {
		return
	}
	s.pool.stop()
	s.handleStats(w, r)
}

// handleClassicReset stops the workers, as the recipe does, then deletes
// every job and counter of the queue. The stopped workers hand their jobs
// back first, so none of them writes to the queue after the purge.
func (s *server) handleClassicReset(w http.ResponseWriter, r *http.Request) {
	if _, ok := readForm(w, r); !ok {
		return
	}
	s.pool.stop()
	s.reset(w, r)
}

// first returns a field's first value, trimmed; "" when it is absent.
func (f *form) first(name string) string {
	return strings.TrimSpace(f.r.Form.Get(name))
}

// clampInt reads a whole number and clamps it into [lo, hi]; a missing or
// unreadable value gives def.
func (f *form) clampInt(name string, def, lo, hi int) int {
	n, err := strconv.Atoi(f.first(name))
	if err != nil {
		return def
	}
	return min(max(n, lo), hi)
}

// clampRate reads a number and clamps it into [0, 1]; a missing or
// unreadable value, or NaN, gives def.
func (f *form) clampRate(name string, def float64) float64 {
	x, err := strconv.ParseFloat(f.first(name), 64)
	if (err != nil && !errors.Is(err, strconv.ErrRange)) || math.IsNaN(x) {
		return def
	}
	return min(max(x, 0), 1)
}
