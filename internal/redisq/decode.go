package redisq

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
)

// The decoders below read the plain reply tree an adapter's Conn returns.
// A reply of the wrong shape means the scripts and this code disagree, or
// the server is not Redis: it is reported, never a panic.

func errShape(what string, v any) error {
	return fmt.Errorf("jobqueue: redis: unexpected reply for %s: %T %v", what, v, v)
}

func asArray(v any, what string) ([]any, error) {
	a, ok := v.([]any)
	if !ok {
		return nil, errShape(what, v)
	}
	return a, nil
}

func asInt(v any, what string) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return 0, errShape(what, v)
		}
		return n, nil
	}
	return 0, errShape(what, v)
}

func asString(v any, what string) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", errShape(what, v)
	}
	return s, nil
}

func asStrings(v any, what string) ([]string, error) {
	a, err := asArray(v, what)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(a))
	for i, x := range a {
		if out[i], err = asString(x, what); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// asHash reads a flat field, value, field, value... array (HGETALL).
func asHash(v any, what string) (map[string]string, error) {
	kv, err := asStrings(v, what)
	if err != nil {
		return nil, err
	}
	if len(kv)%2 != 0 {
		return nil, errShape(what, v)
	}
	m := make(map[string]string, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m, nil
}

func msTime(ms int64) time.Time { return time.UnixMilli(ms) }

// claimReply is the decoded reply of claim.lua.
type claimReply struct {
	now     int64
	nextDue int64 // -1: nothing scheduled
	more    bool
	repeat  bool // the call repeated an earlier one: return jobs at once
	jobs    []backend.ClaimedJob
}

func decodeClaim(v any) (claimReply, error) {
	var r claimReply
	a, err := asArray(v, "claim")
	if err != nil || len(a) != 4 {
		return r, errShape("claim", v)
	}
	if r.now, err = asInt(a[0], "claim"); err != nil {
		return r, err
	}
	if r.nextDue, err = asInt(a[1], "claim"); err != nil {
		return r, err
	}
	more, err := asInt(a[2], "claim")
	if err != nil {
		return r, err
	}
	r.more, r.repeat = more > 0, more < 0
	jobs, err := asArray(a[3], "claim")
	if err != nil {
		return r, err
	}
	r.jobs = make([]backend.ClaimedJob, 0, len(jobs))
	for _, j := range jobs {
		cj, err := decodeClaimedJob(j)
		if err != nil {
			return r, err
		}
		r.jobs = append(r.jobs, cj)
	}
	return r, nil
}

// decodeClaimedJob reads one job of claim.lua's reply. Its fields passed
// claim.lua's checks, which mirror the rules below (parseHeaders,
// parsePriority), so a value they refuse means the two disagree: it is a
// shape error.
func decodeClaimedJob(j any) (backend.ClaimedJob, error) {
	var cj backend.ClaimedJob
	f, err := asArray(j, "claimed job")
	if err != nil || len(f) != 11 {
		return cj, errShape("claimed job", j)
	}
	var s [6]string // id, token, payload, kind, headers, priority
	for i, at := range []int{0, 1, 2, 7, 8, 9} {
		if s[i], err = asString(f[at], "claimed job"); err != nil {
			return cj, err
		}
	}
	var n [5]int64 // attempts, max_attempts, enqueued_at_ms, lease_until_ms, timeout_ms
	for i, at := range []int{3, 4, 5, 6, 10} {
		if n[i], err = asInt(f[at], "claimed job"); err != nil {
			return cj, err
		}
	}
	cj.ID, cj.Token, cj.Payload, cj.Kind = s[0], s[1], []byte(s[2]), s[3]
	if s[4] != "" {
		var ok bool
		if cj.Headers, ok = parseHeaders(s[4]); !ok {
			return cj, errShape("claimed job's headers", s[4])
		}
	}
	p, ok := parsePriority(s[5])
	if !ok {
		return cj, errShape("claimed job's priority", s[5])
	}
	cj.Priority = p
	cj.Attempts, cj.MaxAttempts = int(n[0]), int(n[1])
	cj.EnqueuedAt, cj.LeaseUntil = msTime(n[2]), msTime(n[3])
	cj.Timeout = msDuration(n[4])
	return cj, nil
}

// decodeEnqueue reads enqueue.lua's reply to calls of queue, one error per
// call: nil for a call whose jobs were stored (by this run or an earlier
// one).
func decodeEnqueue(v any, queue string, calls []*enqueueCall) ([]error, error) {
	a, err := asArray(v, "enqueue")
	if err != nil {
		return nil, err
	}
	if len(a) != len(calls) {
		return nil, errShape("enqueue", v)
	}
	errs := make([]error, len(a))
	for i, x := range a {
		switch r := x.(type) {
		case int64:
			if r != int64(calls[i].count()) {
				return nil, errShape("enqueue", v)
			}
		case string:
			if dups, ok := strings.CutPrefix(r, "DUPLICATE "); ok {
				de, ok := decodeDuplicates(dups, queue, calls[i])
				if !ok {
					return nil, errShape("enqueue", v)
				}
				errs[i] = de
				continue
			}
			if !strings.HasPrefix(r, "EXISTS ") {
				return nil, errShape("enqueue", v)
			}
			errs[i] = ReplyError(r)
		default:
			return nil, errShape("enqueue", v)
		}
	}
	return errs, nil
}

// decodeDuplicates reads the "<i> <holder> ..." of enqueue.lua's DUPLICATE
// reply to c, a call of queue.
func decodeDuplicates(s, queue string, c *enqueueCall) (*backend.DuplicateError, bool) {
	f := strings.Fields(s)
	if len(f) == 0 || len(f)%2 != 0 {
		return nil, false
	}
	de := &backend.DuplicateError{Queue: queue, Duplicates: make([]backend.Duplicate, 0, len(f)/2)}
	for k := 0; k < len(f); k += 2 {
		i, err := strconv.Atoi(f[k])
		if err != nil || i < 0 || i >= c.count() {
			return nil, false
		}
		de.Duplicates = append(de.Duplicates, backend.Duplicate{Index: i, Key: c.uniqueKey(i), ExistingID: f[k+1]})
	}
	return de, true
}

// decodeItems reads the per-item codes of ack.lua and extend.lua.
func decodeItems(v any, ids []string) ([]error, error) {
	codes, err := asStrings(v, "acknowledgement")
	if err != nil {
		return nil, err
	}
	if len(codes) != len(ids) {
		return nil, errShape("acknowledgement", v)
	}
	errs := make([]error, len(codes))
	for i, c := range codes {
		errs[i] = itemError(c, ids[i])
	}
	return errs, nil
}

func decodeReclaim(v any) (backend.ReclaimResult, error) {
	var r backend.ReclaimResult
	a, err := asArray(v, "reclaim")
	if err != nil || len(a) != 2 {
		return r, errShape("reclaim", v)
	}
	if r.Requeued, err = asStrings(a[0], "reclaim"); err != nil {
		return r, err
	}
	r.Dead, err = asStrings(a[1], "reclaim")
	return r, err
}

// Number fields of a job record are written by the scripts as plain
// decimal digits. attempts and the millisecond stamps are also read as
// numbers by Lua, whose doubles are exact only up to 2^53, so they are
// bounded to 15 digits (claim.lua stops counting attempts there);
// max_attempts is only compared and handed back as written, so it may take
// any int64.
const (
	countDigits       = 15
	maxAttemptsDigits = 19
)

// parseCount reads a number field of a job record: at most digits decimal
// digits (no sign, space, exponent or hex) within int64. claim.lua checks a
// record with the same rule (is_count) before it hands the job out, so a
// record that Get reports corrupt is one that a claim dead-letters, never
// one that it runs.
func parseCount(s string, digits int) (int64, bool) {
	if s == "" || len(s) > digits {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// parsePriority reads a job record's priority field: one digit, 0 to
// backend.MaxPriority. claim.lua checks it with the same rule (is_level).
func parsePriority(s string) (int, bool) {
	if len(s) != 1 || s[0] < '0' || s[0] > '0'+backend.MaxPriority {
		return 0, false
	}
	return int(s[0] - '0'), true
}

// parseHeaders reads a job record's headers field: a JSON object of
// strings, brace first and without a control byte, as json.Marshal of a
// map[string]string writes it. claim.lua checks it with the same rule
// (is_headers), with Redis's cjson, which also refuses a \u escape of half
// a surrogate pair that Go would read as U+FFFD. An empty object is no
// headers, nil.
func parseHeaders(s string) (map[string]string, bool) {
	if s == "" || s[0] != '{' || !pairedEscapes(s) {
		return nil, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' {
			return nil, false
		}
	}
	// Decoded as values of any type and checked, since a map of strings
	// would take a null value as "", which cjson does not.
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil || m == nil {
		return nil, false
	}
	if len(m) == 0 {
		return nil, true
	}
	h := make(map[string]string, len(m))
	for name, v := range m {
		value, ok := v.(string)
		if !ok {
			return nil, false
		}
		h[name] = value
	}
	return h, true
}

// pairedEscapes reports whether every \u escape of a surrogate in the
// JSON text s is a high one followed at once by a low one.
func pairedEscapes(s string) bool {
	// surrogate returns the surrogate that the \u escape at s[i:] names:
	// 1 high, 2 low, 0 none (another code point or no \u escape).
	surrogate := func(i int) int {
		if i+6 > len(s) || s[i] != '\\' || s[i+1] != 'u' {
			return 0
		}
		n, err := strconv.ParseUint(s[i+2:i+6], 16, 16)
		switch {
		case err != nil || n < 0xd800 || n > 0xdfff:
			return 0
		case n < 0xdc00:
			return 1
		}
		return 2
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			continue
		}
		switch surrogate(i) {
		case 1:
			if surrogate(i+6) != 2 {
				return false
			}
			i += 11
		case 2:
			return false
		default:
			i++ // the escaped byte, which may be a backslash
		}
	}
	return true
}

// msDuration reads a duration in milliseconds, saturated at the largest
// time.Duration: a record's 15 digits may hold more.
func msDuration(n int64) time.Duration {
	if n > math.MaxInt64/int64(time.Millisecond) {
		return math.MaxInt64
	}
	return time.Duration(n) * time.Millisecond
}

// decodeJob reads a job hash. A record missing its core fields, or
// holding values that do not parse, is ErrCorruptJob.
func decodeJob(v any, id string) (backend.JobInfo, error) {
	h, err := asHash(v, "job")
	if err != nil {
		return backend.JobInfo{}, err
	}
	corrupt := func(field string) error {
		s, ok := h[field]
		if !ok {
			return fmt.Errorf("%w: job %s: field %s is missing", backend.ErrCorruptJob, id, field)
		}
		if len(s) > 64 {
			s = s[:64] + "…"
		}
		return fmt.Errorf("%w: job %s: field %s is %q", backend.ErrCorruptJob, id, field, s)
	}
	j := backend.JobInfo{ID: id, State: backend.State(h["status"])}
	if !j.State.Valid() {
		return backend.JobInfo{}, corrupt("status")
	}
	payload, ok := h["payload"]
	if !ok {
		return backend.JobInfo{}, corrupt("payload")
	}
	j.Payload = []byte(payload)
	var n [3]int64
	for i, f := range []string{"attempts", "max_attempts", "enqueued_at_ms"} {
		digits := countDigits
		if f == "max_attempts" {
			digits = maxAttemptsDigits
		}
		if n[i], ok = parseCount(h[f], digits); !ok {
			return backend.JobInfo{}, corrupt(f)
		}
	}
	j.Attempts, j.MaxAttempts, j.EnqueuedAt = int(n[0]), int(n[1]), msTime(n[2])
	// stamp reads an optional millisecond stamp; absent is the zero time.
	stamp := func(f string) (time.Time, error) {
		s, ok := h[f]
		if !ok {
			return time.Time{}, nil
		}
		n, ok := parseCount(s, countDigits)
		if !ok {
			return time.Time{}, corrupt(f)
		}
		return msTime(n), nil
	}
	if j.ClaimedAt, err = stamp("claimed_at_ms"); err != nil {
		return backend.JobInfo{}, err
	}
	if j.ExpiresAt, err = stamp("expires_at_ms"); err != nil {
		return backend.JobInfo{}, err
	}
	if s, ok := h["timeout_ms"]; ok {
		n, ok := parseCount(s, countDigits)
		if !ok {
			return backend.JobInfo{}, corrupt("timeout_ms")
		}
		j.Timeout = msDuration(n)
	}
	if s, ok := h["priority"]; ok {
		if j.Priority, ok = parsePriority(s); !ok {
			return backend.JobInfo{}, corrupt("priority")
		}
	}
	if s, ok := h["headers"]; ok {
		if j.Headers, ok = parseHeaders(s); !ok {
			return backend.JobInfo{}, corrupt("headers")
		}
	}
	j.Kind = h["kind"]
	// The record keeps stale stamps of earlier states; only the current
	// state's are reported, and only those are checked, since a stale one
	// is never read again.
	switch j.State {
	case backend.StateScheduled:
		j.RunAt, err = stamp("run_at_ms")
	case backend.StateProcessing:
		j.LeaseUntil, err = stamp("lease_until_ms")
	case backend.StateCompleted, backend.StateDead, backend.StateCancelled:
		j.FinishedAt, err = stamp("finished_at_ms")
	}
	if err != nil {
		return backend.JobInfo{}, err
	}
	if r, ok := h["result"]; ok {
		j.Result = []byte(r)
	}
	j.LastError = h["last_error"]
	return j, nil
}

func decodeStats(v any) (backend.Stats, error) {
	var s backend.Stats
	a, err := asArray(v, "stats")
	if err != nil || len(a) != 11 {
		return s, errShape("stats", v)
	}
	depths := []*int64{&s.Pending, &s.Scheduled, &s.Processing, &s.Completed, &s.Dead}
	for i, p := range depths {
		if *p, err = asInt(a[i], "stats"); err != nil {
			return s, err
		}
	}
	latency, err := asInt(a[6], "stats")
	if err != nil {
		return s, err
	}
	s.Latency = time.Duration(latency) * time.Millisecond
	if s.Workers, err = asInt(a[7], "stats"); err != nil {
		return s, err
	}
	if s.Cancelled, err = asInt(a[8], "stats"); err != nil {
		return s, err
	}
	h, err := asHash(a[5], "stats")
	if err != nil {
		return s, err
	}
	counters := map[string]*int64{
		"enqueued_total":  &s.EnqueuedTotal,
		"claimed_total":   &s.ClaimedTotal,
		"completed_total": &s.CompletedTotal,
		"retried_total":   &s.RetriedTotal,
		"dead_total":      &s.DeadTotal,
		"reclaimed_total": &s.ReclaimedTotal,
		"cancelled_total": &s.CancelledTotal,
	}
	for name, p := range counters {
		if v, ok := h[name]; ok {
			if *p, err = strconv.ParseInt(v, 10, 64); err != nil {
				return s, errShape("stats counter "+name, v)
			}
		}
	}
	if s.Paused, s.Limits, err = decodeControl(a[9]); err != nil {
		return s, err
	}
	s.KindLimits, err = decodeKindLimits(a[10])
	return s, err
}

// ParseEvent reads one message of the events channel, written by the
// scripts as "kind id1 id2 ...", or as "kind" alone for an event about
// the whole queue (purged, paused, resumed, limits), whose IDs are nil
// as on the memory backend, not an empty list.
func ParseEvent(queue, msg string) backend.Event {
	f := strings.Fields(msg)
	ev := backend.Event{Queue: queue}
	if len(f) > 0 {
		ev.Kind = backend.EventKind(f[0])
	}
	if len(f) > 1 {
		ev.IDs = f[1:]
	}
	return ev
}
