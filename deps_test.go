package jobqueue_test

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestRootImportsNoOtherModule lists what the root package builds (go list
// -deps, its tests' imports left out) and fails if anything comes from
// outside the standard library and this module: every user of jobqueue
// builds those, so a dependency such as a cron parser (jqcron), Prometheus
// (jqprom) or OpenTelemetry (jqotel) belongs in a package of its own,
// which only the programs that use it build.
func TestRootImportsNoOtherModule(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatalf("the go command, which lists the root package's dependencies, is not found: %v", err)
		}
		t.Skipf("lists the root package's dependencies with the go command, which is not found: %v", err)
	}
	const module = "github.com/jobqueue-go/jobqueue"
	out, err := exec.Command(goCmd, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list -deps .: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list -deps .: %v", err)
	}
	var ours int
	for pkg := range strings.FieldsSeq(string(out)) {
		if pkg == module || strings.HasPrefix(pkg, module+"/") {
			ours++
			continue
		}
		t.Errorf("the root package builds %s, from another module: move what needs it to a package of its own", pkg)
	}
	if ours == 0 {
		t.Fatalf("go list -deps . listed none of this module's packages, not even the root: %q", out)
	}
}
