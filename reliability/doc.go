// Package reliability is jobqueue's fault-injection suite. It has no API:
// its tests run real worker processes (the test binary re-executed as
// children, so SIGKILL and SIGSTOP are real) against redis-server processes
// of their own, inject faults — killed workers and servers, dropped
// connections, latency, a full memory, bad input, corrupt records — and check
// after every scenario that no job was lost, no stale outcome was accepted,
// duplicate runs stay within reclaims, the queue drains soon after the fault
// ends and no goroutine leaked.
//
// Run it with
//
//	JOBQUEUE_REQUIRE_REDIS=1 go test -race ./reliability/
//
// and set JOBQUEUE_RELIABILITY_REPORT to a file name to collect the table of
// the README's "Reliability" section.
package reliability
