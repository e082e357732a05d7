package redistest

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// Replica is a local redis-server that replicates a master (--replicaof),
// owned by one test. It is read-only, as a replica is by default.
type Replica struct {
	*Server
	// Master is the server it replicates.
	Master *Server
}

// StartReplica starts a local redis-server that replicates master and
// returns once its first sync is done. master must be a plain-text server
// of this test (from Start); StartReplica sets its
// repl-diskless-sync-delay to 0, so the first sync does not wait 5 s for
// more replicas. The test's cleanup stops the replica. opts are as for
// Start; WithArgs applies to the replica.
//
// Like StartSentinel it needs a local process: without redis-server on
// PATH the test is skipped, or fails under JOBQUEUE_REQUIRE_REDIS.
func StartReplica(t testing.TB, master *Server, opts ...Option) *Replica {
	t.Helper()
	return startReplica(t, currentEnvironment(), master, opts...)
}

func startReplica(t testing.TB, env environment, master *Server, opts ...Option) *Replica {
	t.Helper()
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	bins, err := localBinaries(env, "a replica", serverBinary)
	if err != nil {
		report(t, err, env.require)
		return nil
	}
	if p := master.mustOwnProcess(t, "StartReplica"); p.tls != nil {
		t.Fatalf("redistest: StartReplica of %s: a TLS master needs replicas set up for TLS, which StartReplica does not do", master.Addr)
	}
	if _, err := command(master.Addr, "CONFIG", "SET", "repl-diskless-sync-delay", "0"); err != nil {
		t.Fatalf("redistest: CONFIG SET on %s: %v", master.Addr, err)
	}
	host, port := "127.0.0.1", strconv.Itoa(master.proc.port)
	servers, err := startServers(bins[0], 1, processSpec{args: append([]string{"--replicaof", host, port}, cfg.args...)})
	if err != nil {
		t.Fatal(err.Error())
	}
	r := &Replica{Server: servers[0], Master: master}
	t.Cleanup(func() {
		if t.Failed() {
			logTails(t, []*Server{r.Server})
		}
		r.shutdown()
	})
	if err := poll(clusterReadyTimeout, r.caughtUp(-1)); err != nil {
		t.Fatalf("redistest: replica %s of %s: %v", r.Addr, master.Addr, err)
	}
	return r
}

// WaitReplicated waits until the replica has applied every write its
// master had accepted when WaitReplicated was called, so that reads on the
// replica see them. It fails the test after 5 s.
func (r *Replica) WaitReplicated(t testing.TB) {
	t.Helper()
	repl, err := command(r.Master.Addr, "INFO", "replication")
	if err != nil {
		t.Fatalf("redistest: INFO replication on %s: %v", r.Master.Addr, err)
	}
	offset, err := infoInt(repl, "master_repl_offset")
	if err != nil {
		t.Fatalf("redistest: master %s: %v", r.Master.Addr, err)
	}
	if err := poll(replicationTimeout, r.caughtUp(offset)); err != nil {
		t.Fatalf("redistest: replica %s of %s: %v", r.Addr, r.Master.Addr, err)
	}
}

// caughtUp checks that the replica's link to its master is up and that it
// has applied the replication stream up to offset (-1 for any).
func (r *Replica) caughtUp(offset int64) func() error {
	return func() error {
		repl, err := command(r.Addr, "INFO", "replication")
		if err != nil {
			return fmt.Errorf("INFO replication: %w", err)
		}
		if !strings.Contains(repl, "master_link_status:up") {
			return fmt.Errorf("not in sync with its master")
		}
		got, err := infoInt(repl, "slave_repl_offset")
		if err != nil {
			return err
		}
		if got < offset {
			return fmt.Errorf("at replication offset %d of %d", got, offset)
		}
		return nil
	}
}

// infoInt returns the integer field name of an INFO reply.
func infoInt(info, name string) (int64, error) {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("INFO has no %s", name)
}
