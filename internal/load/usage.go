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
// sections ("commandstats", "cpu"), as the server sends it.
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

// sample is a reading of every counter a run compares.
type sample struct {
	redis     bool
	commands  int64
	scripts   int64
	infoCalls int64
	redisCPU  time.Duration
	clientCPU time.Duration
}

func (r *runner) sample(ctx context.Context) (sample, error) {
	s := sample{clientCPU: processCPU()}
	if r.cfg.Info == nil {
		return s, nil
	}
	text, err := r.cfg.Info(ctx, "commandstats", "cpu")
	if err != nil {
		return s, err
	}
	if err := s.parseInfo(text); err != nil {
		return s, err
	}
	s.redis = true
	return s, nil
}

// parseInfo reads the calls of every command and the server's CPU time
// from an INFO reply.
func (s *sample) parseInfo(text string) error {
	var cpuUser, cpuSys, sawStats bool
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
			s.commands += calls
			switch strings.TrimPrefix(name, "cmdstat_") {
			case "fcall":
				s.scripts += calls
			case "info":
				s.infoCalls += calls
			}
		case name == "used_cpu_user":
			s.redisCPU += seconds(value)
			cpuUser = true
		case name == "used_cpu_sys":
			s.redisCPU += seconds(value)
			cpuSys = true
		}
	}
	if !cpuUser || !cpuSys || !sawStats {
		return errNoInfo
	}
	return nil
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

// minus is the usage between an earlier sample a and s. The INFO calls
// of the measurement itself are left out of the command count.
func (s sample) minus(a sample) *Usage {
	u := &Usage{ClientCPU: s.clientCPU - a.clientCPU}
	if s.redis && a.redis {
		u.Redis = true
		u.Commands = (s.commands - a.commands) - (s.infoCalls - a.infoCalls)
		u.Scripts = s.scripts - a.scripts
		u.RedisCPU = s.redisCPU - a.redisCPU
	}
	return u
}

// plus adds two usages, as for two phases run one after the other.
func (u *Usage) plus(v *Usage) *Usage {
	return &Usage{
		Redis:     u.Redis && v.Redis,
		Commands:  u.Commands + v.Commands,
		Scripts:   u.Scripts + v.Scripts,
		RedisCPU:  u.RedisCPU + v.RedisCPU,
		ClientCPU: u.ClientCPU + v.ClientCPU,
	}
}
