package backend

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestValidateQueueName(t *testing.T) {
	for _, ok := range []string{"jobs", "a", "A-z_0.9", strings.Repeat("q", MaxQueueNameLen)} {
		if err := ValidateQueueName(ok); err != nil {
			t.Errorf("ValidateQueueName(%q) = %v, want nil", ok, err)
		}
	}
	bad := []string{"", "a{b", "a}b", "a:b", "a*", "a?", "a[b]", `a\b`, "a b", "é", "caf\xe9",
		strings.Repeat("q", MaxQueueNameLen+1), "a\x00b", "a\nb"}
	for _, name := range bad {
		err := ValidateQueueName(name)
		if !errors.Is(err, ErrInvalidQueueName) {
			t.Errorf("ValidateQueueName(%q) = %v, want ErrInvalidQueueName", name, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), "jobqueue: ") {
			t.Errorf("message %q does not start with the package name", err)
		}
	}
}

func TestValidateID(t *testing.T) {
	if err := ValidateID("0123abc-_.:!"); err != nil {
		t.Errorf("ValidateID: %v", err)
	}
	for _, id := range []string{"", "a b", "a\tb", "é", "\x7f", strings.Repeat("i", MaxIDLen+1)} {
		if err := ValidateID(id); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("ValidateID(%q) = %v, want ErrInvalidArgument", id, err)
		}
	}
}

// TestValidateNewID checks that "." and "..", which a URL path cannot
// carry, are refused as the id of a new job but stay valid ids to read,
// so that a job stored before the rule can still be opened and deleted.
func TestValidateNewID(t *testing.T) {
	for _, id := range []string{".a", "a.", "...", "a..b", "0123abc-_.:!"} {
		if err := ValidateNewID(id); err != nil {
			t.Errorf("ValidateNewID(%q): %v", id, err)
		}
	}
	for _, id := range []string{".", "..", "", "a b", strings.Repeat("i", MaxIDLen+1)} {
		if err := ValidateNewID(id); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("ValidateNewID(%q) = %v, want ErrInvalidArgument", id, err)
		}
	}
	for _, id := range []string{".", ".."} {
		if err := ValidateID(id); err != nil {
			t.Errorf("ValidateID(%q) = %v: a stored job of that id could no longer be read", id, err)
		}
		if err := (EnqueueParams{Queue: "q", Jobs: []NewJob{{ID: "a", MaxAttempts: 1}, {ID: id, MaxAttempts: 1}}}).Validate(); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("EnqueueParams.Validate with id %q = %v, want ErrInvalidArgument", id, err)
		}
		if err := (DeleteParams{Queue: "q", ID: id}).Validate(); err != nil {
			t.Errorf("DeleteParams.Validate with id %q: %v", id, err)
		}
	}
}

func TestParamsValidate(t *testing.T) {
	ack := Ack{ID: "a", Token: "t"}
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"enqueue ok", EnqueueParams{Queue: "q", Jobs: []NewJob{{ID: "a", MaxAttempts: 1}}}.Validate(), nil},
		{"enqueue empty", EnqueueParams{Queue: "q"}.Validate(), ErrInvalidArgument},
		{"enqueue dup", EnqueueParams{Queue: "q", Jobs: []NewJob{{ID: "a", MaxAttempts: 1}, {ID: "a", MaxAttempts: 1}}}.Validate(), ErrInvalidArgument},
		{"enqueue attempts", EnqueueParams{Queue: "q", Jobs: []NewJob{{ID: "a"}}}.Validate(), ErrInvalidArgument},
		{"enqueue name", EnqueueParams{Queue: "q:x", Jobs: []NewJob{{ID: "a", MaxAttempts: 1}}}.Validate(), ErrInvalidQueueName},
		{"claim ok", ClaimParams{Queue: "q", Max: 1, Lease: time.Second}.Validate(), nil},
		{"claim max", ClaimParams{Queue: "q", Lease: time.Second}.Validate(), ErrInvalidArgument},
		{"claim lease", ClaimParams{Queue: "q", Max: 1}.Validate(), ErrInvalidArgument},
		{"claim wait", ClaimParams{Queue: "q", Max: 1, Lease: time.Second, Wait: -1}.Validate(), ErrInvalidArgument},
		{"complete ok", CompleteParams{Queue: "q", Items: []Completion{{Ack: ack}}}.Validate(), nil},
		{"complete token", CompleteParams{Queue: "q", Items: []Completion{{Ack: Ack{ID: "a"}}}}.Validate(), ErrInvalidArgument},
		{"complete retention", CompleteParams{Queue: "q", Items: []Completion{{Ack: ack}}, Retention: Retention{Max: -1}}.Validate(), ErrInvalidArgument},
		{"fail delay", FailParams{Queue: "q", Items: []Failure{{Ack: ack, Delay: -1}}}.Validate(), ErrInvalidArgument},
		{"fail snooze ok", FailParams{Queue: "q", Items: []Failure{{Ack: ack, Snooze: true, Delay: time.Second}}}.Validate(), nil},
		{"fail dead and snooze", FailParams{Queue: "q", Items: []Failure{{Ack: ack}, {Ack: Ack{ID: "b", Token: "t"}, Dead: true, Snooze: true}}}.Validate(), ErrInvalidArgument},
		{"fail snooze negative delay", FailParams{Queue: "q", Items: []Failure{{Ack: ack, Snooze: true, Delay: -1}}}.Validate(), ErrInvalidArgument},
		{"claim dead retention ok", ClaimParams{Queue: "q", Max: 1, Lease: time.Second, DeadRetention: Retention{Max: 10, TTL: time.Hour}}.Validate(), nil},
		{"claim dead retention max", ClaimParams{Queue: "q", Max: 1, Lease: time.Second, DeadRetention: Retention{Max: -1}}.Validate(), ErrInvalidArgument},
		{"claim dead retention ttl", ClaimParams{Queue: "q", Max: 1, Lease: time.Second, DeadRetention: Retention{Max: 1, TTL: -time.Second}}.Validate(), ErrInvalidArgument},
		{"extend none", ExtendParams{Queue: "q", Lease: time.Second}.Validate(), ErrInvalidArgument},
		{"release ok", ReleaseParams{Queue: "q", Items: []Ack{ack}}.Validate(), nil},
		{"reclaim max", ReclaimParams{Queue: "q"}.Validate(), ErrInvalidArgument},
		{"list state", ListParams{Queue: "q", State: "done", Limit: 1}.Validate(), ErrInvalidState},
		{"list limit", ListParams{Queue: "q", State: StatePending}.Validate(), ErrInvalidArgument},
		{"list offset", ListParams{Queue: "q", State: StatePending, Limit: 1, Offset: -1}.Validate(), ErrInvalidArgument},
		{"job ref", ValidateJobRef("q", ""), ErrInvalidArgument},
		{"purge ok", PurgeParams{Queue: "q", RequestID: "r-1"}.Validate(), nil},
		{"purge request id", PurgeParams{Queue: "q", RequestID: "r 1"}.Validate(), ErrInvalidArgument},
		{"purge name", PurgeParams{Queue: "q:x"}.Validate(), ErrInvalidQueueName},
		{"retry dead ok", RetryDeadParams{Queue: "q", ID: "a"}.Validate(), nil},
		{"retry dead id", RetryDeadParams{Queue: "q", ID: "é"}.Validate(), ErrInvalidArgument},
		{"delete ok", DeleteParams{Queue: "q", ID: "a", RequestID: strings.Repeat("r", MaxRequestIDLen)}.Validate(), nil},
		{"delete request id", DeleteParams{Queue: "q", ID: "a", RequestID: strings.Repeat("r", MaxRequestIDLen+1)}.Validate(), ErrInvalidArgument},
		{"claim request id", ClaimParams{Queue: "q", Max: 1, Lease: time.Second, RequestID: "r\x00"}.Validate(), ErrInvalidArgument},
		{"reclaim request id", ReclaimParams{Queue: "q", Max: 1, RequestID: "é"}.Validate(), ErrInvalidArgument},
		{"summaries ok", SummariesParams{Queue: "q", IDs: manyIDs(MaxSummaries), PreviewBytes: MaxPreviewBytes}.Validate(), nil},
		{"summaries none", SummariesParams{Queue: "q"}.Validate(), nil},
		{"summaries too many", SummariesParams{Queue: "q", IDs: manyIDs(MaxSummaries + 1)}.Validate(), ErrInvalidArgument},
		{"summaries dup", SummariesParams{Queue: "q", IDs: []string{"a", "b", "a"}}.Validate(), ErrInvalidArgument},
		{"summaries id", SummariesParams{Queue: "q", IDs: []string{"a", ""}}.Validate(), ErrInvalidArgument},
		{"summaries preview", SummariesParams{Queue: "q", IDs: []string{"a"}, PreviewBytes: MaxPreviewBytes + 1}.Validate(), ErrInvalidArgument},
		{"summaries negative preview", SummariesParams{Queue: "q", IDs: []string{"a"}, PreviewBytes: -1}.Validate(), ErrInvalidArgument},
		{"summaries name", SummariesParams{Queue: "q}", IDs: []string{"a"}}.Validate(), ErrInvalidQueueName},
	}
	for _, c := range cases {
		if c.want == nil && c.err != nil || c.want != nil && !errors.Is(c.err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.err, c.want)
		}
	}
}

func TestValidateKind(t *testing.T) {
	for _, ok := range []string{"", "email", "send_email.v2", "A-z_0.9", strings.Repeat("k", MaxKindLen)} {
		if err := ValidateKind(ok); err != nil {
			t.Errorf("ValidateKind(%q) = %v, want nil", ok, err)
		}
	}
	bad := []string{"a b", "a:b", "a{b}", "a*", "é", "caf\xe9", "a\x00b", "a\nb", "a/b", strings.Repeat("k", MaxKindLen+1)}
	for _, kind := range bad {
		err := ValidateKind(kind)
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("ValidateKind(%q) = %v, want ErrInvalidArgument", kind, err)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "jobqueue: invalid argument: ") || strings.Count(msg, "jobqueue:") != 1 {
			t.Errorf("message %q", msg)
		}
	}
}

func TestValidateHeaders(t *testing.T) {
	many := func(n int) map[string]string {
		h := make(map[string]string, n)
		for i := range n {
			h[fmt.Sprintf("h%d", i)] = "v"
		}
		return h
	}
	// Three values that each fit, and together pass the total.
	big := strings.Repeat("v", maxHeaderValue)
	ok := []map[string]string{
		nil,
		{},
		{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "tenant": "acme"},
		{"empty-value": ""},
		{"unicode": "café ☕ 日本"},
		{"tab-free.name_0": "spaces are fine"},
		many(MaxHeaders),
		{strings.Repeat("n", MaxHeaderNameLen): "v"},
		{"a": big, "b": strings.Repeat("v", MaxHeaderBytes-len(big)-2)},
	}
	for _, h := range ok {
		if err := ValidateHeaders(h); err != nil {
			t.Errorf("ValidateHeaders(%d headers) = %v, want nil", len(h), err)
		}
	}
	bad := map[string]map[string]string{
		"too many":            many(MaxHeaders + 1),
		"empty name":          {"": "v"},
		"name too long":       {strings.Repeat("n", MaxHeaderNameLen+1): "v"},
		"name with space":     {"a b": "v"},
		"name with colon":     {"a:b": "v"},
		"name not ASCII":      {"é": "v"},
		"value too long":      {"a": big + "v"},
		"value newline":       {"a": "line\nbreak"},
		"value carriage ret":  {"a": "x\ry"},
		"value tab":           {"a": "x\ty"},
		"value NUL":           {"a": "x\x00y"},
		"value DEL":           {"a": "x\x7fy"},
		"value invalid UTF-8": {"a": "caf\xe9"},
		"value lone byte":     {"a": "\xff"},
		"total too large":     {"a": big, "b": big, "c": "vvv"},
	}
	for name, h := range bad {
		err := ValidateHeaders(h)
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: ValidateHeaders = %v, want ErrInvalidArgument", name, err)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "jobqueue: invalid argument: ") || strings.Count(msg, "jobqueue:") != 1 {
			t.Errorf("%s: message %q", name, msg)
		}
	}
}

// TestNewJobValidate checks the fields of NewJob beyond id and attempts,
// one bad field at a time in an otherwise good job that follows a good one:
// the message names the job.
func TestNewJobValidate(t *testing.T) {
	good := NewJob{ID: "good", MaxAttempts: 1, Kind: "email", Headers: map[string]string{"tenant": "acme"}, Priority: MaxPriority, Timeout: time.Second, Delay: time.Second, Expiry: 2 * time.Second}
	if err := (EnqueueParams{Queue: "q", Jobs: []NewJob{good}}).Validate(); err != nil {
		t.Fatalf("a job using every field: %v", err)
	}
	cases := map[string]func(*NewJob){
		"bad kind":                  func(j *NewJob) { j.Kind = "send email" },
		"kind too long":             func(j *NewJob) { j.Kind = strings.Repeat("k", MaxKindLen+1) },
		"bad header":                func(j *NewJob) { j.Headers = map[string]string{"a": "x\ny"} },
		"negative priority":         func(j *NewJob) { j.Priority = -1 },
		"priority over max":         func(j *NewJob) { j.Priority = MaxPriority + 1 },
		"negative timeout":          func(j *NewJob) { j.Timeout = -time.Millisecond },
		"negative expiry":           func(j *NewJob) { j.Expiry = -time.Millisecond },
		"expiry equals delay":       func(j *NewJob) { j.Delay, j.Expiry = time.Second, time.Second },
		"expiry before delay":       func(j *NewJob) { j.Delay, j.Expiry = time.Minute, time.Second },
		"negative expiry and delay": func(j *NewJob) { j.Delay, j.Expiry = -time.Second, -time.Millisecond },
	}
	for name, mod := range cases {
		bad := NewJob{ID: "bad", MaxAttempts: 1}
		mod(&bad)
		err := EnqueueParams{Queue: "q", Jobs: []NewJob{good, bad}}.Validate()
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: got %v, want ErrInvalidArgument", name, err)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "jobqueue: invalid argument: ") || strings.Count(msg, "jobqueue:") != 1 || !strings.Contains(msg, `job "bad": `) {
			t.Errorf("%s: message %q", name, msg)
		}
	}
	// The zero values are the defaults, and an expiry with no delay (or
	// a negative one, which means now) needs only to be positive.
	for name, j := range map[string]NewJob{
		"zero values":              {ID: "a", MaxAttempts: 1},
		"expiry, no delay":         {ID: "a", MaxAttempts: 1, Expiry: time.Nanosecond},
		"expiry, negative delay":   {ID: "a", MaxAttempts: 1, Expiry: time.Millisecond, Delay: -time.Hour},
		"delay, no expiry":         {ID: "a", MaxAttempts: 1, Delay: time.Hour},
		"lowest priority, no kind": {ID: "a", MaxAttempts: 1, Priority: 0, Kind: ""},
	} {
		if err := (EnqueueParams{Queue: "q", Jobs: []NewJob{j}}).Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestParseState(t *testing.T) {
	for _, s := range States {
		if got, err := ParseState(string(s)); err != nil || got != s {
			t.Errorf("ParseState(%q) = %q, %v", s, got, err)
		}
	}
	if _, err := ParseState("failed"); !errors.Is(err, ErrInvalidState) {
		t.Errorf("ParseState(dead) = %v, want ErrInvalidState", err)
	}
}

// Errors name the package once, at their start, and then where in the call
// the bad input is.
func TestValidateMessages(t *testing.T) {
	for _, err := range []error{
		EnqueueParams{Queue: "q", Jobs: []NewJob{{ID: "a", MaxAttempts: 1}, {ID: "a b", MaxAttempts: 1}}}.Validate(),
		CompleteParams{Queue: "q", Items: []Completion{{Ack: Ack{ID: "a", Token: "t"}}, {Ack: Ack{ID: "", Token: "t"}}}}.Validate(),
		EnqueueParams{Queue: "q", Jobs: []NewJob{{ID: "a", MaxAttempts: 1}}, RequestID: strings.Repeat("r", MaxRequestIDLen+1)}.Validate(),
	} {
		msg := err.Error()
		if !strings.HasPrefix(msg, "jobqueue: invalid argument: ") || strings.Count(msg, "jobqueue:") != 1 {
			t.Errorf("message %q", msg)
		}
	}
	if msg := (EnqueueParams{Queue: "q", Jobs: []NewJob{{ID: "a", MaxAttempts: 1}, {ID: "a b", MaxAttempts: 1}}}).Validate().Error(); !strings.Contains(msg, "job 1: ") {
		t.Errorf("message %q does not say which job", msg)
	}
}

func TestEventKindQueueWide(t *testing.T) {
	for _, k := range []EventKind{EventPurged, EventPaused, EventResumed, EventLimits} {
		if !k.QueueWide() {
			t.Errorf("%s is not queue-wide", k)
		}
	}
	for _, k := range []EventKind{EventEnqueued, EventClaimed, EventCompleted, EventRetrying, EventSnoozed, EventDead,
		EventReclaimed, EventReleased, EventRetried, EventDeleted, EventCancelled, ""} {
		if k.QueueWide() {
			t.Errorf("%q is queue-wide, but its events name jobs", k)
		}
	}
}

// manyIDs returns n distinct job ids.
func manyIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("job-%d", i)
	}
	return ids
}

// TestJobInfoSummary checks that a summary keeps every field of the record
// but the payload and the result, cut the payload to the preview and
// copies it.
func TestJobInfoSummary(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_000)
	info := JobInfo{ID: "a", State: StateDead, Kind: "k", Payload: []byte("héllo"), Headers: map[string]string{"h": "v"},
		Priority: 2, Timeout: time.Second, Attempts: 3, MaxAttempts: 4, EnqueuedAt: at, ExpiresAt: at.Add(1), RunAt: at.Add(2),
		ClaimedAt: at.Add(3), LeaseUntil: at.Add(4), FinishedAt: at.Add(5), Result: []byte("r"), LastError: "boom"}
	want := JobSummary{ID: "a", State: StateDead, Kind: "k", Headers: map[string]string{"h": "v"},
		Priority: 2, Timeout: time.Second, Attempts: 3, MaxAttempts: 4, EnqueuedAt: at, ExpiresAt: at.Add(1), RunAt: at.Add(2),
		ClaimedAt: at.Add(3), LeaseUntil: at.Add(4), FinishedAt: at.Add(5), LastError: "boom", PayloadBytes: 6, Preview: []byte("h\xc3")}
	got := info.Summary(2)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Summary(2) = %+v, want %+v", got, want)
	}
	got.Preview[0] = 'X'
	if info.Payload[0] != 'h' {
		t.Error("the preview shares the payload's memory")
	}
	if p := info.Summary(100).Preview; string(p) != "héllo" {
		t.Errorf("Summary(100).Preview = %q, want the whole payload", p)
	}
	if p := info.Summary(0).Preview; p != nil {
		t.Errorf("Summary(0).Preview = %q, want nil", p)
	}
}
