// Command jobqueue runs the jobqueue dashboard and demo, and inspects queues.
//
// Usage:
//
//	jobqueue serve [flags]          the web dashboard with a mock worker pool
//	jobqueue dashboard [flags]      the dashboard of real queues (package dashboard)
//	jobqueue queues                 the queues registered in the store
//	jobqueue stats                  depths and counters of a queue
//	jobqueue list STATE             ids and summaries of the jobs in one state
//	jobqueue show ID                one job's record
//	jobqueue enqueue [JSON]         enqueue a payload (from the argument or stdin)
//	jobqueue retry ID|--all-dead    send dead jobs back to pending
//	jobqueue delete ID...           delete jobs in any state
//	jobqueue purge [--yes]          delete every job and counter of a queue
//	jobqueue bench [flags]          load-test a backend and print a report
//	jobqueue version                the module version and the Go version
//
// Every subcommand takes -backend (auto, goredis, rueidis or memory) and,
// but queues, -queue, and reads the Redis server from REDIS_URL (default
// redis://127.0.0.1:6379/), trusting for rediss:// the certificate
// authorities in REDIS_CA_FILE, when set, instead of the system's. With
// auto, Redis is used when it answers and the in-memory backend otherwise;
// the command says which. The inspection subcommands name the store they
// use on stderr and print a table, or JSON with --json (errors too). Exit
// codes: 0 done, 1 failed, 2 a usage error. Run "jobqueue help SUBCOMMAND"
// for its flags.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/jobqueue-go/jobqueue"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first Ctrl-C cancels ctx, which every subcommand watches, even
	// while it waits for stdin; then the signals get their default action
	// back, so that a second Ctrl-C ends the process whatever it waits for.
	go func() {
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes of run.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// command is one subcommand.
type command struct {
	name    string
	args    string
	summary string
	run     func(ctx context.Context, env *cmdEnv, args []string) int
}

// cmdEnv is what a subcommand reads and writes, so tests can run the
// command in-process.
type cmdEnv struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// queue, when set, is the queue every inspection subcommand works
	// on, whatever its flags say; tests set it to reach an in-memory
	// queue they hold, since the memory backend is per process.
	queue *jobqueue.Queue

	// json is set while a subcommand prints JSON (--json): its errors and
	// notes on stderr are JSON objects too.
	json bool
	// store names the store the subcommand works on, once it is known:
	// Redis's URL with the password redacted, or memory.
	store string
	// prefixScan, when not 0, replaces the bound of resolveID's search
	// (tests lower it).
	prefixScan int
}

func commands() []command {
	return []command{
		{"serve", "[flags]", "run the web dashboard and demo worker pool", runServe},
		{"dashboard", "[-queue NAME]... [flags]", "serve the dashboard of every registered queue, or of those -queue names (read-only unless -actions)", runDashboard},
		{"queues", "[-forget NAME] [flags]", "list the queues registered in the store: pending, processing, dead, paused, last seen; or forget one", runQueues},
		{"stats", "[flags]", "show a queue's depths and counters", runStats},
		{"history", "[-minutes N] [flags]", "show what happened to a queue minute by minute (the store keeps a day)", runHistory},
		{"schedules", "[-rm NAME] [flags]", "list a queue's schedules (jqcron.Scheduler): spec, time zone, last tick, last seen run, next ticks; or remove an abandoned one", runSchedules},
		{"bench", "[flags]", "load-test a backend: enqueue N jobs, drain them, print throughput, latency and Redis cost", runBench},
		{"list", "STATE [flags]", "list the jobs in one state (" + stateNames() + ")", runList},
		{"show", "ID [flags]", "show one job's record", runShow},
		{"enqueue", "[JSON] [flags]", "enqueue a JSON payload given as the argument, or JSON values read from stdin", runEnqueue},
		{"retry", "ID... | --all-dead [flags]", "send dead jobs back to pending", runRetry},
		{"delete", "ID... [flags]", "delete jobs in any state", runDelete},
		{"cancel", "ID... [flags]", "cancel jobs; running ones at their next heartbeat", runCancel},
		{"purge", "[--yes] [flags]", "delete every job and counter of a queue (asks first)", runPurge},
		{"pause", "[flags]", "pause a queue: no process hands out its jobs until resume", runPause},
		{"resume", "[flags]", "resume a paused queue", runResume},
		{"limits", "[-concurrency N] [-rate N -per DURATION] [flags]", "show or change a queue's concurrency and rate limits, which hold for every process", runLimits},
		{"version", "[--json]", "print the command's module version and the Go version that built it", runVersion},
	}
}

// run is the whole command, minus the process: it returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	env := &cmdEnv{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	return env.dispatch(ctx, args)
}

func (e *cmdEnv) dispatch(ctx context.Context, args []string) int {
	if len(args) == 0 {
		e.usage(e.stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(rest) > 0 {
			for _, c := range commands() {
				if c.name == rest[0] {
					return c.run(ctx, e, []string{"-h"})
				}
			}
		}
		e.usage(e.stdout)
		return exitOK
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, e, rest)
		}
	}
	e.errorf("unknown subcommand %q", name)
	e.usage(e.stderr)
	return exitUsage
}

func (e *cmdEnv) usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: jobqueue SUBCOMMAND [arguments] [flags]")
	fmt.Fprintln(w)
	var rows [][]string
	for _, c := range commands() {
		rows = append(rows, []string{"", c.name, c.args, c.summary})
	}
	writeTable(w, e.width(), []column{{}, {}, {min: 12}, {min: 24}}, rows)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Every subcommand but version takes -queue NAME and")
	fmt.Fprintln(w, "-backend auto|goredis|rueidis|memory, and says on stderr which store it uses;")
	fmt.Fprintln(w, "REDIS_URL names the Redis server (default "+defaultRedisURL+");")
	fmt.Fprintln(w, "REDIS_CA_FILE, certificate authorities (PEM) to trust for rediss:// instead")
	fmt.Fprintln(w, "of the system's. Exit codes: 0 done, 1 failed, 2 a usage error.")
	fmt.Fprintln(w, `Run "jobqueue help SUBCOMMAND" for its flags.`)
}
