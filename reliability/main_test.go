package reliability

import (
	"os"
	"testing"

	"github.com/jobqueue-go/jobqueue/conformance/redistest"
)

// TestMain runs either the tests or, when the test binary was re-executed as
// a worker process by a scenario, that worker (see child_test.go). The tests
// fail if any goroutine of this process outlives them.
func TestMain(m *testing.M) {
	if isChild() {
		os.Exit(runChild())
	}
	code := redistest.RunMain(m)
	if code == 0 {
		if err := findLeaks(); err != nil {
			os.Stderr.WriteString("reliability: goroutines leaked: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}
