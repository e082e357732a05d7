package main

import (
	"net/http"
	"net/url"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/memory"
)

// TestEnqueueWhenFull fills a memory backend bounded to 10 jobs through
// both APIs: an enqueue past the bound is a 507 that says the backend is
// full and why, and stores none of its jobs; a reset makes room.
func TestEnqueueWhenFull(t *testing.T) {
	q, err := jobqueue.New(memory.New(memory.WithMaxJobs(10)), "demo")
	if err != nil {
		t.Fatal(err)
	}
	ts := serveQueue(t, q, "memory")
	if code, body := ts.post("/api/enqueue", url.Values{"count": {"8"}}); code != http.StatusOK {
		t.Fatalf("enqueue of 8 under a bound of 10: %d %v", code, body)
	}
	for _, path := range []string{"/api/enqueue", "/enqueue"} {
		code, body := ts.post(path, url.Values{"count": {"3"}})
		msg := errText(body)
		if code != http.StatusInsufficientStorage || !strings.Contains(msg, "backend is full") || !strings.Contains(msg, "bound of 10") {
			t.Errorf("POST %s of 3 jobs with room for 2: %d %q; want 507 saying the backend is full and its bound", path, code, msg)
		}
	}
	if st := ts.stats(); num(st["pending_depth"]) != 8 || num(st["enqueued_total"]) != 8 {
		t.Errorf("after the refused enqueues: pending %v, enqueued %v; want 8 and 8", st["pending_depth"], st["enqueued_total"])
	}
	if code, body := ts.post("/api/reset", nil); code != http.StatusOK {
		t.Fatalf("reset: %d %v", code, body)
	}
	if code, body := ts.post("/api/enqueue", url.Values{"count": {"10"}}); code != http.StatusOK {
		t.Errorf("enqueue of 10 after a reset: %d %v", code, body)
	}
}

// TestServeBoundsMemory runs "jobqueue serve" on memory: by default with
// the demo's bounds, which its stats name, and with -memory-max-jobs,
// which refuses the enqueue that would pass it.
func TestServeBoundsMemory(t *testing.T) {
	s := startServe(t, envOf(nil), "-backend", "memory", "-schedules=false")
	_, body := s.fetch(t, "GET", "/api/stats", nil)
	if !strings.Contains(body, "at most 100,000 jobs and at most 256 MiB") {
		t.Errorf("the default serve on memory does not name its bounds:\n%s", body)
	}
	if code := s.stop(); code != exitOK {
		t.Errorf("serve exited %d", code)
	}

	s = startServe(t, envOf(nil), "-backend", "memory", "-schedules=false", "-memory-max-jobs", "1500", "-memory-max-mib", "0")
	_, body = s.fetch(t, "GET", "/api/stats", nil)
	if !strings.Contains(body, "at most 1,500 jobs)") {
		t.Errorf("serve -memory-max-jobs 1500 -memory-max-mib 0 does not name its bound:\n%s", body)
	}
	if code, body := s.fetch(t, "POST", "/api/enqueue", url.Values{"count": {"1000"}}); code != http.StatusOK {
		t.Fatalf("first 1,000 jobs: %d\n%s", code, body)
	}
	if code, body := s.fetch(t, "POST", "/api/enqueue", url.Values{"count": {"1000"}}); code != http.StatusInsufficientStorage || !strings.Contains(body, "bound of 1500") {
		t.Errorf("1,000 jobs more, past the bound: %d\n%s", code, body)
	}
}

// TestResetGivesMemoryBack is issue #17's second half: 100,000 jobs
// enqueued through the API grow the heap by some 80 MiB, which a POST
// /reset on the memory backend must give back at once, not when Go next
// collects, which after a purge may be minutes later.
func TestResetGivesMemoryBack(t *testing.T) {
	if testing.Short() {
		t.Skip("enqueues 100,000 jobs")
	}
	ts := newTestServer(t, time.Minute)
	base := heldHeap(true)
	for range 100 {
		if code, body := ts.post("/api/enqueue", url.Values{"count": {"1000"}}); code != http.StatusOK {
			t.Fatalf("enqueue: %d %v", code, body)
		}
	}
	full := heldHeap(false)
	if code, body := ts.post("/reset", nil); code != http.StatusOK {
		t.Fatalf("POST /reset: %d %v", code, body)
	}
	after := heldHeap(false)
	t.Logf("heap held: %d MiB before, %d MiB with 100,000 jobs, %d MiB after the reset", base>>20, full>>20, after>>20)
	if full < base+50<<20 {
		t.Fatalf("the jobs took %d MiB; the test needs them to take far more than its margin", (full-base)>>20)
	}
	if after > base+20<<20 {
		t.Errorf("after POST /reset the heap holds %d MiB, %d MiB more than before the jobs", after>>20, (after-base)>>20)
	}
}

// heldHeap is the heap memory the process holds from the system (in use,
// or free but not given back), after collecting and giving back first
// when collect is set.
func heldHeap(collect bool) uint64 {
	if collect {
		debug.FreeOSMemory()
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapSys - m.HeapReleased
}
