package webui

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jobqueue-go/jobqueue"
)

// Outages remembers, for each queue whose store stopped answering, when
// it did, so that every reply and the page give the same start however
// often they ask, and the log says it once as it begins and once as it
// ends rather than once per request.
type Outages struct {
	log   *slog.Logger
	who   string
	mu    sync.Mutex
	since map[string]time.Time
}

// NewOutages returns an empty record that logs to log, its messages
// starting with who ("dashboard").
func NewOutages(log *slog.Logger, who string) *Outages {
	return &Outages{log: log, who: who, since: map[string]time.Time{}}
}

// Failed records that queue's store did not answer, for reason, and
// returns when the outage began.
func (o *Outages) Failed(queue, reason string) time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	if t, ok := o.since[queue]; ok {
		return t
	}
	now := time.Now().UTC()
	o.since[queue] = now
	o.log.Warn(o.who+": queue unavailable", "queue", queue, "reason", reason)
	return now
}

// Answered records that queue's store answered, ending any outage.
func (o *Outages) Answered(queue string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if t, ok := o.since[queue]; ok {
		delete(o.since, queue)
		o.log.Info(o.who+": queue available again", "queue", queue, "down_for", time.Since(t).Round(time.Second).String())
	}
}

// Unavailable is the body of a 503: the reason on one line, the queue,
// and when the outage began.
type Unavailable struct {
	Error string    `json:"error"`
	Queue string    `json:"queue"`
	Since time.Time `json:"since"`
}

// OneLine returns err's message on one line: each distinct line of a
// joined error once, so that a page can show it as a status line.
func OneLine(err error) string {
	return oneLine(err.Error())
}

func oneLine(msg string) string {
	var lines []string
	for _, l := range strings.Split(msg, "\n") {
		if l = strings.TrimSpace(l); l != "" && !slices.Contains(lines, l) {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "; ")
}

// UnavailableReason returns the one-line reason, for a page, of a store
// that did not answer a call bounded by timeout (0 for none).
func UnavailableReason(err error, timeout time.Duration) string {
	// "queue unavailable: jobqueue: backend unavailable: …" would say it
	// twice, and each line of a joined error may start with it.
	msg := oneLine(strings.ReplaceAll(err.Error(), jobqueue.ErrUnavailable.Error()+": ", ""))
	if timeout > 0 && errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("queue unavailable: no answer within %v (%s)", timeout, msg)
	}
	return "queue unavailable: " + msg
}

// Reply answers a call on queue that failed with err, as Status says.
// A store that did not answer gets a 503 whose body is with's (the
// Unavailable, and what the page adds to it; nil for the Unavailable
// alone), its start recorded, unless the request went away (ctx ended, or
// err says it was cancelled): then there is no outage to record. timeout
// is the bound of the call, 0 for none.
func (o *Outages) Reply(ctx context.Context, w http.ResponseWriter, queue string, err error, timeout time.Duration, with func(Unavailable) any) {
	status := Status(err)
	switch {
	case status != http.StatusServiceUnavailable:
		WriteError(w, status, OneLine(err))
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		WriteError(w, status, "request cancelled")
	default:
		msg := UnavailableReason(err, timeout)
		u := Unavailable{Error: msg, Queue: queue, Since: o.Failed(queue, msg)}
		var body any = u
		if with != nil {
			body = with(u)
		}
		w.Header().Set("Retry-After", "2")
		WriteJSON(w, status, body)
	}
}

// Status returns the HTTP status that fits a queue call's error: the
// caller's mistakes (a bad value, an unknown job, a job in the wrong
// state), a capability the backend lacks (501), a store that takes no
// more jobs (507), else 503, a store that did not answer.
func Status(err error) int {
	switch {
	case errors.Is(err, jobqueue.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, jobqueue.ErrWrongState):
		return http.StatusConflict
	case errors.Is(err, jobqueue.ErrInvalidArgument), errors.Is(err, jobqueue.ErrInvalidState),
		errors.Is(err, jobqueue.ErrInvalidQueueName), errors.Is(err, jobqueue.ErrPayloadTooLarge):
		return http.StatusBadRequest
	case errors.Is(err, errors.ErrUnsupported):
		return http.StatusNotImplemented
	case errors.Is(err, jobqueue.ErrNotPermitted):
		// The store refuses this client (an ACL): no outage, and no
		// repeat will change it.
		return http.StatusForbidden
	case errors.Is(err, jobqueue.ErrFull):
		// Back-pressure, not a failure: the store (a Redis at its
		// maxmemory, a memory backend at its bounds) takes no new jobs
		// until some go, and says why.
		return http.StatusInsufficientStorage
	default:
		return http.StatusServiceUnavailable
	}
}
