package redistest

import (
	"github.com/jobqueue-go/jobqueue/internal/slot"

	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// cliBinary is the program that joins nodes into a Cluster.
const cliBinary = "redis-cli"

const (
	// ClusterNodeTimeout is the cluster-node-timeout of the nodes that
	// StartCluster starts, unless WithArgs sets another. It is short so a
	// killed master is failed over in about two to three seconds rather
	// than the default's half minute.
	ClusterNodeTimeout = time.Second

	// ClusterSlots is the number of hash slots of a Redis Cluster.
	ClusterSlots = slot.Count

	clusterMasters = 3
	// clusterReadyTimeout bounds the wait for a new cluster to agree on
	// its slots, and for a failover to settle.
	clusterReadyTimeout = 30 * time.Second
	// pollInterval spaces the checks of a cluster or a Sentinel set that
	// is settling.
	pollInterval = 20 * time.Millisecond
	// replicationTimeout bounds WaitReplicated.
	replicationTimeout = 5 * time.Second
	// probeTimeout bounds one check of one node.
	probeTimeout = time.Second
)

// Cluster is a Redis Cluster of three masters with one replica each, six
// local redis-server processes owned by one test. Which node is a master
// changes when one fails; Masters and MasterOf ask the cluster.
type Cluster struct {
	// Addrs are the host:port of every node, masters and replicas, for a
	// client's seed list.
	Addrs []string
	// Nodes are the servers of Addrs, in the same order. Each can be
	// killed and restarted like a server from Start; a restarted node
	// keeps its identity (nodes.conf in its directory) and rejoins.
	Nodes []*Server
}

// StartCluster starts a Redis Cluster of three masters with one replica
// each (--cluster-enabled yes, cluster-node-timeout ClusterNodeTimeout,
// cluster-replica-validity-factor 0 so any replica may take over), forms
// it with redis-cli --cluster create, and returns once every node reports
// cluster_state:ok with all slots covered, agrees on who owns them, and
// every replica is in sync. The test's cleanup stops every node. opts are
// as for Start; WithArgs applies to every node.
//
// A cluster needs local processes, so StartCluster never uses
// JOBQUEUE_REDIS_URL or a container; without redis-server and redis-cli on
// PATH the test is skipped, or fails under JOBQUEUE_REQUIRE_REDIS.
func StartCluster(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	return startCluster(t, currentEnvironment(), opts...)
}

func startCluster(t testing.TB, env environment, opts ...Option) *Cluster {
	t.Helper()
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	bins, err := localBinaries(env, "a cluster", serverBinary, cliBinary)
	if err != nil {
		report(t, err, env.require)
		return nil
	}
	args := append([]string{
		"--cluster-enabled", "yes",
		"--cluster-config-file", "nodes.conf",
		"--cluster-node-timeout", strconv.Itoa(int(ClusterNodeTimeout / time.Millisecond)),
		"--cluster-replica-validity-factor", "0",
		// A replica's first sync would otherwise wait 5 s for more
		// replicas to share the transfer.
		"--repl-diskless-sync-delay", "0",
	}, cfg.args...)
	nodes, err := startServers(bins[0], 2*clusterMasters, processSpec{busPort: true, args: args})
	c := &Cluster{Nodes: nodes}
	for _, s := range nodes {
		c.Addrs = append(c.Addrs, s.Addr)
	}
	t.Cleanup(func() {
		if t.Failed() {
			logTails(t, c.Nodes)
		}
		for _, s := range c.Nodes {
			s.shutdown()
		}
	})
	if err != nil {
		t.Fatal(err.Error())
	}

	ctx, cancel := context.WithTimeout(context.Background(), clusterReadyTimeout)
	defer cancel()
	// redis-cli makes the first half of the nodes masters and gives each
	// one replica from the second half.
	cli := append(append([]string{"--cluster", "create"}, c.Addrs...), "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, bins[1], cli...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: %s --cluster create: %v\n%s", bins[1], err, out)
	}
	if err := c.waitHealthy(clusterReadyTimeout); err != nil {
		t.Fatalf("redistest: the cluster did not come up: %v", err)
	}
	return c
}

// localBinaries finds each of names on PATH. A missing one is a
// noRedisError, so the test skips or fails by the usual rules; what needs
// them is named in the message.
func localBinaries(env environment, what string, names ...string) ([]string, error) {
	nr := &noRedisError{}
	if env.url != "" {
		nr.note(EnvURL, "set, but it is one server and "+what+" needs servers of its own")
	}
	nr.note("Docker", "not tried: "+what+" needs local processes it can signal")
	paths := make([]string, len(names))
	missing := false
	for i, name := range names {
		p, err := env.lookPath(name)
		if err != nil {
			nr.note(name, "not found on PATH")
			missing = true
		}
		paths[i] = p
	}
	if missing {
		return nil, nr
	}
	return paths, nil
}

// startServers starts n local servers of spec at once and returns them in
// order. If one does not start, the others are stopped.
func startServers(bin string, n int, spec processSpec) ([]*Server, error) {
	servers := make([]*Server, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p, err := startProcessSpec(bin, spec)
			if err != nil {
				errs[i] = err
				return
			}
			servers[i] = p.server()
			track(servers[i])
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, s := range servers {
			if s != nil {
				s.shutdown()
			}
		}
		return nil, err
	}
	return servers, nil
}

// logTails logs the end of each server's log, for a test that failed.
func logTails(t testing.TB, servers []*Server) {
	for _, s := range servers {
		if s.proc != nil {
			t.Logf("redistest: tail of %s (%s):\n%s", s.proc.logPath, s.Addr, s.proc.tail(0))
		}
	}
}

// Node returns the node listening on addr, or nil.
func (c *Cluster) Node(addr string) *Server {
	i := slices.Index(c.Addrs, addr)
	if i < 0 {
		return nil
	}
	return c.Nodes[i]
}

// Kill sends SIGKILL to the node at addr and waits until it is gone, as
// Server.Kill does. The cluster notices after ClusterNodeTimeout and, if
// the node was a master, promotes its replica; WaitHealthy waits for that.
func (c *Cluster) Kill(t testing.TB, addr string) {
	t.Helper()
	s := c.Node(addr)
	if s == nil {
		t.Fatalf("redistest: no node of the cluster listens on %s", addr)
	}
	s.Kill(t)
}

// Masters returns the address of every master that serves slots, in slot
// order, as a running node sees the cluster now.
func (c *Cluster) Masters(t testing.TB) []string {
	t.Helper()
	v := c.mustView(t)
	var out []string
	for _, r := range v.ranges {
		if !slices.Contains(out, r.owner) {
			out = append(out, r.owner)
		}
	}
	return out
}

// MasterOf returns the address of the master that serves key's hash slot,
// as a running node sees the cluster now.
func (c *Cluster) MasterOf(t testing.TB, key string) string {
	t.Helper()
	slot := Slot(key)
	for _, r := range c.mustView(t).ranges {
		if slot >= r.from && slot <= r.to {
			return r.owner
		}
	}
	t.Fatalf("redistest: no master serves slot %d", slot)
	return ""
}

// KeysByMaster returns the number of keys (DBSIZE) on each master, by
// address, for a test to check that its data spread over the cluster.
func (c *Cluster) KeysByMaster(t testing.TB) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, m := range c.Masters(t) {
		reply, err := command(m, "DBSIZE")
		if err != nil {
			t.Fatalf("redistest: DBSIZE on %s: %v", m, err)
		}
		out[m], _ = strconv.Atoi(reply)
	}
	return out
}

// CPUTime returns the processor time (user and system, from INFO cpu) that
// each running node has used so far, by address; two readings around a
// workload show which node was busy, and how close to one full core.
func (c *Cluster) CPUTime(t testing.TB) map[string]time.Duration {
	t.Helper()
	out := map[string]time.Duration{}
	for _, s := range c.Nodes {
		if s.PID() == 0 {
			continue
		}
		info, err := command(s.Addr, "INFO", "cpu")
		if err != nil {
			t.Fatalf("redistest: INFO cpu on %s: %v", s.Addr, err)
		}
		var total float64
		for _, line := range strings.Split(info, "\n") {
			name, v, _ := strings.Cut(strings.TrimSpace(line), ":")
			if name == "used_cpu_user" || name == "used_cpu_sys" {
				f, _ := strconv.ParseFloat(v, 64)
				total += f
			}
		}
		out[s.Addr] = time.Duration(total * float64(time.Second))
	}
	return out
}

// WaitReplicated waits until every running replica of the master that
// serves key has acknowledged all the writes that master has accepted so
// far (WAIT), so that killing the master then loses none of them. It fails
// the test after 5 s.
func (c *Cluster) WaitReplicated(t testing.TB, key string) {
	t.Helper()
	master := c.MasterOf(t, key)
	view, err := nodeView(master)
	if err != nil {
		t.Fatalf("redistest: CLUSTER NODES on %s: %v", master, err)
	}
	replicas := 0
	for _, n := range view.replicas[view.self] {
		if s := c.Node(n); s != nil && s.PID() != 0 {
			replicas++
		}
	}
	probe := sameSlotKey(key)
	if Slot(probe) != Slot(key) {
		t.Fatalf("redistest: WaitReplicated cannot write in the slot of %q (braces that are not a hash tag)", key)
	}
	if err := waitReplicated(master, probe, replicas); err != nil {
		t.Fatalf("redistest: %v", err)
	}
}

// waitReplicated makes one write on master, in the slot of key, then waits
// until n replicas have acknowledged it. WAIT only counts the writes of its
// own connection, and a replica applies the stream in order, so one fresh
// write that has reached a replica means every earlier write has too.
func waitReplicated(master, key string, n int) error {
	rc, err := dialRESP(master, replicationTimeout+probeTimeout)
	if err != nil {
		return err
	}
	defer rc.Close()
	if _, err := rc.do("SET", key, "1", "PX", "60000"); err != nil {
		return fmt.Errorf("write on %s: %w", master, err)
	}
	reply, err := rc.do("WAIT", strconv.Itoa(n), strconv.Itoa(int(replicationTimeout/time.Millisecond)))
	if err != nil {
		return fmt.Errorf("WAIT on %s: %w", master, err)
	}
	if got, _ := strconv.Atoi(reply); got < n {
		return fmt.Errorf("%d of %d replicas of %s acknowledged within %v", got, n, master, replicationTimeout)
	}
	return nil
}

// sameSlotKey returns a key of redistest's own in the hash slot of key.
func sameSlotKey(key string) string {
	return "{" + slot.Hashed(key) + "}redistest:replicated"
}

// WaitHealthy waits until the cluster has settled: every running node
// reports cluster_state:ok with all slots served, every running node sees
// the same masters for the same slots, every such master is running, and
// every running replica is in sync with its master. After Kill of a master
// it returns once a replica has taken over. It fails the test after 30 s.
func (c *Cluster) WaitHealthy(t testing.TB) {
	t.Helper()
	if err := c.waitHealthy(clusterReadyTimeout); err != nil {
		t.Fatalf("redistest: the cluster did not settle: %v", err)
	}
}

func (c *Cluster) waitHealthy(timeout time.Duration) error {
	return poll(timeout, c.healthy)
}

func (c *Cluster) healthy() error {
	var first *clusterView
	live := 0
	for _, s := range c.Nodes {
		if s.PID() == 0 {
			continue
		}
		live++
		info, err := command(s.Addr, "CLUSTER", "INFO")
		if err != nil {
			return fmt.Errorf("CLUSTER INFO on %s: %w", s.Addr, err)
		}
		for _, want := range []string{"cluster_state:ok", "cluster_slots_ok:" + strconv.Itoa(ClusterSlots)} {
			if !strings.Contains(info, want+"\r\n") {
				return fmt.Errorf("%s: CLUSTER INFO lacks %s", s.Addr, want)
			}
		}
		v, err := nodeView(s.Addr)
		if err != nil {
			return fmt.Errorf("CLUSTER NODES on %s: %w", s.Addr, err)
		}
		if first == nil {
			first = v
			for _, r := range v.ranges {
				if n := c.Node(r.owner); n == nil || n.PID() == 0 {
					return fmt.Errorf("%s: slots %d-%d are served by %s, which is down", s.Addr, r.from, r.to, r.owner)
				}
			}
		} else if !slices.Equal(v.ranges, first.ranges) {
			return fmt.Errorf("%s and %s disagree on the slots: %v, %v", first.self, v.self, first.ranges, v.ranges)
		}
		if v.isReplica {
			repl, err := command(s.Addr, "INFO", "replication")
			if err != nil {
				return fmt.Errorf("INFO replication on %s: %w", s.Addr, err)
			}
			if !strings.Contains(repl, "master_link_status:up") {
				return fmt.Errorf("replica %s is not in sync with its master", s.Addr)
			}
		}
	}
	if live == 0 {
		return errors.New("no node is running")
	}
	return nil
}

func (c *Cluster) mustView(t testing.TB) *clusterView {
	t.Helper()
	var errs []error
	for _, s := range c.Nodes {
		if s.PID() == 0 {
			continue
		}
		v, err := nodeView(s.Addr)
		if err == nil {
			return v
		}
		errs = append(errs, err)
	}
	t.Fatalf("redistest: no node of the cluster answers CLUSTER NODES: %v", errors.Join(errs...))
	return nil
}

// clusterView is what one node says about the cluster in CLUSTER NODES.
type clusterView struct {
	// self is the address of the node that answered.
	self      string
	isReplica bool
	// ranges are the slot ranges, in slot order, and who serves them;
	// masters flagged as failed are left out.
	ranges []slotRange
	// replicas lists the replicas of each master, by address.
	replicas map[string][]string
}

type slotRange struct {
	from, to int
	owner    string
}

func (r slotRange) String() string { return fmt.Sprintf("%d-%d:%s", r.from, r.to, r.owner) }

// nodeView asks addr for CLUSTER NODES and parses it. Each line is
// "<id> <ip:port@cport[,hostname]> <flags> <master id> <ping> <pong>
// <epoch> <link> <slot or range>...".
func nodeView(addr string) (*clusterView, error) {
	text, err := command(addr, "CLUSTER", "NODES")
	if err != nil {
		return nil, err
	}
	type node struct {
		addr, master string
		flags        []string
		slots        []string
	}
	byID := map[string]node{}
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			return nil, fmt.Errorf("unexpected CLUSTER NODES line %q", line)
		}
		a, _, _ := strings.Cut(f[1], "@")
		byID[f[0]] = node{addr: a, flags: strings.Split(f[2], ","), master: f[3], slots: f[8:]}
	}
	v := &clusterView{replicas: map[string][]string{}}
	for _, n := range byID {
		if slices.Contains(n.flags, "myself") {
			v.self = n.addr
			v.isReplica = slices.Contains(n.flags, "slave")
		}
		if slices.Contains(n.flags, "fail") || slices.Contains(n.flags, "fail?") {
			continue
		}
		if m, ok := byID[n.master]; ok && slices.Contains(n.flags, "slave") {
			v.replicas[m.addr] = append(v.replicas[m.addr], n.addr)
		}
		for _, s := range n.slots {
			if strings.HasPrefix(s, "[") {
				continue // a slot being migrated or imported
			}
			from, to, isRange := strings.Cut(s, "-")
			if !isRange {
				to = from
			}
			r := slotRange{owner: n.addr}
			var err1, err2 error
			r.from, err1 = strconv.Atoi(from)
			r.to, err2 = strconv.Atoi(to)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("unexpected slot %q in CLUSTER NODES", s)
			}
			v.ranges = append(v.ranges, r)
		}
	}
	slices.SortFunc(v.ranges, func(a, b slotRange) int { return a.from - b.from })
	return v, nil
}

// command sends one command to addr on a connection of its own.
func command(addr string, args ...string) (string, error) {
	rc, err := dialRESP(addr, probeTimeout)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	return rc.do(args...)
}

// Slot returns the Redis Cluster hash slot of key: CRC16 (XMODEM) of its
// hash tag, the text between the first "{" and the next "}" when that is
// not empty, or else of the whole key, modulo 16384.
func Slot(key string) int { return slot.Of(key) }
