package redistest

import (
	"strconv"
	"strings"
	"testing"
)

func TestStartReplicaFollowsMaster(t *testing.T) {
	master := Start(t, RequireProcess())
	r := StartReplica(t, master)
	if r.Master != master || r.Addr == master.Addr || r.PID() == 0 {
		t.Fatalf("replica %+v of %s", r, master.Addr)
	}
	if repl := do(t, r.Addr, "INFO", "replication"); !strings.Contains(repl, "role:slave") {
		t.Fatalf("the replica is no replica:\n%s", repl)
	}
	const n = 10000
	push := []string{"RPUSH", "list"}
	for i := range n {
		push = append(push, strconv.Itoa(i))
	}
	do(t, master.Addr, push...)
	r.WaitReplicated(t)
	if got := do(t, r.Addr, "LLEN", "list"); got != strconv.Itoa(n) {
		t.Errorf("LLEN on the replica = %s, want %d", got, n)
	}

	rc, err := dialRESP(r.Addr, probeTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := rc.do("SET", "k", "v"); err == nil || !strings.HasPrefix(err.Error(), "READONLY") {
		t.Errorf("SET on the replica: %v, want READONLY", err)
	}
}

func TestStartReplicaOfSharedFails(t *testing.T) {
	s := Shared(t)
	r := record(t, func(tb testing.TB) { StartReplica(tb, s) })
	if !r.failed || !strings.Contains(r.msg, "shared server") {
		t.Fatalf("StartReplica of the shared server: failed=%v msg=%q, want a failure naming the shared server", r.failed, r.msg)
	}
}

func TestStartReplicaNeedsRedisServer(t *testing.T) {
	master := Start(t, RequireProcess())
	for _, require := range []bool{false, true} {
		r := record(t, func(tb testing.TB) { startReplica(tb, noSources(require), master) })
		if r.skipped == require || r.failed != require || !strings.Contains(r.msg, serverBinary+": not found") {
			t.Errorf("require=%v: skipped=%v failed=%v, msg %q", require, r.skipped, r.failed, r.msg)
		}
	}
}
