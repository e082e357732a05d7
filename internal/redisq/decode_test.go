package redisq

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
)

func TestKeysFor(t *testing.T) {
	k := KeysFor("jobs")
	want := []string{
		"queue:{jobs}:pending", "queue:{jobs}:processing", "queue:{jobs}:scheduled",
		"queue:{jobs}:completed", "queue:{jobs}:dead", "queue:{jobs}:stats", "queue:{jobs}:marker",
		"queue:{jobs}:pending:1", "queue:{jobs}:pending:2", "queue:{jobs}:pending:3",
	}
	if got := k.scriptKeys(""); !reflect.DeepEqual(got, want) {
		t.Errorf("scriptKeys = %v, want %v", got, want)
	}
	if got := k.scriptKeys("r1"); !reflect.DeepEqual(got, append(want, "queue:{jobs}:req:r1")) {
		t.Errorf("scriptKeys with a request id = %v", got)
	}
	if k.Job("a1") != "queue:{jobs}:job:a1" || k.Events != "queue:{jobs}:events" || k.Workers != "queue:{jobs}:workers" {
		t.Errorf("Job/Events/Workers = %q, %q, %q", k.Job("a1"), k.Events, k.Workers)
	}
}

func TestReplyError(t *testing.T) {
	for msg, want := range map[string]error{
		"NOTFOUND j1":          backend.ErrNotFound,
		"EXISTS j1":            backend.ErrJobExists,
		"WRONGSTATE j1 is one": backend.ErrWrongState,
		"INVALIDSTATE nope":    backend.ErrInvalidState,
		"LOADING Redis is loading the dataset in memory":                                                  backend.ErrUnavailable,
		"MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk": backend.ErrUnavailable,
		"ERR max number of clients reached":                                                               backend.ErrUnavailable,
	} {
		if err := ReplyError(msg); !errors.Is(err, want) {
			t.Errorf("ReplyError(%q) = %v, want %v", msg, err, want)
		}
	}
	err := ReplyError("ERR user_script:1: boom")
	for _, e := range []error{backend.ErrNotFound, backend.ErrJobExists, backend.ErrWrongState, backend.ErrUnavailable} {
		if errors.Is(err, e) {
			t.Errorf("ReplyError(ERR) is %v", e)
		}
	}
}

func TestDecodeClaim(t *testing.T) {
	v := []any{int64(1000), int64(-1), int64(1), []any{
		[]any{"a", "tok.1", "pay", int64(2), int64(5), int64(900), int64(31000), "", "", "0", "0"},
		[]any{"b", "tok.2", "pay", int64(1), "5", "900", int64(31000), "email.send", `{"trace":"t1"}`, "3", "1500"},
	}}
	r, err := decodeClaim(v)
	if err != nil {
		t.Fatal(err)
	}
	want := backend.ClaimedJob{
		ID: "a", Token: "tok.1", Payload: []byte("pay"), Attempts: 2, MaxAttempts: 5,
		EnqueuedAt: time.UnixMilli(900), LeaseUntil: time.UnixMilli(31000),
	}
	want2 := backend.ClaimedJob{
		ID: "b", Token: "tok.2", Kind: "email.send", Payload: []byte("pay"), Headers: map[string]string{"trace": "t1"},
		Priority: 3, Timeout: 1500 * time.Millisecond, Attempts: 1, MaxAttempts: 5,
		EnqueuedAt: time.UnixMilli(900), LeaseUntil: time.UnixMilli(31000),
	}
	if r.now != 1000 || r.nextDue != -1 || !r.more || len(r.jobs) != 2 || !reflect.DeepEqual(r.jobs[0], want) ||
		!reflect.DeepEqual(r.jobs[1], want2) {
		t.Errorf("decodeClaim = %+v", r)
	}
	job := func(headers, priority string) []any {
		return []any{int64(1), int64(2), int64(0), []any{[]any{"a", "t", "p", int64(1), int64(1), int64(1), int64(1), "", headers, priority, "0"}}}
	}
	for _, bad := range []any{nil, "x", []any{int64(1)}, []any{int64(1), int64(2), int64(0), []any{[]any{"a"}}},
		job(`{"a":1}`, "0"), job(`["a"]`, "0"), job("", "4"), job("", "")} {
		if _, err := decodeClaim(bad); err == nil {
			t.Errorf("decodeClaim(%v) succeeded", bad)
		}
	}
}

func TestDecodeItems(t *testing.T) {
	errs, err := decodeItems([]any{"OK", "NOTFOUND", "LOSTCLAIM"}, []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] != nil || !errors.Is(errs[1], backend.ErrNotFound) || !errors.Is(errs[2], backend.ErrLostClaim) {
		t.Errorf("decodeItems = %v", errs)
	}
	if _, err := decodeItems([]any{"OK"}, []string{"a", "b"}); err == nil {
		t.Error("decodeItems with a short reply succeeded")
	}
	if errs, _ := decodeItems([]any{"WHAT"}, []string{"a"}); errs[0] == nil {
		t.Error("decodeItems accepted an unknown code")
	}
}

func TestDecodeJob(t *testing.T) {
	rec := []any{"id", "a", "payload", "p", "status", "processing", "attempts", "1", "max_attempts", "3",
		"enqueued_at_ms", "100", "run_at_ms", "150", "claimed_at_ms", "200", "lease_until_ms", "300",
		"last_error", "boom"}
	j, err := decodeJob(rec, "a")
	if err != nil {
		t.Fatal(err)
	}
	want := backend.JobInfo{
		ID: "a", State: backend.StateProcessing, Payload: []byte("p"), Attempts: 1, MaxAttempts: 3,
		EnqueuedAt: time.UnixMilli(100), ClaimedAt: time.UnixMilli(200), LeaseUntil: time.UnixMilli(300),
		LastError: "boom",
	}
	if !reflect.DeepEqual(j, want) {
		t.Errorf("decodeJob = %+v\nwant %+v", j, want)
	}
	for _, bad := range [][]any{
		{"status", "weird", "payload", "p", "attempts", "1", "max_attempts", "3", "enqueued_at_ms", "1"},
		{"status", "pending", "attempts", "1", "max_attempts", "3", "enqueued_at_ms", "1"},
		{"status", "pending", "payload", "p", "attempts", "x", "max_attempts", "3", "enqueued_at_ms", "1"},
	} {
		if _, err := decodeJob(bad, "a"); !errors.Is(err, backend.ErrCorruptJob) {
			t.Errorf("decodeJob(%v) = %v, want ErrCorruptJob", bad, err)
		}
	}
	if _, err := decodeJob([]any{"odd"}, "a"); err == nil {
		t.Error("decodeJob of an odd array succeeded")
	}
}

// TestDecodeSummaries reads summaries.lua's reply: each record as
// decodeJob reads Get's, with the preview as its payload and the size
// given apart; a preview longer than asked is a shape error.
func TestDecodeSummaries(t *testing.T) {
	rec := func(payload ...string) []any {
		r := []any{"status", "dead", "attempts", "2", "max_attempts", "3", "enqueued_at_ms", "100",
			"finished_at_ms", "400", "kind", "mail", "last_error", "boom"}
		for _, p := range payload {
			r = append(r, "payload", p)
		}
		return r
	}
	got, err := decodeSummaries([]any{
		[]any{"a", int64(1000), rec("abcd")},
		[]any{"b", int64(0), rec("")},
	}, 4)
	if err != nil {
		t.Fatal(err)
	}
	want := []backend.JobSummary{
		{ID: "a", State: backend.StateDead, Kind: "mail", Attempts: 2, MaxAttempts: 3, EnqueuedAt: time.UnixMilli(100),
			FinishedAt: time.UnixMilli(400), LastError: "boom", PayloadBytes: 1000, Preview: []byte("abcd")},
		{ID: "b", State: backend.StateDead, Kind: "mail", Attempts: 2, MaxAttempts: 3, EnqueuedAt: time.UnixMilli(100),
			FinishedAt: time.UnixMilli(400), LastError: "boom"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decodeSummaries = %+v\nwant %+v", got, want)
	}
	if got, err := decodeSummaries([]any{}, 4); err != nil || got == nil || len(got) != 0 {
		t.Errorf("decodeSummaries of no records = %v, %v; want an empty list", got, err)
	}
	if _, err := decodeSummaries([]any{[]any{"a", int64(5), rec()}}, 4); !errors.Is(err, backend.ErrCorruptJob) {
		t.Errorf("a record without its payload: %v, want ErrCorruptJob", err)
	}
	for _, bad := range []any{
		[]any{[]any{"a", int64(5), rec("abcde")}},
		[]any{[]any{"a", "x", rec("a")}},
		[]any{[]any{"a", int64(5)}},
		[]any{"a"},
		"a",
	} {
		if _, err := decodeSummaries(bad, 4); err == nil || errors.Is(err, backend.ErrCorruptJob) {
			t.Errorf("decodeSummaries(%v) = %v, want a shape error", bad, err)
		}
	}
}

func TestDecodeStats(t *testing.T) {
	reply := []any{int64(1), int64(2), int64(3), int64(4), int64(5),
		[]any{"enqueued_total", "10", "reclaimed_total", "7", "cancelled_total", "3"}, int64(1500), int64(2), int64(6),
		[]any{"paused", "1", "conc", "5", "rate", "200", "per_ms", "1000", "slot_wanted", "1", "kinds", "1"},
		[]any{"video", "2 0 0", "email", "0 10 60000"}}
	s, err := decodeStats(reply)
	if err != nil {
		t.Fatal(err)
	}
	want := backend.Stats{Pending: 1, Scheduled: 2, Processing: 3, Completed: 4, Dead: 5, EnqueuedTotal: 10, ReclaimedTotal: 7,
		Latency: 1500 * time.Millisecond, Workers: 2, Cancelled: 6, CancelledTotal: 3,
		Paused: true, Limits: backend.Limits{Concurrency: 5, Rate: 200, Per: time.Second},
		KindLimits: map[string]backend.Limits{"video": {Concurrency: 2}, "email": {Rate: 10, Per: time.Minute}}}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("decodeStats = %+v", s)
	}
	// A reply one element short is a shape error, not zero workers or
	// no settings.
	if _, err := decodeStats(reply[:7]); err == nil {
		t.Error("decodeStats of a reply without the workers count succeeded")
	}
	if _, err := decodeStats(append(reply[:7:7], "two", int64(6), []any{})); err == nil {
		t.Error("decodeStats of a workers count that is no integer succeeded")
	}
	if _, err := decodeStats(reply[:8]); err == nil {
		t.Error("decodeStats of a reply without the cancelled depth succeeded")
	}
	if _, err := decodeStats(reply[:9]); err == nil {
		t.Error("decodeStats of a reply without the settings succeeded")
	}
	if _, err := decodeStats(append(reply[:9:9], []any{"conc", "-1"}, []any{})); err == nil {
		t.Error("decodeStats of a negative concurrency limit succeeded")
	}
	if _, err := decodeStats(reply[:10]); err == nil {
		t.Error("decodeStats of a reply without the kinds' limits succeeded")
	}
	for _, bad := range []string{"2 0", "2 0 0 0", "x 0 0", "-1 0 0"} {
		if _, err := decodeStats(append(reply[:10:10], []any{"video", bad})); err == nil {
			t.Errorf("decodeStats of the kind limits %q succeeded", bad)
		}
	}
	// No settings: none.
	s, err = decodeStats(append(reply[:9:9], []any{}, []any{}))
	if err != nil || s.Paused || !s.Limits.IsZero() || s.KindLimits != nil {
		t.Errorf("decodeStats without settings = %+v, %v", s, err)
	}
}

func TestDecodeReclaim(t *testing.T) {
	r, err := decodeReclaim([]any{[]any{"a"}, []any{}})
	if err != nil || !reflect.DeepEqual(r.Requeued, []string{"a"}) || len(r.Dead) != 0 {
		t.Errorf("decodeReclaim = %+v, %v", r, err)
	}
}

func TestParseEvent(t *testing.T) {
	ev := ParseEvent("q", "completed a b")
	if ev.Queue != "q" || ev.Kind != backend.EventCompleted || !reflect.DeepEqual(ev.IDs, []string{"a", "b"}) {
		t.Errorf("ParseEvent = %+v", ev)
	}
	for _, kind := range []backend.EventKind{backend.EventPurged, backend.EventPaused, backend.EventResumed, backend.EventLimits} {
		if ev := ParseEvent("q", string(kind)); ev.Kind != kind || ev.IDs != nil {
			t.Errorf("ParseEvent(%s) = %#v, want nil IDs", kind, ev)
		}
	}
}
