package jobqueue_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/memory"
)

// FuzzEnqueuePayload enqueues any bytes as a payload under a payload limit
// of 1 to 4096 bytes. A payload over the limit is refused with
// ErrPayloadTooLarge, one that is not JSON (the empty payload included)
// with ErrInvalidArgument, and neither stores anything; any other comes
// back from Claim and Get byte for byte, and decodes as JSON.
func FuzzEnqueuePayload(f *testing.F) {
	f.Add([]byte(`{"to":"ada@example.com"}`), uint16(64), false)
	f.Add([]byte(""), uint16(10), false)
	f.Add([]byte(nil), uint16(10), true)
	f.Add([]byte(`"12345678"`), uint16(10), true)   // at the limit
	f.Add([]byte(`"123456789"`), uint16(10), false) // one byte over
	f.Add([]byte(" null \n"), uint16(100), false)
	f.Add([]byte(`{"a":`), uint16(100), false)
	f.Add([]byte("\"\xff\""), uint16(100), true)
	f.Add([]byte(`"\u0000\ud800"`), uint16(100), false)
	f.Add([]byte(strings.Repeat("[", 10001)+strings.Repeat("]", 10001)), uint16(4095), false)
	f.Fuzz(func(t *testing.T, payload []byte, limit uint16, asBytes bool) {
		ctx := context.Background()
		lim := max(int(limit)%4097, 1)
		q, err := jobqueue.New(memory.New(), "fz", jobqueue.WithPayloadLimit(lim))
		if err != nil {
			t.Fatal(err)
		}
		var v any = json.RawMessage(payload)
		if asBytes {
			v = payload
		}
		id, err := q.Enqueue(ctx, v)
		switch {
		case len(payload) > lim:
			if !errors.Is(err, jobqueue.ErrPayloadTooLarge) {
				t.Fatalf("a %d-byte payload under a limit of %d: %v, want ErrPayloadTooLarge", len(payload), lim, err)
			}
		case !json.Valid(payload):
			if !errors.Is(err, jobqueue.ErrInvalidArgument) {
				t.Fatalf("payload %q is not JSON: %v, want ErrInvalidArgument", payload, err)
			}
		default:
			if err != nil {
				t.Fatalf("payload %q (limit %d): %v", payload, lim, err)
			}
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "jobqueue: ") {
				t.Errorf("error %q does not say where it comes from", err)
			}
			s, serr := q.Stats(ctx)
			if serr != nil || s.EnqueuedTotal != 0 || s.Pending != 0 || s.Scheduled != 0 {
				t.Fatalf("a refused payload left %+v, %v", s.Stats, serr)
			}
			return
		}
		info, err := q.Get(ctx, id)
		if err != nil || !bytes.Equal(info.Payload, payload) {
			t.Fatalf("Get = %q, %v; want %q", info.Payload, err, payload)
		}
		jobs, err := q.Claim(ctx, 1, 0)
		if err != nil || len(jobs) != 1 || jobs[0].ID != id {
			t.Fatalf("Claim = %v, %v", jobs, err)
		}
		if !bytes.Equal(jobs[0].Payload, payload) {
			t.Fatalf("claimed payload %q, enqueued %q", jobs[0].Payload, payload)
		}
		var decoded json.RawMessage
		if err := jobs[0].Decode(&decoded); err != nil || !bytes.Equal(decoded, bytes.TrimSpace(payload)) {
			t.Fatalf("Decode of the accepted payload %q: %q, %v", payload, decoded, err)
		}
	})
}

// FuzzJobDecode decodes any bytes as a claimed job's payload, which is
// what a record changed by hand in Redis can hand a worker: Decode never
// panics, fails exactly when the payload is not JSON, and says which job.
// Valid JSON may still not fit the value given (1e1000 is no float64):
// that is the caller's type, reported as such.
func FuzzJobDecode(f *testing.F) {
	for _, p := range []string{`{"to":"ada"}`, "", "null", `{"to":`, "\xff", `[1,2,3]`, `"\ud800"`, " 1 ", "1 2"} {
		f.Add([]byte(p))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		j := &jobqueue.Job{ID: "fz", Payload: payload}
		valid := json.Valid(payload)
		var raw json.RawMessage
		err := j.Decode(&raw)
		if (err == nil) != valid {
			t.Fatalf("Decode(%q) = %v; json.Valid says %v", payload, err, valid)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "jobqueue: decode payload of job fz: ") {
			t.Fatalf("Decode(%q) error %q does not name the job", payload, err)
		}
		if err == nil && !bytes.Equal(raw, bytes.TrimSpace(payload)) {
			t.Fatalf("Decode(%q) into a json.RawMessage = %q", payload, raw)
		}
		var v any
		err = j.Decode(&v)
		var typeErr *json.UnmarshalTypeError
		if valid && err != nil && !errors.As(err, &typeErr) {
			t.Fatalf("Decode(%q) of valid JSON into any: %v", payload, err)
		}
		if !valid && err == nil {
			t.Fatalf("Decode(%q) of invalid JSON into any succeeded", payload)
		}
		var typed struct {
			To   string         `json:"to"`
			N    int            `json:"n"`
			More map[string]any `json:"more"`
		}
		if err := j.Decode(&typed); err != nil && !strings.HasPrefix(err.Error(), "jobqueue: decode payload of job fz: ") {
			t.Fatalf("Decode(%q) into a struct: %q does not name the job", payload, err)
		}
		if err := j.Decode(nil); err == nil {
			t.Fatal("Decode(nil) succeeded")
		}
	})
}
