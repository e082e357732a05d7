package webui

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue"
)

// TestHostAllowed: loopback names and IP addresses always, the names
// given in any case and with any port, nothing else.
func TestHostAllowed(t *testing.T) {
	hosts := []string{NormHost("Jobs.Example.com.")}
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST:8798": true, "a.localhost": true, "127.0.0.1:1": true, "[::1]:8798": true,
		"10.0.0.5": true, "jobs.example.com:443": true, "JOBS.example.com": true,
		"": false, "evil.example": false, "localhost.evil.example": false, "jobs.example.com.evil": false,
	} {
		if got := HostAllowed(host, hosts); got != want {
			t.Errorf("HostAllowed(%q): %v, want %v", host, got, want)
		}
	}
}

// TestReply: a store that does not answer gets a 503 with the reason once,
// on one line, and the same start on every reply until it answers; the
// caller's mistakes get their own status and record no outage.
func TestReply(t *testing.T) {
	o := NewOutages(slog.New(slog.NewTextHandler(io.Discard, nil)), "test")
	down := fmt.Errorf("%w: dial tcp: connection refused\ndial tcp: connection refused", jobqueue.ErrUnavailable)
	reply := func(err error) (int, string) {
		rec := httptest.NewRecorder()
		o.Reply(t.Context(), rec, "q", err, time.Second, nil)
		return rec.Code, rec.Body.String()
	}
	code, first := reply(down)
	if code != http.StatusServiceUnavailable || !strings.Contains(first, `"error":"queue unavailable: dial tcp: connection refused"`) || !strings.Contains(first, `"since":"`) {
		t.Fatalf("an outage: %d %s", code, first)
	}
	if _, again := reply(down); again != first {
		t.Fatalf("the outage's second reply %s differs from its first %s", again, first)
	}
	for err, want := range map[error]int{
		jobqueue.ErrNotFound: http.StatusNotFound, jobqueue.ErrWrongState: http.StatusConflict,
		jobqueue.ErrInvalidArgument: http.StatusBadRequest, errors.ErrUnsupported: http.StatusNotImplemented,
		jobqueue.ErrFull: http.StatusInsufficientStorage,
	} {
		if code, body := reply(err); code != want || strings.Contains(body, "since") {
			t.Errorf("%v: %d %s, want %d", err, code, body, want)
		}
	}
	o.Answered("q")
	answered := time.Now()
	if since := o.Failed("q", "again"); since.Before(answered) {
		t.Fatalf("an outage after the store answered began at %v, before it answered (%v)", since, answered)
	}
}
