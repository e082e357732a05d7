package redisq

import (
	"errors"
	"strings"
	"testing"

	"github.com/jobqueue-go/jobqueue/backend"
)

// TestReplyErrorMemory checks the error replies that the functions bring:
// Redis's refusal of a function while its memory is full, which is
// backend.ErrFull with Redis's reason; a Redis older than 7.0, which has
// no FCALL, which says what is needed; and a function Redis lacks, which
// is backend.ErrUnavailable and which the Engine tells apart, as go-redis
// (with its ERR code) and rueidis (without) report it.
func TestReplyErrorMemory(t *testing.T) {
	full := ReplyError("OOM command not allowed when used memory > 'maxmemory'.")
	if !errors.Is(full, backend.ErrFull) || !strings.Contains(full.Error(), "maxmemory") {
		t.Errorf("OOM reply: %v; want ErrFull with Redis's reason", full)
	}
	for _, msg := range []string{
		"ERR unknown command 'FCALL', with args beginning with: 'jobqueue_0123456789ab_claim' ",
		"unknown command `fcall`, with args beginning with: `jobqueue_0123456789ab_claim`, ",
	} {
		old := ReplyError(msg)
		if errors.Is(old, backend.ErrUnavailable) || !strings.Contains(old.Error(), "needs Redis 7.0 or later") {
			t.Errorf("%q: %v", msg, old)
		}
	}
	for _, msg := range []string{"ERR Function not found", "Function not found"} {
		missing := ReplyError(msg)
		if !errors.Is(missing, backend.ErrUnavailable) || !functionMissing(missing) {
			t.Errorf("%q: %v, want ErrUnavailable told apart as a missing function", msg, missing)
		}
	}
	if functionMissing(ReplyError("NOTFOUND Function not found")) || functionMissing(errors.New("ERR Function not found")) {
		t.Error("functionMissing took another error for a missing function")
	}
}
