package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
)

// uniqueFlags are enqueue's flags for jobqueue.Unique.
type uniqueFlags struct {
	key    string
	window time.Duration
	until  string
}

func (f *uniqueFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.key, "unique", "", "make the job unique by this `key` within its queue: while another job holds it, nothing is\nenqueued, the holder's id is printed and the exit code is 1 (needs -unique-for)")
	fs.DurationVar(&f.window, "unique-for", 0, "how long the job holds its -unique key, from its enqueue (at least 1ms)")
	fs.StringVar(&f.until, "unique-until", "", "end the hold early: \"finished\" (as soon as the job completes, dies or is cancelled), or the\n`states` in which the job keeps the key, comma-separated: pending,scheduled,processing plus\ncompleted and/or dead (default: the window only)")
}

// option returns the Unique option the flags ask for, nil for none, or
// an error that is a usage error: the flags are checked here, before the
// queue is opened, as Unique would check them at the enqueue.
func (f *uniqueFlags) option() (jobqueue.EnqueueOption, error) {
	if f.key == "" {
		switch {
		case f.window != 0:
			return nil, errors.New("-unique-for needs -unique KEY: a window is the hold of a key")
		case f.until != "":
			return nil, errors.New("-unique-until needs -unique KEY")
		}
		return nil, nil
	}
	if err := backend.ValidateUniqueKey(f.key); err != nil {
		return nil, fmt.Errorf("-unique: %s", strings.TrimPrefix(err.Error(), "jobqueue: "))
	}
	if f.window < time.Millisecond {
		return nil, fmt.Errorf("-unique needs -unique-for DURATION, at least 1ms, such as 1h (got %v)", f.window)
	}
	var opts []jobqueue.UniqueOption
	switch f.until {
	case "":
	case "finished":
		opts = append(opts, jobqueue.UntilFinished())
	default:
		var states []jobqueue.State
		for _, name := range strings.Split(f.until, ",") {
			s, err := backend.ParseState(strings.TrimSpace(name))
			if err != nil {
				return nil, fmt.Errorf("-unique-until: %s, or \"finished\"", strings.TrimPrefix(err.Error(), "jobqueue: "))
			}
			states = append(states, s)
		}
		opts = append(opts, jobqueue.ByState(states...))
	}
	// The options check their states as they are applied: apply them to
	// a scratch key, so that a list ByState refuses is a usage error,
	// found before the queue is opened.
	var scratch backend.Unique
	for _, o := range opts {
		if err := o(&scratch); err != nil {
			return nil, fmt.Errorf("-unique-until %s: %s (list pending,scheduled,processing, plus completed and/or dead)", f.until, strings.TrimPrefix(err.Error(), "jobqueue: "))
		}
	}
	return jobqueue.Unique(f.key, f.window, opts...), nil
}
