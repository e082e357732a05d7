package backend

import (
	"errors"
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
	}
	for _, c := range cases {
		if c.want == nil && c.err != nil || c.want != nil && !errors.Is(c.err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.err, c.want)
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
