package reliability

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// envReport names a file that receives one Markdown table row per scenario,
// for the README's "Reliability" section.
const envReport = "JOBQUEUE_RELIABILITY_REPORT"

// Row is one scenario's line in the reliability table.
type Row struct {
	// Scenario names what was tested; Injected says what fault was injected.
	Scenario, Injected string
	// Jobs counts the jobs enqueued; Lost and Duplicates count jobs that
	// never finished and extra runs of a job.
	Jobs, Lost, Duplicates int
	// Result says what was checked and found, in a few words.
	Result string
}

var reportMu sync.Mutex

// report logs row and, when JOBQUEUE_RELIABILITY_REPORT names a file,
// appends it there as a Markdown table row, named after the test.
func report(t testing.TB, row Row) {
	t.Helper()
	line := fmt.Sprintf("| %s | %s | %s | %d | %d | %d | %s |", t.Name(), row.Scenario, row.Injected, row.Jobs, row.Lost, row.Duplicates, row.Result)
	t.Log(line)
	path := os.Getenv(envReport)
	if path == "" {
		return
	}
	reportMu.Lock()
	defer reportMu.Unlock()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Errorf("%s: %v", envReport, err)
		return
	}
	defer f.Close()
	if _, err := fmt.Fprintln(f, line); err != nil {
		t.Errorf("%s: %v", envReport, err)
	}
}

// scenarioName is a scenario's name in the report, which says when its
// queue was sharded.
func scenarioName(name string, shards int) string {
	if shards > 1 {
		return fmt.Sprintf("%s, queue of %d shards", name, shards)
	}
	return name
}
