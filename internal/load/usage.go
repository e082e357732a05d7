package load

import (
	"bufio"
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	rueidislib "github.com/redis/rueidis"
)

// InfoFunc returns the text of the Redis INFO command for the given
// sections (see InfoSections), as the server sends it.
type InfoFunc func(ctx context.Context, sections ...string) (string, error)

// GoRedisInfo reads INFO through a go-redis client. On a Cluster client
// the reply comes from one node only, so use it with a single node.
func GoRedisInfo(c redis.UniversalClient) InfoFunc {
	return func(ctx context.Context, sections ...string) (string, error) {
		return c.Info(ctx, sections...).Result()
	}
}

// RueidisInfo reads INFO through a rueidis client, on a single node.
func RueidisInfo(c rueidislib.Client) InfoFunc {
	return func(ctx context.Context, sections ...string) (string, error) {
		return c.Do(ctx, c.B().Info().Section(sections...).Build()).ToString()
	}
}

// InfoSections are the INFO sections ParseInfo reads.
var InfoSections = []string{"commandstats", "cpu", "stats"}

// Counters are the server-wide counters of one INFO reply that a
// measurement compares. Redis counts the whole server, so a server nothing
// else uses is measured.
type Counters struct {
	// Commands is the sum of the calls of every command in commandstats,
	// those run inside scripts and functions included.
	Commands int64
	// Scripts counts FCALL, FCALL_RO, EVAL and EVALSHA calls.
	Scripts int64
	// InfoCalls counts INFO calls, the measurement's own.
	InfoCalls int64
	// Reads is total_reads_processed: the socket reads Redis served, about
	// one per round trip (a pipeline that arrives at once is one read).
	Reads int64
	// RedisCPU is the server's used_cpu_user plus used_cpu_sys.
	RedisCPU time.Duration
	// OutputBytes is total_net_output_bytes: the bytes Redis sent to its
	// clients, replies and the INFO replies of the measurement included.
	OutputBytes int64
}

// ParseInfo reads Counters from an INFO reply of InfoSections.
func ParseInfo(text string) (Counters, error) {
	var c Counters
	var cpuUser, cpuSys, sawStats, sawReads bool
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		name, value, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if !ok {
			continue
		}
		switch {
		case strings.HasPrefix(name, "cmdstat_"):
			calls := statField(value, "calls")
			sawStats = true
			c.Commands += calls
			switch strings.TrimPrefix(name, "cmdstat_") {
			case "fcall", "fcall_ro", "evalsha", "eval", "evalsha_ro", "eval_ro":
				c.Scripts += calls
			case "info":
				c.InfoCalls += calls
			}
		case name == "used_cpu_user":
			c.RedisCPU += seconds(value)
			cpuUser = true
		case name == "used_cpu_sys":
			c.RedisCPU += seconds(value)
			cpuSys = true
		case name == "total_net_output_bytes":
			c.OutputBytes, _ = strconv.ParseInt(value, 10, 64)
		case name == "total_reads_processed":
			c.Reads, _ = strconv.ParseInt(value, 10, 64)
			sawReads = true
		}
	}
	if !cpuUser || !cpuSys || !sawStats || !sawReads {
		return c, errNoInfo
	}
	return c, nil
}

// Since is the difference from an earlier reading a to c, less the INFO
// calls between them and the socket reads that carried those calls: a
// measurement that reads INFO at both ends counts nothing of its own.
func (c Counters) Since(a Counters) Counters {
	info := c.InfoCalls - a.InfoCalls
	return Counters{
		Commands:  c.Commands - a.Commands - info,
		Scripts:   c.Scripts - a.Scripts,
		Reads:     c.Reads - a.Reads - info,
		RedisCPU:  c.RedisCPU - a.RedisCPU,
		InfoCalls: info,
		// The INFO reply of reading a is sent after it counted: its
		// bytes are in the delta, a few KiB.
		OutputBytes: c.OutputBytes - a.OutputBytes,
	}
}

// sample is a reading of every counter a run compares.
type sample struct {
	redis     bool
	counters  Counters
	clientCPU time.Duration
}

func (r *runner) sample(ctx context.Context) (sample, error) {
	s := sample{clientCPU: ProcessCPU()}
	if r.cfg.Info == nil {
		return s, nil
	}
	text, err := r.cfg.Info(ctx, InfoSections...)
	if err != nil {
		return s, err
	}
	if s.counters, err = ParseInfo(text); err != nil {
		return s, err
	}
	s.redis = true
	return s, nil
}

// statField returns one integer field of a commandstats value such as
// "calls=12,usec=40,usec_per_call=3.33".
func statField(value, field string) int64 {
	for kv := range strings.SplitSeq(value, ",") {
		k, v, _ := strings.Cut(kv, "=")
		if k == field {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

func seconds(v string) time.Duration {
	f, _ := strconv.ParseFloat(v, 64)
	return time.Duration(f * float64(time.Second))
}

// minus is the usage between an earlier sample a and s.
func (s sample) minus(a sample) *Usage {
	u := &Usage{ClientCPU: s.clientCPU - a.clientCPU}
	if s.redis && a.redis {
		d := s.counters.Since(a.counters)
		u.Redis = true
		u.Commands, u.Scripts, u.Reads, u.RedisCPU = d.Commands, d.Scripts, d.Reads, d.RedisCPU
	}
	return u
}

// plus adds two usages, as for two phases run one after the other.
func (u *Usage) plus(v *Usage) *Usage {
	return &Usage{
		Redis:     u.Redis && v.Redis,
		Commands:  u.Commands + v.Commands,
		Scripts:   u.Scripts + v.Scripts,
		Reads:     u.Reads + v.Reads,
		RedisCPU:  u.RedisCPU + v.RedisCPU,
		ClientCPU: u.ClientCPU + v.ClientCPU,
	}
}
