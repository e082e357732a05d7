package dashboard

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"

	"github.com/jobqueue-go/jobqueue"
)

// actionFunc is one change the page can ask for: it reads its fields
// from r's form and returns the reply's fields.
type actionFunc func(ctx context.Context, q *jobqueue.Queue, r *http.Request) (map[string]any, error)

// actions are the API's changes, by path under api/. Each takes its
// fields as a form (application/x-www-form-urlencoded): queue, and id
// for one job's.
func (h *handler) actions() map[string]actionFunc {
	return map[string]actionFunc{
		"jobs/retry":  oneJob(func(ctx context.Context, q *jobqueue.Queue, id string) error { return q.RetryDead(ctx, id) }),
		"jobs/delete": oneJob(func(ctx context.Context, q *jobqueue.Queue, id string) error { return q.Delete(ctx, id) }),
		"jobs/cancel": oneJob(func(ctx context.Context, q *jobqueue.Queue, id string) error { return q.Cancel(ctx, id) }),
		"dead/retry":  allDead(func(ctx context.Context, q *jobqueue.Queue, id string) error { return q.RetryDead(ctx, id) }),
		"dead/delete": allDead(func(ctx context.Context, q *jobqueue.Queue, id string) error { return q.Delete(ctx, id) }),
		"pause": func(ctx context.Context, q *jobqueue.Queue, _ *http.Request) (map[string]any, error) {
			return map[string]any{"paused": true}, q.Pause(ctx)
		},
		"resume": func(ctx context.Context, q *jobqueue.Queue, _ *http.Request) (map[string]any, error) {
			return map[string]any{"paused": false}, q.Resume(ctx)
		},
	}
}

// action returns the handler of one change: refused on a read-only
// dashboard, else run on the queue the form names.
func (h *handler) action(act actionFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if h.cfg.readOnly {
			writeError(w, http.StatusForbidden, "this dashboard is read-only: it changes no queue")
			return
		}
		if !readForm(w, r) {
			return
		}
		q, ok := h.queue(w, r)
		if !ok {
			return
		}
		ctx, cancel := h.call(r)
		defer cancel()
		out, err := act(ctx, q, r)
		if err != nil {
			h.failed(w, r, q, err)
			return
		}
		h.outages.Answered(q.Name())
		out["queue"] = q.Name()
		writeJSON(w, http.StatusOK, out)
	}
}

// oneJob is an action on the job its form's id names.
func oneJob(do func(ctx context.Context, q *jobqueue.Queue, id string) error) actionFunc {
	return func(ctx context.Context, q *jobqueue.Queue, r *http.Request) (map[string]any, error) {
		id := r.PostFormValue("id")
		if id == "" {
			return nil, fmt.Errorf("%w: the id field is missing", jobqueue.ErrInvalidArgument)
		}
		if err := do(ctx, q, id); err != nil {
			return nil, err
		}
		return map[string]any{"id": id}, nil
	}
}

// allDead is an action on the oldest dead jobs, BulkBatch at most; the
// reply says how many it did and how many dead jobs are left, and the
// page repeats it until none is. A job that left the dead list meanwhile
// (retried or deleted by someone else) is passed over.
func allDead(do func(ctx context.Context, q *jobqueue.Queue, id string) error) actionFunc {
	return func(ctx context.Context, q *jobqueue.Queue, _ *http.Request) (map[string]any, error) {
		ids, err := q.List(ctx, jobqueue.StateDead, 0, BulkBatch)
		if err != nil {
			return nil, err
		}
		done := 0
		for _, id := range ids {
			err := do(ctx, q, id)
			switch {
			case err == nil:
				done++
			case errors.Is(err, jobqueue.ErrNotFound), errors.Is(err, jobqueue.ErrWrongState):
			default:
				return nil, err
			}
		}
		st, err := q.Stats(ctx)
		if err != nil {
			return nil, err
		}
		return map[string]any{"done": done, "remaining": st.Dead}, nil
	}
}

// readForm parses a POST's form, answering 413, 415 or 400 itself when it
// cannot.
func readForm(w http.ResponseWriter, r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	switch {
	case mt == "application/x-www-form-urlencoded", ct == "" && r.ContentLength == 0:
	default:
		writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("unsupported Content-Type %q: send form fields as application/x-www-form-urlencoded", ct))
		return false
	}
	if err := r.ParseForm(); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", maxBody))
			return false
		}
		writeError(w, http.StatusBadRequest, "malformed form: "+err.Error())
		return false
	}
	return true
}
