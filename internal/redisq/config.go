package redisq

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jobqueue-go/jobqueue/backend"
)

var _ backend.ConfigChecker = (*Engine)(nil)

// CheckConfig implements backend.ConfigChecker: it warns about every
// server (every master of a Cluster) whose maxmemory-policy is not
// noeviction, since any other policy lets Redis delete queue keys when its
// memory is full, silently. Under noeviction a full Redis refuses enqueues
// instead, with backend.ErrFull, and keeps draining.
//
// The policy is read with CONFIG GET and, where CONFIG is refused (an ACL
// user without @admin, a managed Redis that renames it), from INFO memory.
// A server that refuses both gets a warning saying its policy is unknown:
// a silent pass would read as "all is well". Only a server that cannot be
// reached makes an error.
func (e *Engine) CheckConfig(ctx context.Context) ([]string, error) {
	nodes, err := e.conn.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	var warnings []string
	for _, n := range nodes {
		where := "Redis"
		if n.Addr != "" {
			where = "Redis node " + n.Addr
		}
		policy, err := maxmemoryPolicy(ctx, n)
		var unread *unreadPolicy
		switch {
		case errors.As(err, &unread):
			warnings = append(warnings, fmt.Sprintf("jobqueue: could not read the maxmemory-policy of %s (%v); "+
				"unless it is noeviction, Redis may delete queue keys when its memory is full", where, unread))
		case err != nil:
			return nil, err
		default:
			if w := policyWarning(where, policy); w != "" {
				warnings = append(warnings, w)
			}
		}
	}
	return warnings, nil
}

// policyWarning says what policy risks, or nothing for noeviction.
func policyWarning(where, policy string) string {
	const fix = "; set maxmemory-policy noeviction, under which a full Redis refuses enqueues instead"
	switch {
	case policy == "noeviction":
		return ""
	case strings.HasPrefix(policy, "allkeys-"):
		return fmt.Sprintf("jobqueue: %s has maxmemory-policy %s: when its memory is full it evicts any key, "+
			"so pending and running jobs, whole queues even, can vanish without a trace%s", where, policy, fix)
	case strings.HasPrefix(policy, "volatile-"):
		return fmt.Sprintf("jobqueue: %s has maxmemory-policy %s: when its memory is full it evicts keys that have "+
			"a TTL: the records of completed and dead-lettered jobs, gone before their retention ends, and "+
			"the request records that recognise a call repeated after a lost reply, which then runs again "+
			"(a claim leaves the jobs it first took to wait out their lease, a purge deletes jobs enqueued since)%s", where, policy, fix)
	}
	return fmt.Sprintf("jobqueue: %s has maxmemory-policy %s, which may evict queue keys when its memory is full%s",
		where, policy, fix)
}

// unreadPolicy reports a server that refused both ways of reading its
// maxmemory-policy.
type unreadPolicy struct {
	config, info error
}

func (u *unreadPolicy) Error() string {
	return fmt.Sprintf("CONFIG GET: %v; INFO: %v", u.config, u.info)
}

// maxmemoryPolicy reads n's maxmemory-policy with CONFIG GET, else from
// INFO memory. A reply error or an answer without the policy moves on to
// the next way; a failed round trip is returned as it is.
func maxmemoryPolicy(ctx context.Context, n Node) (string, error) {
	v, cerr := n.Do(ctx, "CONFIG", "GET", "maxmemory-policy")
	if cerr == nil {
		if p, ok := configValue(v, "maxmemory-policy"); ok {
			return p, nil
		}
		cerr = fmt.Errorf("no maxmemory-policy in the reply %v", v)
	} else if !answered(cerr) {
		return "", cerr
	}
	v, ierr := n.Do(ctx, "INFO", "memory")
	if ierr == nil {
		if p, ok := infoValue(v, "maxmemory_policy"); ok {
			return p, nil
		}
		ierr = errors.New("no maxmemory_policy in the reply")
	} else if !answered(ierr) {
		return "", ierr
	}
	return "", &unreadPolicy{config: cerr, info: ierr}
}

// answered reports whether err is an error reply: Redis answered, and
// refused.
func answered(err error) bool {
	var re *replyError
	return errors.As(err, &re)
}

// configValue finds name in a CONFIG GET reply: its names and values in
// turn.
func configValue(v any, name string) (string, bool) {
	a, ok := v.([]any)
	if !ok {
		return "", false
	}
	for i := 0; i+1 < len(a); i += 2 {
		if k, ok := a[i].(string); ok && strings.EqualFold(k, name) {
			s, ok := a[i+1].(string)
			return s, ok
		}
	}
	return "", false
}

// infoValue finds the field name in an INFO reply, lines of name:value.
func infoValue(v any, name string) (string, bool) {
	s, ok := v.(string)
	if !ok {
		return "", false
	}
	for line := range strings.Lines(s) {
		if k, val, ok := strings.Cut(strings.TrimRight(line, "\r\n"), ":"); ok && k == name {
			return val, true
		}
	}
	return "", false
}
