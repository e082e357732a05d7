package redistest

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestClusterStartKillFailover(t *testing.T) {
	start := time.Now()
	c := StartCluster(t)
	t.Logf("cluster up in %v", time.Since(start))
	if len(c.Addrs) != 6 || len(c.Nodes) != 6 {
		t.Fatalf("%d addresses, %d nodes, want 6", len(c.Addrs), len(c.Nodes))
	}
	masters := c.Masters(t)
	if len(masters) != 3 {
		t.Fatalf("masters = %v, want 3", masters)
	}
	for _, key := range []string{"a", "queue:{jobs}:pending", "user:1000", "{x}y"} {
		if got, want := do(t, c.Addrs[0], "CLUSTER", "KEYSLOT", key), strconv.Itoa(Slot(key)); got != want {
			t.Errorf("CLUSTER KEYSLOT %q = %s, Slot = %s", key, got, want)
		}
	}

	key := "queue:{failover}:pending"
	owner := c.MasterOf(t, key)
	if got := do(t, owner, "RPUSH", key, "1"); got != "1" {
		t.Fatalf("RPUSH on the owner: %s", got)
	}
	// Another master redirects.
	for _, m := range masters {
		if m == owner {
			continue
		}
		rc, err := dialRESP(m, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_, err = rc.do("LLEN", key)
		rc.Close()
		if err == nil || !strings.HasPrefix(err.Error(), "MOVED "+strconv.Itoa(Slot(key))+" "+owner) {
			t.Errorf("LLEN on %s: %v, want MOVED to %s", m, err, owner)
		}
	}
	c.WaitReplicated(t, key)

	start = time.Now()
	c.Kill(t, owner)
	c.WaitHealthy(t)
	t.Logf("failover settled %v after the kill", time.Since(start))
	promoted := c.MasterOf(t, key)
	if promoted == owner {
		t.Fatalf("slot still served by the killed %s", owner)
	}
	if got := do(t, promoted, "LLEN", key); got != "1" {
		t.Errorf("LLEN after the failover = %s, want the replicated 1", got)
	}
	if n := len(c.Masters(t)); n != 3 {
		t.Errorf("%d masters after the failover, want 3", n)
	}
	if keys := c.KeysByMaster(t); keys[promoted] < 1 {
		t.Errorf("KeysByMaster = %v, want keys on %s", keys, promoted)
	}

	// The killed node comes back as a replica of the one that replaced it.
	c.Node(owner).Restart(t)
	c.WaitHealthy(t)
	if got := c.MasterOf(t, key); got != promoted {
		t.Errorf("after the restart %s serves the slot, want %s", got, promoted)
	}
}

func TestClusterNeedsTools(t *testing.T) {
	env := noSources(false)
	env.url = "redis://127.0.0.1:1"
	for _, require := range []bool{false, true} {
		env.require = require
		r := record(t, func(tb testing.TB) { startCluster(tb, env) })
		if r.skipped == require || r.failed != require {
			t.Errorf("require=%v: skipped=%v failed=%v, msg %q", require, r.skipped, r.failed, r.msg)
		}
		for _, want := range []string{serverBinary + ": not found", cliBinary + ": not found", "needs servers of its own"} {
			if !strings.Contains(r.msg, want) {
				t.Errorf("message lacks %q:\n%s", want, r.msg)
			}
		}
		r = record(t, func(tb testing.TB) { startSentinel(tb, env) })
		if r.skipped == require || r.failed != require {
			t.Errorf("Sentinel, require=%v: skipped=%v failed=%v, msg %q", require, r.skipped, r.failed, r.msg)
		}
	}
}

func TestSentinelStartKillFailover(t *testing.T) {
	start := time.Now()
	s := StartSentinel(t)
	t.Logf("Sentinels ready in %v", time.Since(start))
	if len(s.Addrs) != 3 || len(s.Servers) != 2 || s.MasterName != SentinelMasterName {
		t.Fatalf("sentinel set = %+v", s)
	}
	master := s.Master(t)
	if master != s.Servers[0].Addr {
		t.Fatalf("Sentinels name %s, want the first server %s", master, s.Servers[0].Addr)
	}
	do(t, master, "SET", "k", "v")
	s.WaitReplicated(t)

	start = time.Now()
	if killed := s.KillMaster(t); killed != master {
		t.Fatalf("KillMaster killed %s, want %s", killed, master)
	}
	promoted := s.WaitFailover(t, master)
	t.Logf("failover done %v after the kill", time.Since(start))
	if promoted != s.Servers[1].Addr {
		t.Fatalf("new master %s, want the replica %s", promoted, s.Servers[1].Addr)
	}
	if got := do(t, promoted, "GET", "k"); got != "v" {
		t.Errorf("GET after the failover = %q, want the replicated v", got)
	}
}
