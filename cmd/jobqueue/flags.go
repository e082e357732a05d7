package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/shard"
)

// defaultQueue is the queue every subcommand works on unless -queue says
// otherwise, so that "jobqueue stats" sees what "jobqueue serve" does.
const defaultQueue = "jobs"

// queueFlags are the flags every subcommand shares.
type queueFlags struct {
	queue   string
	backend string
	// shards spreads the queue over that many shards (package shard);
	// 0 for none, or what JOBQUEUE_SHARDS says.
	shards int
	// memory bounds a memory backend; only serve, which runs for as long
	// as anyone likes, sets them (its -memory-max-* flags). The other
	// commands end with their work.
	memory memoryBounds
}

func (f *queueFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.queue, "queue", defaultQueue, "the queue's `name`")
	fs.StringVar(&f.backend, "backend", backendAuto, "storage: auto (Redis when it answers, else memory), goredis, rueidis or memory")
	fs.IntVar(&f.shards, "shards", 0, "the queue is sharded over `n` shards (2 to 64; every process must give the same n; default: none, or JOBQUEUE_SHARDS)")
}

func (e *cmdEnv) flagSet(name, args, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: jobqueue %s %s\n\n%s\n\nFlags:\n", name, args, about)
		fs.PrintDefaults()
		fmt.Fprintf(fs.Output(), "\nEnvironment:\n  REDIS_URL      the Redis server (default %s); rediss:// and credentials work\n", defaultRedisURL)
		fmt.Fprintf(fs.Output(), "  REDIS_CA_FILE  PEM certificate authorities to trust for rediss:// instead of the system's\n")
		fmt.Fprintf(fs.Output(), "  JOBQUEUE_SHARDS  the sharded queues, as name=n,… (\"*=n\" for every other queue)\n")
	}
	return fs
}

// parse parses flags that may come before, between or after the
// positional arguments, which it returns. It returns the exit code to use
// when parsing ends the command (help, or a bad flag).
func parse(fs *flag.FlagSet, args []string) ([]string, int, bool) {
	pos, err := parseArgs(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return nil, exitOK, false
	case err != nil:
		return nil, exitUsage, false
	}
	return pos, exitOK, true
}

// parseArgs is parse, returning the flag package's error.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// check checks the flags before the store is contacted: a mistake in them
// is a usage error.
func (f queueFlags) check() error {
	switch f.backend {
	case backendAuto, backendGoredis, backendRueidis, backendMemory:
	default:
		return usagef("-backend %q: want auto, goredis, rueidis or memory", f.backend)
	}
	if err := backend.ValidateQueueName(f.queue); err != nil {
		return usagef("-queue: %s", strings.TrimPrefix(err.Error(), "jobqueue: "))
	}
	if f.shards != 0 && (f.shards < 2 || f.shards > shard.MaxShards) {
		return usagef("-shards %d: want 2 to %d (or 0 for none)", f.shards, shard.MaxShards)
	}
	return nil
}

// parseShards reads JOBQUEUE_SHARDS: name=n pairs, comma-separated, where
// the name "*" (shard.Every) stands for every queue not named.
func parseShards(spec string) (map[string]int, error) {
	out := map[string]int{}
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, count, ok := strings.Cut(item, "=")
		n, err := strconv.Atoi(count)
		if !ok || err != nil {
			return nil, usagef("JOBQUEUE_SHARDS: %q is not name=n", item)
		}
		if _, dup := out[name]; dup {
			return nil, usagef("JOBQUEUE_SHARDS: %q is given twice", name)
		}
		out[name] = n
	}
	return out, nil
}

// sharded returns b with the queues JOBQUEUE_SHARDS names sharded, and
// queue too when shards is not 0 (the -shards flag, which wins); b itself
// when neither says any.
func (e *cmdEnv) sharded(b backend.Backend, queue string, shards int) (backend.Backend, error) {
	m, err := parseShards(e.getenv("JOBQUEUE_SHARDS"))
	if err != nil {
		return nil, err
	}
	if shards != 0 {
		m[queue] = shards
	}
	if len(m) == 0 {
		return b, nil
	}
	sb, err := shard.New(b, m)
	if err != nil {
		return nil, usagef("JOBQUEUE_SHARDS: %s", strings.TrimPrefix(err.Error(), "jobqueue: "))
	}
	return sb, nil
}

// inspectQueue opens the queue an inspection subcommand works on, or the
// one a test put in e.queue.
func (e *cmdEnv) inspectQueue(ctx context.Context, f queueFlags) (*jobqueue.Queue, func(), error) {
	if e.queue != nil {
		e.store = backendMemory
		e.announce(e.queue.Name(), memoryDesc)
		return e.queue, func() {}, nil
	}
	// The command ends right after its call: a registration in the
	// background would be cut off, so enqueue registers itself.
	q, ob, err := e.openQueue(ctx, f, false, jobqueue.WithoutRegistry())
	if err != nil {
		return nil, nil, err
	}
	return q, ob.Close, nil
}

// openQueue opens the queue named by f on the backend -backend and
// REDIS_URL choose, and says which (announce). When auto finds no Redis it
// falls back to memory, and says so on stderr, only if fallbackOK;
// otherwise that is an error.
func (e *cmdEnv) openQueue(ctx context.Context, f queueFlags, fallbackOK bool, opts ...jobqueue.Option) (*jobqueue.Queue, *openedBackend, error) {
	if err := f.check(); err != nil {
		return nil, nil, err
	}
	ob, err := openBackend(ctx, f.backend, e.getenv("REDIS_URL"), e.getenv("REDIS_CA_FILE"), f.memory)
	if err != nil {
		return nil, nil, err
	}
	if ob.note != "" && !fallbackOK {
		// An inspection of a fresh in-memory queue would report an empty
		// queue, or accept an enqueue that vanishes with the process: for
		// these commands, auto without Redis is an error, not a fallback.
		ob.Close()
		e.store = ob.tried
		return nil, nil, fmt.Errorf("jobqueue: %s; this command needs the Redis that holds the queue (-backend memory runs it on an empty in-process queue)", ob.note)
	}
	if ob.note != "" {
		e.warnf("%s; using %s", ob.note, ob.desc)
	}
	// The queue gets the adapter itself, not the wrapper, so that it sees
	// the adapter's optional capabilities (backend.ConfigChecker…); a
	// sharded one forwards them all.
	b, err := e.sharded(ob.Backend, f.queue, f.shards)
	if err != nil {
		ob.Close()
		return nil, nil, err
	}
	q, err := jobqueue.New(b, f.queue, opts...)
	if err != nil {
		ob.Close()
		return nil, nil, err
	}
	e.store = ob.store
	e.announce(q.Name(), ob.desc)
	return q, ob, nil
}

// demoBackoff keeps the demo's retries in the scheduled column for a second
// or two, rather than minutes, so that they are seen.
var demoBackoff = jobqueue.ExponentialBackoff{Base: time.Second, Max: 8 * time.Second, Jitter: 0.5}
