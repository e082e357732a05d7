//go:build unix

package redisqtest

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue/conformance/redistest"
)

// freeze stops srv's process with SIGSTOP and returns once it is stopped,
// as /proc says; thaw (SIGCONT) lets it go on, and the test's cleanup
// thaws it in any case. A frozen replica keeps its link to the master
// open, and acknowledges nothing. Without /proc (not Linux) the test is
// skipped.
func freeze(t *testing.T, srv *redistest.Server) (thaw func()) {
	t.Helper()
	pid := srv.PID()
	if pid == 0 {
		t.Fatalf("redisqtest: %s is not a process of this test", srv.Addr)
	}
	stat := fmt.Sprintf("/proc/%d/stat", pid)
	if _, err := os.Stat(stat); err != nil {
		t.Skipf("redisqtest: cannot tell when process %d is stopped: %v", pid, err)
	}
	thaw = func() { _ = syscall.Kill(pid, syscall.SIGCONT) }
	t.Cleanup(thaw)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("redisqtest: SIGSTOP %d: %v", pid, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(stat)
		// The state follows the parenthesised command name: "pid (comm) T ...".
		if i := strings.LastIndexByte(string(b), ')'); err == nil && i >= 0 && strings.HasPrefix(string(b[i+1:]), " T") {
			return thaw
		}
		if time.Now().After(deadline) {
			t.Fatalf("redisqtest: process %d did not stop: %q %v", pid, b, err)
		}
		time.Sleep(time.Millisecond)
	}
}
