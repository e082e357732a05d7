package redisq_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	rueidislib "github.com/redis/rueidis"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/goredis"
	"github.com/jobqueue-go/jobqueue/internal/redisq"
	"github.com/jobqueue-go/jobqueue/internal/redisq/redisqtest"
	"github.com/jobqueue-go/jobqueue/rueidis"
)

// Fields of FuzzClaimRecord's mask: which fields the record has, and the
// adapter that reads it.
const (
	hasStatus = 1 << iota
	hasPayload
	hasAttempts
	hasMaxAttempts
	hasEnqueued
	hasClaimedAt
	_
	viaRueidis
)

// FuzzClaimRecord writes a job record by hand on a real Redis, lists its id
// in pending, and checks that Get (the Go decoder) and Claim (claim.lua)
// agree about it, whatever it holds:
//
//   - a record whose status names another state lives where that state
//     says, so its pending entry is stale: the claim drops it and changes
//     nothing in the record, whether Get can read it or not;
//   - otherwise, a record Get reads (as pending) is claimed, with the
//     attempts, payload and numbers Get read, and reads as processing
//     afterwards;
//   - and a record Get reports corrupt is never handed out: the claim
//     dead-letters it, with the reason in last_error, into a record that
//     Get then reads as dead, listed in the dead history and counted.
//   - A readable record whose expiry has come is dead-lettered too, as
//     expired.
//
// extra holds the fields of the features a job may not use (kind,
// headers, priority, timeout_ms, expires_at_ms; any other name too), as
// name, value pairs separated by NUL.
//
// The seeds are the corruptions of the reliability suite's scenario 13
// and the values Lua's tonumber takes although they are no record's
// numbers.
func FuzzClaimRecord(f *testing.F) {
	all := uint8(hasStatus | hasPayload | hasAttempts | hasMaxAttempts | hasEnqueued)
	nul := func(kv ...string) string { return strings.Join(kv, "\x00") }
	for _, adapter := range []uint8{0, viaRueidis} {
		f.Add(all|adapter, "pending", `{"n":1}`, "0", "3", "1700000000000", "", "")
		f.Add(all|hasClaimedAt|adapter, "pending", "", "2", "9223372036854775807", "1", "5", "")
		for _, n := range []string{"abc", " 1", "0x10", "1e3", "1.5", "nan", "-1", "99999999999999999999"} {
			f.Add(all|adapter, "pending", "p", n, "3", "1", "", "")
		}
		f.Add(all|adapter, "pending", "p", "0", "9223372036854775808", "1", "", "")
		f.Add(all|hasClaimedAt|adapter, "pending", "p", "0", "3", "1", "soon", "")
		f.Add(all|adapter, "bogus", "p", "0", "3", "1", "", "")
		f.Add(all|adapter, "completed", "p", "1", "3", "1", "", "")
		f.Add(all&^hasPayload|adapter, "pending", "", "0", "3", "1", "", "")
		f.Add(all&^hasStatus|adapter, "", "p", "0", "3", "1", "", "")
		f.Add(adapter, "", "", "", "", "", "", "")
		// The fields of kinds, headers, priority levels, timeouts and
		// expiry, well-formed and not.
		f.Add(all|adapter, "pending", "p", "0", "3", "1", "", nul("kind", "mail", "headers", `{"t":"1","u":"\ud83d\ude00"}`,
			"priority", "2", "timeout_ms", "1500", "expires_at_ms", "999999999999999"))
		f.Add(all|adapter, "pending", "p", "0", "3", "1", "", nul("expires_at_ms", "1"))
		f.Add(all|adapter, "completed", "p", "0", "3", "1", "", nul("expires_at_ms", "1"))
		for _, h := range []string{`{"a":1}`, `{"a":null}`, `{"a":1,"a":"b"}`, `[]`, ` {}`, `{}`, `{"a":"\ud800"}`, `{"a":"\\ud800"}`,
			"{\"a\":\"\t\"}", `{"a":"b"}x`} {
			f.Add(all|adapter, "pending", "p", "0", "3", "1", "", nul("headers", h))
		}
		for _, bad := range [][]string{{"priority", "4"}, {"priority", "01"}, {"timeout_ms", "1e3"}, {"expires_at_ms", "soon"}} {
			f.Add(all|adapter, "pending", "p", "0", "3", "1", "", nul(bad...))
		}
	}

	srv := redistest.Shared(f)
	opt, err := redis.ParseURL(srv.URL)
	if err != nil {
		f.Fatal(err)
	}
	raw := redis.NewClient(opt)
	gb := goredis.New(raw)
	ropt, err := rueidislib.ParseURL(srv.URL)
	if err != nil {
		f.Fatal(err)
	}
	rc, err := rueidislib.NewClient(ropt)
	if err != nil {
		f.Fatal(err)
	}
	rb := rueidis.New(rc)
	f.Cleanup(func() { gb.Close(); rb.Close(); rc.Close(); _ = raw.Close() })
	prefix := redisqtest.QueueName(f)
	var n atomic.Int64

	f.Fuzz(func(t *testing.T, mask uint8, status, payload, attempts, maxAttempts, enqueued, claimedAt, extra string) {
		ctx := context.Background()
		var b backend.Backend = gb
		if mask&viaRueidis != 0 {
			b = rb
		}
		q := fmt.Sprintf("%s-%d", prefix, n.Add(1))
		const id = "fz"
		k := redisq.KeysFor(q)
		// The id field keeps the hash in existence with no other field.
		fields := []any{"id", id}
		for _, fv := range []struct {
			bit   uint8
			name  string
			value string
		}{
			{hasStatus, "status", status}, {hasPayload, "payload", payload}, {hasAttempts, "attempts", attempts},
			{hasMaxAttempts, "max_attempts", maxAttempts}, {hasEnqueued, "enqueued_at_ms", enqueued},
			{hasClaimedAt, "claimed_at_ms", claimedAt},
		} {
			if mask&fv.bit != 0 {
				fields = append(fields, fv.name, fv.value)
			}
		}
		if extra != "" {
			kv := strings.Split(extra, "\x00")
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] != "" && kv[i] != "id" {
					fields = append(fields, kv[i], kv[i+1])
				}
			}
		}
		if err := raw.HSet(ctx, k.Job(id), fields...).Err(); err != nil {
			t.Fatal(err)
		}
		if err := raw.RPush(ctx, k.Pending, id).Err(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = b.Delete(ctx, backend.DeleteParams{Queue: q, ID: id})
			_ = b.Purge(ctx, backend.PurgeParams{Queue: q})
		})

		rawBefore := raw.HGetAll(ctx, k.Job(id)).Val()
		before, getErr := b.Get(ctx, q, id)
		jobs, err := b.Claim(ctx, backend.ClaimParams{Queue: q, Max: 1, Lease: time.Minute,
			DeadRetention: backend.Retention{Max: 10, TTL: time.Minute}})
		if err != nil {
			t.Fatalf("claim: %v", err)
		}
		if st := backend.State(status); mask&hasStatus != 0 && st.Valid() && st != backend.StatePending {
			rawAfter := raw.HGetAll(ctx, k.Job(id)).Val()
			if len(jobs) != 0 || !reflect.DeepEqual(rawAfter, rawBefore) {
				t.Fatalf("a stale pending entry of a %s record: claimed %+v, record %q -> %q", st, jobs, rawBefore, rawAfter)
			}
			return
		}
		after, err := b.Get(ctx, q, id)
		if err != nil {
			t.Fatalf("Get after the claim: %v (before it: %+v, %v)", err, before, getErr)
		}
		switch {
		case getErr == nil && !before.ExpiresAt.IsZero() && !time.Now().Before(before.ExpiresAt):
			if len(jobs) != 0 || after.State != backend.StateDead || !strings.Contains(after.LastError, "expired") {
				t.Fatalf("a record that expired at %v (%+v) was claimed %+v, and reads %+v", before.ExpiresAt, before, jobs, after)
			}
		case getErr == nil:
			if before.State != backend.StatePending {
				t.Fatalf("a record with status %q reads as %s", status, before.State)
			}
			if len(jobs) != 1 {
				t.Fatalf("a record Get reads as pending (%+v) was not claimed", before)
			}
			j := jobs[0]
			// claim.lua saturates attempts at the largest count a record
			// may hold (15 digits).
			attempts := min(before.Attempts+1, 999_999_999_999_999)
			if j.ID != id || string(j.Payload) != string(before.Payload) || j.Attempts != attempts ||
				j.MaxAttempts != before.MaxAttempts || !j.EnqueuedAt.Equal(before.EnqueuedAt) || j.Kind != before.Kind ||
				!reflect.DeepEqual(j.Headers, before.Headers) || j.Priority != before.Priority || j.Timeout != before.Timeout {
				t.Fatalf("claimed %+v from the record %+v", j, before)
			}
			if after.State != backend.StateProcessing || after.Attempts != j.Attempts ||
				string(after.Payload) != string(j.Payload) || !after.LeaseUntil.Equal(j.LeaseUntil) {
				t.Fatalf("after the claim %+v, the record reads %+v", j, after)
			}
		case errors.Is(getErr, backend.ErrCorruptJob):
			if len(jobs) != 0 {
				t.Fatalf("the corrupt record (%v) was claimed: %+v", getErr, jobs)
			}
			if after.State != backend.StateDead || !strings.HasPrefix(after.LastError, "jobqueue: corrupt job record: ") {
				t.Fatalf("the corrupt record (%v) reads %+v after the claim, want dead with the reason", getErr, after)
			}
			if mask&hasPayload != 0 && string(after.Payload) != payload {
				t.Fatalf("dead-lettering changed the payload %q to %q", payload, after.Payload)
			}
			failed, err := b.List(ctx, backend.ListParams{Queue: q, State: backend.StateDead, Limit: 10})
			if err != nil || !reflect.DeepEqual(failed, []string{id}) {
				t.Fatalf("dead history = %v, %v; want [%s]", failed, err, id)
			}
			s, err := b.Stats(ctx, q)
			if err != nil || s.DeadTotal != 1 || s.Dead != 1 || s.Pending != 0 || s.ClaimedTotal != 0 {
				t.Fatalf("stats after dead-lettering = %+v, %v", s, err)
			}
		default:
			t.Fatalf("Get of a hand-written record: %v", getErr)
		}
	})
}
