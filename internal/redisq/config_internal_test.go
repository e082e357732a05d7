package redisq

import (
	"errors"
	"strings"
	"testing"

	"github.com/jobqueue-go/jobqueue/backend"
)

// TestReplyErrorMemory checks the two error replies that the scripts'
// flags line brings: Redis's refusal of a script while its memory is full,
// which is backend.ErrFull with Redis's reason, and a Redis older than 7.0
// that reads the line as Lua, which says what is needed.
func TestReplyErrorMemory(t *testing.T) {
	full := ReplyError("OOM command not allowed when used memory > 'maxmemory'.")
	if !errors.Is(full, backend.ErrFull) || !strings.Contains(full.Error(), "maxmemory") {
		t.Errorf("OOM reply: %v; want ErrFull with Redis's reason", full)
	}
	old := ReplyError("ERR Error compiling script (new function): user_script:1: unexpected symbol near '#'")
	if errors.Is(old, backend.ErrFull) || !strings.Contains(old.Error(), "need Redis 7.0 or later") {
		t.Errorf("compile error of the flags line: %v", old)
	}
}
