package redistest

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

// MainWithServer is Main for a package whose Examples need Redis. An
// Example has no *testing.T to call Start or Shared with, and its output
// must not depend on what other tests, packages or runs left in a server;
// so MainWithServer gets a server of the package's own, as Start does
// (never the one JOBQUEUE_REDIS_URL names, which other packages use at the
// same time), passes it to use, and then runs the tests. The server starts
// empty, so an Example may use a fixed queue name, and it is stopped when
// the tests end.
//
// When no source gives a server, an Example cannot skip itself: the tests
// run with every Example skipped (-test.skip) after a line that says why,
// or, under JOBQUEUE_REQUIRE_REDIS or with a broken source, the binary
// fails without running them.
//
//	func TestMain(m *testing.M) {
//		redistest.MainWithServer(m, func(s *redistest.Server) { redisAddr = s.Addr })
//	}
func MainWithServer(m *testing.M, use func(*Server)) {
	os.Exit(runMainWithServer(m, currentEnvironment(), use))
}

func runMainWithServer(m *testing.M, env environment, use func(*Server)) int {
	// The flags are parsed here, not by m.Run, so -test.skip can be
	// extended.
	flag.Parse()
	s, err := acquire(env, config{}, false)
	if err != nil {
		if !shouldSkip(err, env.require) {
			fmt.Fprintln(os.Stderr, err)
			var nr *noRedisError
			if errors.As(err, &nr) && !nr.broken {
				fmt.Fprintln(os.Stderr, EnvRequire+" is set, so a missing Redis is a failure")
			}
			return 1
		}
		fmt.Fprintln(os.Stderr, "redistest: skipping the Examples:", strings.TrimPrefix(err.Error(), "redistest: "))
		skip := "^Example"
		if prev := flag.Lookup("test.skip").Value.String(); prev != "" {
			skip = prev + "|" + skip
		}
		if err := flag.Set("test.skip", skip); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	} else {
		track(s)
		use(s)
	}
	return RunMain(m)
}
