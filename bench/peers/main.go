// Command peers compares jobqueue, on both of its Redis adapters, with
// peer job queues on the same workloads: asynq, gocraft/work, rmq and the
// classic BLMOVE recipe written by hand on go-redis. Each library is used
// through its own public API with its defaults, against a redis-server
// this program starts for it on a free port; redis-benchmark's HSET on
// another such server is the physical reference.
//
//	go run . -out results.md
//
// prints a Markdown report and writes it to results.md; see README.md for
// what each workload and figure is.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg := config{stall: 60 * time.Second}
	flag.IntVar(&cfg.jobs, "jobs", 50_000, "jobs of the enqueue and drain workloads")
	flag.IntVar(&cfg.payload, "payload", 100, "payload size in bytes")
	flag.IntVar(&cfg.producers, "producers", 16, "goroutines enqueuing in the enqueue workloads")
	flag.IntVar(&cfg.handlers, "handlers", 32, "handlers of the workers")
	flag.IntVar(&cfg.batch, "batch", 100, "jobs per call of the batch enqueue workload")
	flag.Float64Var(&cfg.rate, "rate", 1000, "jobs/s offered by the paced producer of the steady workload")
	flag.DurationVar(&cfg.steadyFor, "steady", 10*time.Second, "length of the steady workload")
	flag.DurationVar(&cfg.idleFor, "idle", 10*time.Second, "length of the idle workload")
	flag.DurationVar(&cfg.settle, "settle", 2*time.Second, "how long workers run on an empty queue before the steady and idle workloads")
	runs := flag.Int("runs", 3, "runs of every measurement; the report shows medians")
	benchRequests := flag.Int("bench.n", 200_000, "requests of each redis-benchmark run")
	only := flag.String("only", "", "comma-separated libraries to run (names as in the table, or a part of them); all by default")
	out := flag.String("out", "", "also write the report to this file")
	serverBin := flag.String("redis-server", "redis-server", "redis-server binary")
	benchBin := flag.String("redis-benchmark", "redis-benchmark", "redis-benchmark binary")
	flag.Parse()

	if err := cfg.validate(); err != nil {
		return err
	}
	if *runs < 1 || *benchRequests < 1 {
		return errors.New("-runs and -bench.n must be positive")
	}
	libs, err := selectLibraries(*only)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	c := comparison{cfg: cfg, runs: *runs, libraries: libs, benchRequests: *benchRequests,
		serverBin: *serverBin, benchBin: *benchBin}
	rep, err := c.run(ctx, os.Stderr)
	if err != nil {
		return err
	}
	rep.command = "cd bench/peers && go run . " + strings.Join(os.Args[1:], " ")
	var text strings.Builder
	if err := rep.writeMarkdown(&text); err != nil {
		return err
	}
	fmt.Print(text.String())
	if *out != "" {
		return os.WriteFile(*out, []byte(text.String()), 0o644)
	}
	return nil
}

func (c config) validate() error {
	if c.jobs < 1 || c.payload < 1 || c.producers < 1 || c.handlers < 1 || c.batch < 1 || c.rate <= 0 ||
		c.steadyFor <= 0 || c.idleFor <= 0 || c.settle < 0 || c.stall <= 0 {
		return errors.New("-jobs, -payload, -producers, -handlers, -batch, -rate, -steady and -idle must be positive, -settle not negative")
	}
	return nil
}

// selectLibraries returns the libraries whose name contains one of the
// comma-separated parts of only, or all of them when only is empty.
func selectLibraries(only string) ([]library, error) {
	if only == "" {
		return libraries, nil
	}
	var libs []library
	for _, lib := range libraries {
		for part := range strings.SplitSeq(only, ",") {
			if part = strings.TrimSpace(part); part != "" && strings.Contains(lib.name, part) {
				libs = append(libs, lib)
				break
			}
		}
	}
	if len(libs) == 0 {
		return nil, fmt.Errorf("no library matches -only %q", only)
	}
	return libs, nil
}

// comparison is what one invocation runs.
type comparison struct {
	cfg                 config
	runs                int
	libraries           []library
	benchRequests       int
	serverBin, benchBin string
}

// run runs redis-benchmark and every library's workloads, runs times
// over, each library on a fresh server of its own. A library whose run
// fails is reported in its row; run itself fails only when no server can
// be started or redis-benchmark fails. Progress goes to log.
func (c comparison) run(ctx context.Context, log io.Writer) (*report, error) {
	rep := &report{cfg: c.cfg, runs: c.runs, machine: machine(c.serverBin)}
	for _, lib := range c.libraries {
		rep.rows = append(rep.rows, row{lib: lib})
	}
	for run := 1; run <= c.runs; run++ {
		p1, p16, err := c.redisBenchmark(ctx)
		if err != nil {
			return nil, err
		}
		rep.hsetP1, rep.hsetP16 = append(rep.hsetP1, p1), append(rep.hsetP16, p16)
		fmt.Fprintf(log, "run %d/%d: redis-benchmark HSET -P1 %s/s, -P16 %s/s\n", run, c.runs, thousands(p1), thousands(p16))
		for i := range rep.rows {
			r := &rep.rows[i]
			began := time.Now()
			res, err := c.runLibrary(ctx, r.lib)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if err != nil {
				r.errors = append(r.errors, fmt.Sprintf("run %d: %v", run, err))
				fmt.Fprintf(log, "run %d/%d: %s: %v\n", run, c.runs, r.lib.name, err)
				continue
			}
			r.results = append(r.results, res)
			fmt.Fprintf(log, "run %d/%d: %-26s single %8s/s  batch %11s  drain %8s/s  steady p50 %6.2f ms p99 %7.2f ms  idle %5.1f cmds/s  (%v)%s\n",
				run, c.runs, r.lib.name, thousands(rate(res.single)), batchRate(res), thousands(rate(res.drain)),
				ms(res.p50), ms(res.p99), perSecond(float64(res.idle.cost.Commands), res.idle), time.Since(began).Round(time.Second/10), problemNote(res))
		}
	}
	return rep, nil
}

func batchRate(res result) string {
	if !res.batchOK {
		return "n/a"
	}
	return thousands(rate(res.batch)) + "/s"
}

func problemNote(res result) string {
	if len(res.problems) == 0 {
		return ""
	}
	return "  PROBLEMS: " + strings.Join(res.problems, "; ")
}

// runLibrary runs every workload of lib once on a server of its own.
func (c comparison) runLibrary(ctx context.Context, lib library) (result, error) {
	srv, err := startServer(c.serverBin)
	if err != nil {
		return result{}, err
	}
	defer srv.stop()
	p, err := newProbe(ctx, srv.addr)
	if err != nil {
		return result{}, err
	}
	defer p.close()
	r := runner{cfg: c.cfg, lib: lib, addr: srv.addr, probe: p}
	return r.run(ctx)
}

// redisBenchmark runs HSET with pipelines of 1 and 16 on a server of its
// own.
func (c comparison) redisBenchmark(ctx context.Context) (p1, p16 float64, err error) {
	srv, err := startServer(c.serverBin)
	if err != nil {
		return 0, 0, err
	}
	defer srv.stop()
	if p1, err = redisBenchmark(ctx, c.benchBin, srv.addr, c.benchRequests, 1); err != nil {
		return 0, 0, err
	}
	p16, err = redisBenchmark(ctx, c.benchBin, srv.addr, c.benchRequests, 16)
	return p1, p16, err
}

// machine describes where the comparison runs: architecture (uname -m),
// processor, CPUs this process may use (as nproc counts them), and the
// versions of Redis and Go.
func machine(serverBin string) string {
	arch := runtime.GOARCH
	if out, err := exec.Command("uname", "-m").Output(); err == nil {
		arch = strings.TrimSpace(string(out))
	}
	parts := []string{arch}
	if model := cpuModel(); model != "" {
		parts = append(parts, model)
	}
	parts = append(parts, fmt.Sprintf("%d CPUs", runtime.NumCPU()))
	if out, err := exec.Command(serverBin, "--version").Output(); err == nil {
		v := strings.TrimSpace(string(out))
		for f := range strings.FieldsSeq(v) {
			if after, ok := strings.CutPrefix(f, "v="); ok {
				v = after
			}
		}
		parts = append(parts, "Redis "+v)
	}
	parts = append(parts, runtime.Version()+" "+runtime.GOOS)
	return strings.Join(parts, ", ")
}

// cpuModel is the first "model name" of /proc/cpuinfo, or "".
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
