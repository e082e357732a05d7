package redisq

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jobqueue-go/jobqueue/backend"
)

// The fuzz targets below feed the decoders what Redis could return. Redis
// itself only ever returns what the scripts build, but the job hashes are
// plain Redis data that anyone with a client can change, so decodeJob must
// take any hash; and a reply of the wrong shape must be an error, never a
// panic. Each target checks an exact property, not only the absence of a
// crash:
//
//   - FuzzDecodeJob: any hash decodes, or fails with ErrCorruptJob, as the
//     record rule written independently below (wellFormed) says; what
//     decodes holds the hash's values.
//   - FuzzJobRoundTrip: every JobInfo the scripts can store comes back
//     from its hash unchanged, whatever stale fields the record keeps.
//   - FuzzDecodeClaim: a claim reply comes back field for field, with its
//     numbers as integers or as the strings claim.lua hands back.
//   - FuzzDecodeReply: any reply tree, fed to every decoder, is decoded or
//     refused as a shape error; never a panic, never ErrCorruptJob for a
//     reply that is no hash; summaries keep their ids and sizes.

// The record rule as a specification, written apart from parseCount: the
// fields the scripts write as numbers are plain digits, 15 at most
// (max_attempts: within int64).
var (
	countRE       = regexp.MustCompile(`^[0-9]{1,15}$`)
	maxAttemptsRE = regexp.MustCompile(`^[0-9]{1,19}$`)
	priorityRE    = regexp.MustCompile(`^[0-3]$`)
	// A \u escape of a surrogate pair, and one of half a pair, in JSON
	// text whose escaped backslashes are replaced.
	surrogatePairRE = regexp.MustCompile(`\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}`)
	surrogateRE     = regexp.MustCompile(`\\u[dD][89a-fA-F][0-9a-fA-F]{2}`)
)

// headersWellFormed is the headers rule as a specification, read token
// by token: a JSON object, brace first, whose last value of each name is
// a string, with no control byte and no escape of half a surrogate pair
// (which Redis's cjson refuses).
func headersWellFormed(s string) bool {
	if !strings.HasPrefix(s, "{") || strings.IndexFunc(s, func(r rune) bool { return r < ' ' }) >= 0 {
		return false
	}
	plain := surrogatePairRE.ReplaceAllString(strings.ReplaceAll(s, `\\`, "__"), "_")
	if surrogateRE.MatchString(plain) {
		return false
	}
	dec := json.NewDecoder(strings.NewReader(s))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	isString := map[string]bool{}
	for dec.More() {
		name, err := dec.Token()
		if err != nil {
			return false
		}
		v, err := dec.Token()
		if err != nil {
			return false
		}
		if d, ok := v.(json.Delim); ok && (d == '{' || d == '[') {
			return false // a nested value is never a string, whatever follows
		}
		_, isString[name.(string)] = v.(string)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		return false
	}
	for _, ok := range isString {
		if !ok {
			return false
		}
	}
	return true
}

// wellFormed reports whether decodeJob must accept the hash h.
func wellFormed(h map[string]string) bool {
	count := func(f string, optional bool) bool {
		s, ok := h[f]
		if !ok {
			return optional
		}
		return countRE.MatchString(s)
	}
	st := backend.State(h["status"])
	if _, ok := h["payload"]; !ok || !st.Valid() {
		return false
	}
	if !count("attempts", false) || !count("enqueued_at_ms", false) || !count("claimed_at_ms", true) ||
		!count("timeout_ms", true) || !count("expires_at_ms", true) {
		return false
	}
	if p, ok := h["priority"]; ok && !priorityRE.MatchString(p) {
		return false
	}
	if s, ok := h["headers"]; ok && !headersWellFormed(s) {
		return false
	}
	if m, ok := h["max_attempts"]; !ok || !maxAttemptsRE.MatchString(m) {
		return false
	} else if _, err := strconv.ParseInt(m, 10, 64); err != nil {
		return false
	}
	switch st {
	case backend.StateScheduled:
		return count("run_at_ms", true)
	case backend.StateProcessing:
		return count("lease_until_ms", true)
	case backend.StateCompleted, backend.StateDead:
		return count("finished_at_ms", true)
	}
	return true
}

// stampFields are the stamps of each state that decodeJob reports.
var stampFields = map[backend.State]string{
	backend.StateScheduled:  "run_at_ms",
	backend.StateProcessing: "lease_until_ms",
	backend.StateCompleted:  "finished_at_ms",
	backend.StateDead:       "finished_at_ms",
}

// encodeJob returns j's hash as the scripts write it, with extra fields
// added (stale stamps, tokens), as the flat array HGETALL returns.
func encodeJob(j backend.JobInfo, extra map[string]string) []any {
	h := map[string]string{}
	for k, v := range extra {
		h[k] = v
	}
	ms := func(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
	h["id"] = j.ID
	h["status"] = string(j.State)
	h["payload"] = string(j.Payload)
	h["attempts"] = strconv.Itoa(j.Attempts)
	h["max_attempts"] = strconv.Itoa(j.MaxAttempts)
	h["enqueued_at_ms"] = ms(j.EnqueuedAt)
	if !j.ClaimedAt.IsZero() {
		h["claimed_at_ms"] = ms(j.ClaimedAt)
	}
	for _, t := range []time.Time{j.RunAt, j.LeaseUntil, j.FinishedAt} {
		if !t.IsZero() {
			h[stampFields[j.State]] = ms(t)
		}
	}
	if j.Result != nil {
		h["result"] = string(j.Result)
	}
	if j.LastError != "" {
		h["last_error"] = j.LastError
	}
	if j.Kind != "" {
		h["kind"] = j.Kind
	}
	if j.Headers != nil {
		b, err := json.Marshal(j.Headers)
		if err != nil {
			panic(err)
		}
		h["headers"] = string(b)
	}
	if j.Priority != 0 {
		h["priority"] = strconv.Itoa(j.Priority)
	}
	if j.Timeout != 0 {
		h["timeout_ms"] = strconv.FormatInt(j.Timeout.Milliseconds(), 10)
	}
	if !j.ExpiresAt.IsZero() {
		h["expires_at_ms"] = ms(j.ExpiresAt)
	}
	// Map order: every run lists the fields in another order, as HGETALL
	// may.
	flat := make([]any, 0, 2*len(h))
	for k, v := range h {
		flat = append(flat, k, v)
	}
	return flat
}

// splitHash reads a fuzz input as an HGETALL reply: fields and values
// separated by NUL, a trailing odd one dropped. A field given twice keeps
// its last value, as asHash does.
func splitHash(record string) ([]any, map[string]string) {
	kv := strings.Split(record, "\x00")
	kv = kv[:len(kv)/2*2]
	flat := make([]any, len(kv))
	h := map[string]string{}
	for i, s := range kv {
		flat[i] = s
		if i%2 == 1 {
			h[kv[i-1]] = s
		}
	}
	return flat, h
}

func joinHash(kv ...string) string { return strings.Join(kv, "\x00") }

func FuzzDecodeJob(f *testing.F) {
	good := []string{"id", "a", "status", "pending", "payload", `{"to":"ada"}`, "attempts", "0",
		"max_attempts", "3", "enqueued_at_ms", "1700000000000", "enqueue_nonce", "n1"}
	f.Add(joinHash(good...))
	f.Add(joinHash("status", "processing", "payload", "", "attempts", "1", "max_attempts", "9223372036854775807",
		"enqueued_at_ms", "1", "claimed_at_ms", "2", "lease_until_ms", "3", "run_at_ms", "stale", "claim_token", "t.1"))
	f.Add(joinHash("status", "dead", "payload", "p", "attempts", "3", "max_attempts", "3", "enqueued_at_ms", "1",
		"finished_at_ms", "5", "last_error", "boom", "result", ""))
	f.Add(joinHash("status", "scheduled", "payload", "p", "attempts", "1", "max_attempts", "3", "enqueued_at_ms", "1",
		"run_at_ms", "1e3"))
	// What Lua's tonumber would take and the record rule does not.
	for _, n := range []string{" 1", "0x10", "1e3", "1.5", "nan", "inf", "+5", "-1", "", "99999999999999999999", "1000000000000000"} {
		f.Add(joinHash("status", "pending", "payload", "p", "attempts", n, "max_attempts", "3", "enqueued_at_ms", "1"))
	}
	f.Add(joinHash("status", "pending", "payload", "p", "attempts", "0", "max_attempts", "9223372036854775808", "enqueued_at_ms", "1"))
	f.Add(joinHash("status", "bogus", "payload", "p"))
	f.Add(joinHash("payload", "p", "attempts", "0"))
	f.Add(joinHash(append(good, "kind", "mail", "priority", "3", "timeout_ms", "1500", "expires_at_ms", "1700000060000",
		"headers", `{"trace":"a\"b","n":"\ud83d\ude00"}`)...))
	for _, h := range []string{`{"a":1}`, `{"a":null}`, `{"a":1,"a":"b"}`, `{"a":"b","a":1}`, `[]`, ` {}`, `{}`, `{"a":"\ud800"}`,
		`{"a":"\\ud800"}`, "{\"a\":\"\n\"}", `{"a":{"b":"c"}}`, `{"a":"b"} `, `{"a":"b"}x`} {
		f.Add(joinHash(append(good, "headers", h)...))
	}
	for _, p := range []string{"0", "4", "-1", "01", " 1", ""} {
		f.Add(joinHash(append(good, "priority", p)...))
	}
	f.Add("")
	f.Add("odd")
	f.Fuzz(func(t *testing.T, record string) {
		flat, h := splitHash(record)
		j, err := decodeJob(flat, "fz")
		if want := wellFormed(h); want != (err == nil) {
			t.Fatalf("decodeJob(%q) = %v; the record rule says well-formed=%v", record, err, want)
		}
		if err != nil {
			if !errors.Is(err, backend.ErrCorruptJob) {
				t.Fatalf("decodeJob(%q) = %v, want ErrCorruptJob", record, err)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "jobqueue: corrupt job record: job fz: field ") || len(msg) > 400 {
				t.Fatalf("decodeJob(%q) error %q: want the field named, in at most 400 bytes", record, msg)
			}
			if !reflect.DeepEqual(j, backend.JobInfo{}) {
				t.Fatalf("decodeJob(%q) failed but returned %+v", record, j)
			}
			return
		}
		attempts, _ := strconv.Atoi(h["attempts"])
		maxAttempts, _ := strconv.Atoi(h["max_attempts"])
		if j.ID != "fz" || string(j.State) != h["status"] || string(j.Payload) != h["payload"] ||
			j.Attempts != attempts || j.MaxAttempts != maxAttempts || j.LastError != h["last_error"] {
			t.Fatalf("decodeJob(%q) = %+v, not the hash's values", record, j)
		}
		if r, ok := h["result"]; ok != (j.Result != nil) || string(j.Result) != r {
			t.Fatalf("decodeJob(%q) result = %q, want %q (present %v)", record, j.Result, r, ok)
		}
		priority, _ := strconv.Atoi(h["priority"])
		if j.Kind != h["kind"] || j.Priority != priority {
			t.Fatalf("decodeJob(%q) kind, priority = %q, %d: not the hash's values", record, j.Kind, j.Priority)
		}
		// What decoded is itself a record the scripts could store.
		again, err := decodeJob(encodeJob(j, nil), "fz")
		if err != nil || !reflect.DeepEqual(again, j) {
			t.Fatalf("re-encoded %+v decodes as %+v, %v", j, again, err)
		}
	})
}

func FuzzJobRoundTrip(f *testing.F) {
	f.Add(uint8(0), []byte(`{"n":1}`), uint64(0), uint64(3), uint64(1700000000000), uint64(0), uint64(0), []byte(nil), false, "", "",
		"", "", "", uint8(0), uint64(0), uint64(0))
	f.Add(uint8(2), []byte(""), uint64(1), uint64(math.MaxInt64), uint64(1), uint64(2), uint64(3), []byte(nil), false, "", "junk",
		"mail.send", "trace", "00-ab", uint8(3), uint64(1500), uint64(1700000060000))
	f.Add(uint8(3), []byte("\x00\xff"), uint64(2), uint64(2), uint64(5), uint64(6), uint64(7), []byte(`"ok"`), true, "", "1e3",
		"", "x", "\"\\<>&\u2028", uint8(1), uint64(1), uint64(1))
	f.Add(uint8(4), []byte("p"), uint64(3), uint64(3), uint64(5), uint64(6), uint64(7), []byte(""), true, "boom\nline", "",
		"k", "", "", uint8(2), uint64(999999999999999), uint64(999999999999999))
	f.Add(uint8(1), []byte("p"), uint64(1), uint64(3), uint64(5), uint64(6), uint64(999999999999999), []byte(nil), false, "retry", "x",
		"", "", "", uint8(0), uint64(0), uint64(0))
	f.Fuzz(func(t *testing.T, state uint8, payload []byte, attempts, maxAttempts, enqueued, claimed, stamp uint64,
		result []byte, hasResult bool, lastError, stale, kind, headerName, headerValue string, priority uint8, timeout, expires uint64) {
		const maxCount = 999_999_999_999_999 // 15 digits
		j := backend.JobInfo{
			ID:          "fz",
			State:       backend.States[int(state)%len(backend.States)],
			Payload:     append([]byte{}, payload...),
			Attempts:    int(attempts % (maxCount + 1)),
			MaxAttempts: int(maxAttempts & math.MaxInt64),
			EnqueuedAt:  time.UnixMilli(int64(enqueued % (maxCount + 1))),
			LastError:   lastError,
			Kind:        kind,
			Priority:    int(priority) % (backend.MaxPriority + 1),
			// Whole milliseconds, as the scripts store them, of at most
			// 15 digits and within time.Duration.
			Timeout: time.Duration(timeout%(math.MaxInt64/uint64(time.Millisecond))) * time.Millisecond,
		}
		if headerName != "" && utf8.ValidString(headerName+headerValue) {
			j.Headers = map[string]string{headerName: headerValue}
		}
		if expires != 0 {
			j.ExpiresAt = time.UnixMilli(int64(expires % (maxCount + 1)))
		}
		if claimed != 0 {
			j.ClaimedAt = time.UnixMilli(int64(claimed % (maxCount + 1)))
		}
		at := time.UnixMilli(int64(stamp % (maxCount + 1)))
		switch j.State {
		case backend.StateScheduled:
			j.RunAt = at
		case backend.StateProcessing:
			j.LeaseUntil = at
		case backend.StateCompleted, backend.StateDead:
			j.FinishedAt = at
		}
		if hasResult {
			j.Result = append([]byte{}, result...)
		}
		// The stamps of other states are stale: whatever they hold, they
		// are not read.
		extra := map[string]string{"claim_token": stale, "acked": stale, "enqueue_nonce": stale}
		for _, f := range stampFields {
			if f != stampFields[j.State] {
				extra[f] = stale
			}
		}
		got, err := decodeJob(encodeJob(j, extra), "fz")
		if err != nil {
			t.Fatalf("decodeJob of %+v: %v", j, err)
		}
		if !reflect.DeepEqual(got, j) {
			t.Fatalf("round trip\n got %+v\nwant %+v", got, j)
		}
	})
}

func FuzzDecodeClaim(f *testing.F) {
	f.Add("a", "tok.1", []byte(`{"n":1}`), int64(1), int64(3), int64(1700000000000), int64(1700000030000), int64(1700000000001), int64(-1), int64(0), false,
		"", "", "", uint8(0), int64(0))
	f.Add("b", "tok.2", []byte(""), int64(1), int64(math.MaxInt64), int64(0), int64(1), int64(2), int64(3), int64(1), true,
		"email.send", "trace", "00-ab-01", uint8(3), int64(1500))
	f.Add("", "", []byte("\x00"), int64(-1), int64(math.MinInt64), int64(-5), int64(0), int64(0), int64(0), int64(7), true,
		"k", "x", "\\\"\u2028<&>", uint8(255), int64(999999999999999))
	f.Fuzz(func(t *testing.T, id, token string, payload []byte, attempts, maxAttempts, enqueued, lease, now, nextDue, more int64, asStrings bool,
		kind, headerName, headerValue string, priority uint8, timeout int64) {
		num := func(n int64) any {
			if asStrings {
				return strconv.FormatInt(n, 10)
			}
			return n
		}
		// Headers as enqueue writes them: JSON of valid UTF-8, none when
		// there is no header.
		var headers map[string]string
		if headerName != "" && utf8.ValidString(headerName+headerValue) {
			headers = map[string]string{headerName: headerValue}
		}
		encoded, err := encodeHeaders(headers)
		if err != nil {
			t.Fatal(err)
		}
		level := int(priority) % (backend.MaxPriority + 1)
		timeout &= math.MaxInt64 >> 14 // 15 digits at most, as claim.lua hands out
		job := []any{id, token, string(payload), num(attempts), num(maxAttempts), num(enqueued), num(lease),
			kind, encoded, strconv.Itoa(level), num(timeout)}
		r, err := decodeClaim([]any{now, nextDue, num(more), []any{job, job}})
		if err != nil {
			t.Fatalf("decodeClaim: %v", err)
		}
		want := backend.ClaimedJob{
			ID: id, Token: token, Kind: kind, Payload: []byte(string(payload)), Headers: headers, Priority: level,
			Timeout: msDuration(timeout), Attempts: int(attempts), MaxAttempts: int(maxAttempts),
			EnqueuedAt: time.UnixMilli(enqueued), LeaseUntil: time.UnixMilli(lease),
		}
		if r.now != now || r.nextDue != nextDue || r.more != (more > 0) || len(r.jobs) != 2 {
			t.Fatalf("decodeClaim = %+v", r)
		}
		for _, got := range r.jobs {
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("claimed job\n got %+v\nwant %+v", got, want)
			}
		}
	})
}

// replyTree reads fuzz input as a reply tree of the types a Conn returns
// (string, int64, nil, []any); writeTree is its inverse, for the seeds.
// Each node starts with a tag byte: 's' and a length byte for a string,
// 'i' and 8 bytes for an int64, 'a' and a count byte for an array, any
// other byte for nil. Input that runs out ends the node early.
func replyTree(data []byte) any {
	v, _ := readNode(data, 0)
	return v
}

func readNode(data []byte, depth int) (any, []byte) {
	if len(data) == 0 {
		return nil, data
	}
	tag, data := data[0], data[1:]
	switch {
	case tag == 's' && len(data) > 0:
		n := min(int(data[0]), len(data)-1)
		return string(data[1 : 1+n]), data[1+n:]
	case tag == 'i':
		var b [8]byte
		n := copy(b[:], data)
		return int64(binary.LittleEndian.Uint64(b[:])), data[n:]
	case tag == 'a' && len(data) > 0 && depth < 6:
		n := int(data[0])
		data = data[1:]
		a := []any{}
		for range n {
			if len(data) == 0 {
				break
			}
			var v any
			v, data = readNode(data, depth+1)
			a = append(a, v)
		}
		return a, data
	}
	return nil, data
}

func writeTree(v any) []byte {
	switch x := v.(type) {
	case string:
		if len(x) > 255 {
			panic("writeTree: string too long")
		}
		return append([]byte{'s', byte(len(x))}, x...)
	case int64:
		return binary.LittleEndian.AppendUint64([]byte{'i'}, uint64(x))
	case []any:
		out := []byte{'a', byte(len(x))}
		for _, e := range x {
			out = append(out, writeTree(e)...)
		}
		return out
	}
	return []byte{'n'}
}

// isHashReply reports whether v has the shape of an HGETALL reply.
func isHashReply(v any) bool {
	a, ok := v.([]any)
	if !ok || len(a)%2 != 0 {
		return false
	}
	for _, e := range a {
		if _, ok := e.(string); !ok {
			return false
		}
	}
	return true
}

func FuzzDecodeReply(f *testing.F) {
	for _, v := range []any{
		[]any{int64(1000), int64(-1), int64(1), []any{
			[]any{"a", "tok.1", "pay", int64(2), "5", "900", int64(31000), "", "", "0", "0"},
		}},
		[]any{int64(1000), int64(2000), int64(0), []any{}},
		[]any{"id", "a", "status", "pending", "payload", "p", "attempts", "0", "max_attempts", "3", "enqueued_at_ms", "1"},
		[]any{int64(1), int64(2), int64(3), int64(4), int64(5), []any{"enqueued_total", "10", "failed_total", "x"}},
		[]any{int64(1), int64(2), int64(3), int64(4), int64(5), []any{"enqueued_total", "10"}, int64(1500), int64(2)},
		[]any{[]any{"a", "b"}, []any{"c"}},
		[]any{"OK", "NOTFOUND", "LOSTCLAIM", "WHAT"},
		[]any{[]any{"a", int64(10), []any{"status", "pending", "payload", "pay", "attempts", "0", "max_attempts", "3", "enqueued_at_ms", "1"}}},
		[]any{nil, []any{nil}},
		"completed a b",
		int64(-7),
		nil,
	} {
		f.Add(writeTree(v))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v := replyTree(data)
		if r, err := decodeClaim(v); err == nil {
			a := v.([]any)
			if len(r.jobs) != len(a[3].([]any)) {
				t.Fatalf("decodeClaim(%#v) = %d jobs", v, len(r.jobs))
			}
			for i, j := range r.jobs {
				f := a[3].([]any)[i].([]any)
				if j.ID != f[0] || j.Token != f[1] || string(j.Payload) != f[2] {
					t.Fatalf("decodeClaim(%#v) job %d = %+v", v, i, j)
				}
			}
		}
		_, err := decodeJob(v, "fz")
		if isHashReply(v) {
			if err != nil && !errors.Is(err, backend.ErrCorruptJob) {
				t.Fatalf("decodeJob(%#v) = %v: a hash is decoded or corrupt", v, err)
			}
		} else if err == nil || errors.Is(err, backend.ErrCorruptJob) {
			t.Fatalf("decodeJob(%#v) = %v: a reply that is no hash is a shape error", v, err)
		}
		if s, err := decodeStats(v); err == nil {
			a := v.([]any)
			if len(a) != 8 || s.Pending != a[0] || s.Workers != a[7] || s.Latency != time.Duration(a[6].(int64))*time.Millisecond {
				t.Fatalf("decodeStats(%#v) = %+v", v, s)
			}
		}
		if sums, err := decodeSummaries(v, 3); err == nil {
			a := v.([]any)
			if len(sums) != len(a) {
				t.Fatalf("decodeSummaries(%#v) = %d summaries", v, len(sums))
			}
			for i, s := range sums {
				e := a[i].([]any)
				if size, _ := asInt(e[1], ""); s.ID != e[0] || int64(s.PayloadBytes) != size || len(s.Preview) > 3 {
					t.Fatalf("decodeSummaries(%#v) summary %d = %+v", v, i, s)
				}
			}
		}
		if r, err := decodeReclaim(v); err == nil && (r.Requeued == nil || r.Dead == nil) {
			t.Fatalf("decodeReclaim(%#v) = %+v with nil lists", v, r)
		}
		ids := []string{"a"}
		if a, ok := v.([]any); ok {
			ids = make([]string, len(a))
		}
		if errs, err := decodeItems(v, ids); err == nil && len(errs) != len(ids) {
			t.Fatalf("decodeItems(%#v) = %d results for %d ids", v, len(errs), len(ids))
		}
		if s, ok := v.(string); ok {
			ev := ParseEvent("q", s)
			if f := strings.Fields(s); len(f) > 0 && (string(ev.Kind) != f[0] || len(ev.IDs) != len(f)-1) {
				t.Fatalf("ParseEvent(%q) = %+v", s, ev)
			}
		}
	})
}
