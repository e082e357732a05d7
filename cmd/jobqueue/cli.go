package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
)

// This file holds what every inspection subcommand shares: how it reports
// errors and the store it used, in text or JSON; its exit codes; reading
// stdin so that Ctrl-C still works; and resolving an id prefix.

// usageError is a mistake in how the command was called (a flag, an
// argument, REDIS_URL): exit code 2.
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

// usagef returns a usageError.
func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// exitCode returns the exit code of a command that failed with err: 2 for
// a usage error, which includes the input the queue refuses as invalid
// (a bad id, queue name, state or limit, a payload too large), and 1 for
// any other.
func exitCode(err error) int {
	var u usageError
	switch {
	case errors.As(err, &u), errors.Is(err, jobqueue.ErrInvalidArgument), errors.Is(err, jobqueue.ErrInvalidQueueName),
		errors.Is(err, jobqueue.ErrInvalidState), errors.Is(err, jobqueue.ErrPayloadTooLarge):
		return exitUsage
	}
	return exitError
}

// fail reports err and returns its exit code.
func (e *cmdEnv) fail(err error) int {
	e.errorf("%v", err)
	return exitCode(err)
}

// errorf reports an error on stderr: a line that starts with "jobqueue: ",
// or, with --json, a JSON object {"error", "redis"}.
func (e *cmdEnv) errorf(format string, args ...any) {
	e.say("error", fmt.Sprintf(format, args...))
}

// notef tells the user something on stderr that is not an error: as
// errorf does, under "note" in JSON.
func (e *cmdEnv) notef(format string, args ...any) {
	e.say("note", fmt.Sprintf(format, args...))
}

// warnf warns on stderr: as errorf does, under "warning" in JSON.
func (e *cmdEnv) warnf(format string, args ...any) {
	e.say("warning", fmt.Sprintf(format, args...))
}

func (e *cmdEnv) say(kind, msg string) {
	msg = strings.TrimPrefix(msg, "jobqueue: ")
	if !e.json {
		fmt.Fprintln(e.stderr, "jobqueue: "+msg)
		return
	}
	line := map[string]string{kind: msg}
	if e.store != "" {
		line["redis"] = e.store
	}
	b, _ := json.Marshal(line)
	fmt.Fprintf(e.stderr, "%s\n", b)
}

// printJSON prints v on stdout, indented. An object gets the field
// "redis" first, naming the store the command used (see cmdEnv.store).
func (e *cmdEnv) printJSON(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		e.errorf("%v", err)
		return
	}
	if e.store != "" && len(b) > 1 && b[0] == '{' {
		store, _ := json.Marshal(e.store)
		sep := []byte(",")
		if b[1] == '}' {
			sep = nil
		}
		b = slices.Concat([]byte(`{"redis":`), store, sep, b[1:])
	}
	var buf bytes.Buffer
	_ = json.Indent(&buf, b, "", "  ")
	buf.WriteByte('\n')
	_, _ = e.stdout.Write(buf.Bytes())
}

// announce says on stderr which store the command works on, so that a
// wrong REDIS_URL is not mistaken for an empty queue. With --json it says
// nothing there: every object printed carries the store as "redis".
func (e *cmdEnv) announce(queue, desc string) {
	if !e.json {
		fmt.Fprintf(e.stderr, "jobqueue: queue %q on %s\n", queue, desc)
	}
}

// parseFlags is parse for a subcommand that has --json: with --json among
// args, its errors are JSON from the first one, a bad flag's included.
func (e *cmdEnv) parseFlags(fs *flag.FlagSet, args []string) ([]string, int, bool) {
	if wantsJSON(args) {
		e.json = true
		fs.SetOutput(io.Discard)
	}
	pos, err := parseArgs(fs, args)
	fs.SetOutput(e.stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		if e.json { // the flag package printed to the discarded output
			fs.Usage()
		}
		return nil, exitOK, false
	case err != nil:
		if e.json {
			e.errorf("%v (see jobqueue help %s)", err, fs.Name())
		}
		return nil, exitUsage, false
	}
	if f := fs.Lookup("json"); f != nil {
		e.json = f.Value.String() == "true"
	}
	return pos, exitOK, true
}

// wantsJSON reports whether args turn --json on, before they are parsed.
func wantsJSON(args []string) bool {
	on := false
	for _, a := range args {
		if a == "--" {
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "json" {
			continue
		}
		on = true
		if hasValue {
			on, _ = strconv.ParseBool(value)
		}
	}
	return on
}

// badArgs reports a wrong number of positional arguments: the usage in
// text, one error in JSON.
func (e *cmdEnv) badArgs(fs *flag.FlagSet, msg string) int {
	if e.json {
		e.errorf("%s (see jobqueue help %s)", msg, fs.Name())
	} else {
		e.errorf("%s", msg)
		fs.Usage()
	}
	return exitUsage
}

// readStdin returns what read returns, or ctx's error as soon as ctx ends:
// a read from a terminal does not end on Ctrl-C, which cancels ctx. A
// read that is abandoned so goes on in its goroutine until the process,
// which is ending, exits.
func readStdin[T any](ctx context.Context, read func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := read()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// stdinIsTerminal reports whether stdin is a terminal (a character
// device), where a read waits for someone to type.
func (e *cmdEnv) stdinIsTerminal() bool {
	f, ok := e.stdin.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// errInterrupted is how a command reports the Ctrl-C that ended it.
var errInterrupted = errors.New("interrupted")

// interrupted returns errInterrupted in place of the error of a context
// that Ctrl-C ended, and err otherwise.
func interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return errInterrupted
	}
	return err
}

// Bounds of resolveID's search for an id prefix.
const (
	prefixPage = 1000
	// prefixScan is how many ids of each state the search reads at most.
	prefixScan = 100_000
	// prefixShown is how many matches an ambiguous prefix's error names.
	prefixShown = 3
)

// notFound is ErrNotFound with the command's own message.
type notFound struct{ msg string }

func (n notFound) Error() string { return n.msg }
func (n notFound) Unwrap() error { return jobqueue.ErrNotFound }

// resolveID returns the id of q's one job whose id is arg or starts with
// arg, so that the short ids a dashboard shows work. An exact id wins. A
// prefix is looked for in the ids of every state, up to prefixScan of
// each; when a state holds more, a prefix that matched one job may match
// another beyond the bound, which only show (sure false) accepts, with a
// note. More than one match is a usage error.
func (e *cmdEnv) resolveID(ctx context.Context, q *jobqueue.Queue, arg string, sure bool) (string, error) {
	_, err := q.Get(ctx, arg)
	if err == nil || !errors.Is(err, jobqueue.ErrNotFound) {
		return arg, err
	}
	scan := prefixScan
	if e.prefixScan > 0 {
		scan = e.prefixScan
	}
	page := min(prefixPage, scan)
	var matches []string
	partial := false
search:
	for _, state := range backend.States {
		for offset := 0; ; offset += page {
			if offset >= scan {
				partial = true
				break
			}
			ids, err := q.List(ctx, state, offset, page)
			if err != nil {
				return "", err
			}
			for _, id := range ids {
				if strings.HasPrefix(id, arg) && !slices.Contains(matches, id) {
					matches = append(matches, id)
				}
			}
			if len(matches) > prefixShown {
				break search
			}
			if len(ids) < page {
				break
			}
		}
	}
	switch {
	case len(matches) > 1:
		shown := strings.Join(matches[:min(len(matches), prefixShown)], ", ")
		if len(matches) > prefixShown {
			shown += ", …"
		}
		return "", usagef("id prefix %q is ambiguous in queue %q: it starts jobs %s; give more of the id", arg, q.Name(), shown)
	case len(matches) == 1 && partial && sure:
		return "", usagef("id prefix %q starts job %s, but queue %q holds more than the %d jobs of a state searched, and another may match; give the whole id",
			arg, matches[0], q.Name(), scan)
	case len(matches) == 1:
		if partial {
			e.notef("id prefix %q starts job %s among the first %d jobs of each state; the queue holds more, and another may match", arg, matches[0], scan)
		}
		return matches[0], nil
	case partial:
		return "", notFound{fmt.Sprintf("job %q not found in queue %q, as an id or as the start of one among the first %d of each state", arg, q.Name(), scan)}
	}
	return "", notFound{fmt.Sprintf("job %q not found in queue %q, as an id or as the start of one", arg, q.Name())}
}
