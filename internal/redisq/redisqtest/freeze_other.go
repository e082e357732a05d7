//go:build !unix

package redisqtest

import (
	"testing"

	"github.com/jobqueue-go/jobqueue/conformance/redistest"
)

// freeze needs SIGSTOP; the test is skipped.
func freeze(t *testing.T, srv *redistest.Server) (thaw func()) {
	t.Skip("redisqtest: freezing a server needs SIGSTOP")
	return nil
}
