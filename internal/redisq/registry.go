package redisq

import (
	"cmp"
	"context"
	"slices"
	"strconv"

	"github.com/jobqueue-go/jobqueue/backend"
)

var _ backend.QueueRegistry = (*Engine)(nil)

// registryKeys is the KEYS array of the registry's scripts: the registry
// alone (see RegistryKey).
var registryKeys = []string{RegistryKey}

// RegisterQueue implements backend.QueueRegistry with one call of
// register.lua: TIME and a ZADD on the registry. It sends no request id:
// a repeat registers again, which only moves the queue's time forward.
func (e *Engine) RegisterQueue(ctx context.Context, queue string) error {
	if err := backend.ValidateQueueName(queue); err != nil {
		return err
	}
	_, err := e.callKeys(ctx, scriptRegister, registryKeys, []string{queue})
	return err
}

// ForgetQueue implements backend.QueueRegistry with one call of
// forget.lua, a ZREM on the registry. It sends no request id: a repeat
// finds nothing to remove.
func (e *Engine) ForgetQueue(ctx context.Context, queue string) error {
	if err := backend.ValidateQueueName(queue); err != nil {
		return err
	}
	_, err := e.callKeys(ctx, scriptForget, registryKeys, []string{queue})
	return err
}

// Queues implements backend.QueueRegistry with one read-only call of
// queues.lua (a ZRANGE of the whole registry), which a replica may serve.
func (e *Engine) Queues(ctx context.Context) ([]backend.QueueEntry, error) {
	v, err := e.callKeys(ctx, scriptQueues, registryKeys, nil)
	if err != nil {
		return nil, err
	}
	return decodeQueues(v)
}

// decodeQueues reads the reply of queues.lua, name and time in turn, and
// sorts it by name. A member that is no valid queue name was not written
// by register.lua (someone wrote the key by hand): it names no queue that
// could be opened, so it is left out.
func decodeQueues(v any) ([]backend.QueueEntry, error) {
	kv, err := asStrings(v, "queues")
	if err != nil {
		return nil, err
	}
	if len(kv)%2 != 0 {
		return nil, errShape("queues", v)
	}
	out := make([]backend.QueueEntry, 0, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		if backend.ValidateQueueName(kv[i]) != nil {
			continue
		}
		// A zset score comes back as Redis formats a double; times in ms
		// are whole numbers well within a double's exact range.
		ms, err := strconv.ParseFloat(kv[i+1], 64)
		if err != nil {
			return nil, errShape("time of queue "+kv[i], kv[i+1])
		}
		out = append(out, backend.QueueEntry{Name: kv[i], LastSeen: msTime(int64(ms))})
	}
	slices.SortFunc(out, func(a, b backend.QueueEntry) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}
