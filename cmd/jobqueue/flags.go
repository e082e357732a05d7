package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
)

// defaultQueue is the queue every subcommand works on unless -queue says
// otherwise, so that "jobqueue stats" sees what "jobqueue serve" does.
const defaultQueue = "jobs"

// queueFlags are the flags every subcommand shares.
type queueFlags struct {
	queue   string
	backend string
	// memory bounds a memory backend; only serve, which runs for as long
	// as anyone likes, sets them (its -memory-max-* flags). The other
	// commands end with their work.
	memory memoryBounds
}

func (f *queueFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.queue, "queue", defaultQueue, "the queue's `name`")
	fs.StringVar(&f.backend, "backend", backendAuto, "storage: auto (Redis when it answers, else memory), goredis, rueidis or memory")
}

func (e *cmdEnv) flagSet(name, args, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: jobqueue %s %s\n\n%s\n\nFlags:\n", name, args, about)
		fs.PrintDefaults()
		fmt.Fprintf(fs.Output(), "\nEnvironment:\n  REDIS_URL      the Redis server (default %s); rediss:// and credentials work\n", defaultRedisURL)
		fmt.Fprintf(fs.Output(), "  REDIS_CA_FILE  PEM certificate authorities to trust for rediss:// instead of the system's\n")
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
	return nil
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
	// the adapter's optional capabilities (backend.ConfigChecker…).
	q, err := jobqueue.New(ob.Backend, f.queue, opts...)
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
