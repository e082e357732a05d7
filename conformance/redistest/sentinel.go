package redistest

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	// SentinelMasterName is the name under which the Sentinels of
	// StartSentinel monitor their master.
	SentinelMasterName = "mymaster"

	// SentinelDownAfter is the down-after-milliseconds of the Sentinels of
	// StartSentinel: how long the master must be silent before it is
	// considered down. It is short so a killed master is failed over in a
	// few seconds.
	SentinelDownAfter = time.Second

	sentinelCount = 3
	// sentinelQuorum is how many Sentinels must agree that the master is
	// down.
	sentinelQuorum = 2
	// sentinelFailoverTimeout is also the least time between two failovers
	// of the same master.
	sentinelFailoverTimeout = 10 * time.Second
)

// Sentinel is a master with one replica, watched by three Sentinels
// (quorum 2), all local redis-server processes owned by one test. Which
// server is the master changes on a failover; Master asks the Sentinels.
type Sentinel struct {
	// MasterName is the name the Sentinels know the master by
	// (SentinelMasterName), for a failover client.
	MasterName string
	// Addrs are the host:port of the Sentinels, for a failover client.
	Addrs []string
	// Sentinels are the Sentinel processes, in the order of Addrs.
	Sentinels []*Server
	// Servers are the data servers: the first master, then its replica.
	Servers []*Server
}

// StartSentinel starts a master, one replica of it and three Sentinels
// (redis-server --sentinel) that monitor it with quorum 2,
// down-after-milliseconds SentinelDownAfter and a failover timeout of 10
// s, and returns once the replica is in sync and every Sentinel knows the
// replica and the other two Sentinels, so a failover can start at once. The
// test's cleanup stops every process. opts are as for Start; WithArgs
// applies to the two data servers.
//
// Like StartCluster it needs local processes: without redis-server on PATH
// the test is skipped, or fails under JOBQUEUE_REQUIRE_REDIS.
func StartSentinel(t testing.TB, opts ...Option) *Sentinel {
	t.Helper()
	return startSentinel(t, currentEnvironment(), opts...)
}

func startSentinel(t testing.TB, env environment, opts ...Option) *Sentinel {
	t.Helper()
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	bins, err := localBinaries(env, "a Sentinel set", serverBinary)
	if err != nil {
		report(t, err, env.require)
		return nil
	}
	s := &Sentinel{MasterName: SentinelMasterName}
	t.Cleanup(func() {
		if t.Failed() {
			logTails(t, append(slices.Clone(s.Servers), s.Sentinels...))
		}
		for _, srv := range append(slices.Clone(s.Servers), s.Sentinels...) {
			srv.shutdown()
		}
	})
	// As in a cluster, the replica's first sync need not wait for others.
	data := append([]string{"--repl-diskless-sync-delay", "0"}, cfg.args...)
	master, err := startServers(bins[0], 1, processSpec{args: data})
	if err != nil {
		t.Fatal(err.Error())
	}
	s.Servers = master
	host, port := "127.0.0.1", strconv.Itoa(master[0].proc.port)

	replica, err := startServers(bins[0], 1, processSpec{args: append([]string{"--replicaof", host, port}, data...)})
	if err != nil {
		t.Fatal(err.Error())
	}
	s.Servers = append(s.Servers, replica...)
	// A Sentinel learns of replicas from the master's INFO, which it asks
	// for at once and then only every 10 s: the replica must be attached
	// before the Sentinels start.
	if err := poll(clusterReadyTimeout, s.replicasInSync); err != nil {
		t.Fatalf("redistest: %v", err)
	}

	conf := fmt.Sprintf("sentinel monitor %s %s %s %d\n"+
		"sentinel down-after-milliseconds %[1]s %[5]d\n"+
		"sentinel failover-timeout %[1]s %[6]d\n"+
		"sentinel parallel-syncs %[1]s 1\n",
		s.MasterName, host, port, sentinelQuorum,
		SentinelDownAfter/time.Millisecond, sentinelFailoverTimeout/time.Millisecond)
	s.Sentinels, err = startServers(bins[0], sentinelCount, processSpec{conf: conf, args: []string{"--sentinel"}})
	if err != nil {
		t.Fatal(err.Error())
	}
	for _, srv := range s.Sentinels {
		s.Addrs = append(s.Addrs, srv.Addr)
	}
	if err := poll(clusterReadyTimeout, s.ready); err != nil {
		t.Fatalf("redistest: the Sentinels did not get ready: %v", err)
	}
	return s
}

// poll calls check every pollInterval until it returns nil or timeout has
// passed, and then returns its last error.
func poll(timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %w", timeout, err)
		}
		time.Sleep(pollInterval)
	}
}

// ready checks that every replica is in sync and that every Sentinel sees
// the master up, knows each replica as healthy and knows the other
// Sentinels, which it learns from their hello messages every 2 s.
func (s *Sentinel) ready() error {
	if err := s.replicasInSync(); err != nil {
		return err
	}
	for _, sn := range s.Sentinels {
		m, err := sentinelFields(sn.Addr, "SENTINEL", "MASTER", s.MasterName)
		if err != nil {
			return fmt.Errorf("SENTINEL MASTER on %s: %w", sn.Addr, err)
		}
		if m["flags"] != "master" {
			return fmt.Errorf("Sentinel %s: master flags %q", sn.Addr, m["flags"])
		}
		if m["num-other-sentinels"] != strconv.Itoa(len(s.Sentinels)-1) {
			return fmt.Errorf("Sentinel %s knows %s other Sentinels", sn.Addr, m["num-other-sentinels"])
		}
		replicas, err := sentinelReplicas(sn.Addr, s.MasterName)
		if err != nil {
			return fmt.Errorf("SENTINEL REPLICAS on %s: %w", sn.Addr, err)
		}
		healthy := 0
		for _, r := range replicas {
			if r["flags"] == "slave" && r["master-link-status"] == "ok" {
				healthy++
			}
		}
		if healthy < len(s.Servers)-1 {
			return fmt.Errorf("Sentinel %s sees %d healthy replicas of %d", sn.Addr, healthy, len(s.Servers)-1)
		}
	}
	return nil
}

func (s *Sentinel) replicasInSync() error {
	for _, srv := range s.Servers[1:] {
		repl, err := command(srv.Addr, "INFO", "replication")
		if err != nil {
			return fmt.Errorf("INFO replication on %s: %w", srv.Addr, err)
		}
		if !strings.Contains(repl, "master_link_status:up") {
			return fmt.Errorf("replica %s is not in sync with its master", srv.Addr)
		}
	}
	return nil
}

// Server returns the data server listening on addr, or nil.
func (s *Sentinel) Server(addr string) *Server {
	for _, srv := range s.Servers {
		if srv.Addr == addr {
			return srv
		}
	}
	return nil
}

// Master returns the address of the master, as the first running Sentinel
// names it now.
func (s *Sentinel) Master(t testing.TB) string {
	t.Helper()
	var errs []error
	for _, sn := range s.Sentinels {
		if sn.PID() == 0 {
			continue
		}
		addr, err := s.masterBy(sn.Addr)
		if err == nil {
			return addr
		}
		errs = append(errs, err)
	}
	t.Fatalf("redistest: no Sentinel names the master: %v", errors.Join(errs...))
	return ""
}

func (s *Sentinel) masterBy(sentinel string) (string, error) {
	rc, err := dialRESP(sentinel, probeTimeout)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	v, err := rc.doAny("SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.MasterName)
	if err != nil {
		return "", err
	}
	a, ok := v.([]any)
	if !ok || len(a) != 2 {
		return "", fmt.Errorf("SENTINEL GET-MASTER-ADDR-BY-NAME %s answered %v", s.MasterName, v)
	}
	host, _ := a[0].(string)
	port, _ := a[1].(string)
	return host + ":" + port, nil
}

// KillMaster sends SIGKILL to the current master, waits until it is gone
// and returns its address. The Sentinels promote the replica after
// SentinelDownAfter and an election; WaitFailover waits for that.
func (s *Sentinel) KillMaster(t testing.TB) string {
	t.Helper()
	addr := s.Master(t)
	srv := s.Server(addr)
	if srv == nil {
		t.Fatalf("redistest: the Sentinels name %s as master, which is none of the servers", addr)
	}
	srv.Kill(t)
	return addr
}

// WaitFailover waits until every running Sentinel names a master other
// than old, and that server is running and says it is a master; it
// returns the new master's address. It fails the test after 30 s.
func (s *Sentinel) WaitFailover(t testing.TB, old string) string {
	t.Helper()
	var master string
	err := poll(clusterReadyTimeout, func() error {
		master = ""
		for _, sn := range s.Sentinels {
			if sn.PID() == 0 {
				continue
			}
			addr, err := s.masterBy(sn.Addr)
			if err != nil {
				return fmt.Errorf("Sentinel %s: %w", sn.Addr, err)
			}
			if addr == old || (master != "" && addr != master) {
				return fmt.Errorf("Sentinel %s names %s as master", sn.Addr, addr)
			}
			master = addr
		}
		repl, err := command(master, "INFO", "replication")
		if err != nil {
			return fmt.Errorf("INFO replication on %s: %w", master, err)
		}
		if !strings.Contains(repl, "role:master") {
			return fmt.Errorf("%s is not a master yet", master)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("redistest: no failover from %s: %v", old, err)
	}
	return master
}

// WaitReplicated waits until every running replica has acknowledged all
// the writes the master has accepted so far (WAIT), so that killing the
// master then loses none of them. It fails the test after 5 s.
func (s *Sentinel) WaitReplicated(t testing.TB) {
	t.Helper()
	master := s.Master(t)
	replicas := 0
	for _, srv := range s.Servers {
		if srv.Addr != master && srv.PID() != 0 {
			replicas++
		}
	}
	if err := waitReplicated(master, "redistest:replicated", replicas); err != nil {
		t.Fatalf("redistest: %v", err)
	}
}

// sentinelFields sends a command that answers one flat field/value array.
func sentinelFields(addr string, args ...string) (map[string]string, error) {
	rc, err := dialRESP(addr, probeTimeout)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	v, err := rc.doAny(args...)
	if err != nil {
		return nil, err
	}
	return fieldMap(v)
}

func sentinelReplicas(addr, master string) ([]map[string]string, error) {
	rc, err := dialRESP(addr, probeTimeout)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	v, err := rc.doAny("SENTINEL", "REPLICAS", master)
	if err != nil {
		return nil, err
	}
	a, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("unexpected reply %v", v)
	}
	out := make([]map[string]string, len(a))
	for i, e := range a {
		if out[i], err = fieldMap(e); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// fieldMap turns a flat field/value array reply into a map.
func fieldMap(v any) (map[string]string, error) {
	a, ok := v.([]any)
	if !ok || len(a)%2 != 0 {
		return nil, fmt.Errorf("unexpected reply %v", v)
	}
	m := make(map[string]string, len(a)/2)
	for i := 0; i < len(a); i += 2 {
		k, _ := a[i].(string)
		m[k], _ = a[i+1].(string)
	}
	return m, nil
}
