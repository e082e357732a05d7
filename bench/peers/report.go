package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// report is a whole comparison: every run of every library and of
// redis-benchmark, and where it ran.
type report struct {
	cfg     config
	runs    int
	command string
	machine string
	// hsetP1 and hsetP16 are redis-benchmark's HSET requests/s, one per
	// run.
	hsetP1, hsetP16 []float64
	rows            []row
}

// row is one library's runs.
type row struct {
	lib     library
	results []result
	// errors are the runs that failed, which results lacks.
	errors []string
}

// median is the median over the row's runs of f, and false when no run
// has it (has false).
func (r row) median(f func(result) float64, has func(result) bool) (float64, bool) {
	var v []float64
	for _, res := range r.results {
		if has == nil || has(res) {
			v = append(v, f(res))
		}
	}
	return median(v)
}

func median(v []float64) (float64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	v = slices.Clone(v)
	slices.Sort(v)
	m := len(v) / 2
	if len(v)%2 == 0 {
		return (v[m-1] + v[m]) / 2, true
	}
	return v[m], true
}

func hasBatch(r result) bool { return r.batchOK }

// The per-job and per-second figures of a measured stretch.
func rate(m measured) float64 { return m.perSecond() }

func commandsPerJob(m measured) float64 { return float64(m.cost.Commands) / float64(max(m.jobs, 1)) }

func readsPerJob(m measured) float64 { return float64(m.cost.Reads) / float64(max(m.jobs, 1)) }

func redisCPUPerJob(m measured) float64 { return micros(m.cost.RedisCPU) / float64(max(m.jobs, 1)) }

func clientCPUPerJob(m measured) float64 { return micros(m.cost.clientCPU) / float64(max(m.jobs, 1)) }

func perSecond(v float64, m measured) float64 { return v / m.elapsed.Seconds() }

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// cell formats the median of f over the runs with format, "n/a" when no
// run has it.
func (r row) cell(format string, f func(result) float64, has func(result) bool) string {
	v, ok := r.median(f, has)
	if !ok {
		return "n/a"
	}
	return fmt.Sprintf(format, v)
}

// rateCell is a jobs/s median with thousands separators.
func (r row) rateCell(f func(result) float64, has func(result) bool) string {
	v, ok := r.median(f, has)
	if !ok {
		return "n/a"
	}
	return thousands(v)
}

// thousands formats v rounded to an integer with commas.
func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", math.Round(v))
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// writeMarkdown writes the report: the summary table, the ratios, the
// costs of every workload, and the problems seen.
func (rep *report) writeMarkdown(w io.Writer) error {
	var b strings.Builder
	c := rep.cfg
	p1, _ := median(rep.hsetP1)
	p16, _ := median(rep.hsetP16)
	fmt.Fprintf(&b, "Command: `%s` — the median of %d runs of each figure. Workloads: %s jobs of %d bytes, %d producers, %d handlers, no-op handler; batches of %d; steady %s jobs/s for %v; idle %v.\n\n",
		rep.command, rep.runs, thousands(float64(c.jobs)), c.payload, c.producers, c.handlers, c.batch, thousands(c.rate), c.steadyFor, c.idleFor)
	fmt.Fprintf(&b, "Machine: %s.\n\n", rep.machine)
	fmt.Fprintf(&b, "redis-benchmark HSET (`-t hset -c 50`): `-P 1` %s requests/s, `-P 16` %s requests/s.\n\n", thousands(p1), thousands(p16))

	b.WriteString("| library | single enqueue jobs/s | batch enqueue jobs/s | drain jobs/s | steady latency p50 / p99 | commands/job steady | Redis CPU/job drain | Redis CPU/job steady | client CPU/job enqueue+drain | client CPU/job steady | idle commands/s |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, r := range rep.rows {
		if len(r.results) == 0 {
			fmt.Fprintf(&b, "| %s | failed |  |  |  |  |  |  |  |  |  |\n", r.lib.name)
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s / %s | %s | %s | %s | %s | %s | %s |\n",
			r.lib.name,
			r.rateCell(func(x result) float64 { return rate(x.single) }, nil),
			r.rateCell(func(x result) float64 { return rate(x.batch) }, hasBatch),
			r.rateCell(func(x result) float64 { return rate(x.drain) }, nil),
			r.cell("%.2f ms", func(x result) float64 { return ms(x.p50) }, nil),
			r.cell("%.2f ms", func(x result) float64 { return ms(x.p99) }, nil),
			r.cell("%.2f", func(x result) float64 { return commandsPerJob(x.steady) }, nil),
			r.cell("%.1f µs", func(x result) float64 { return redisCPUPerJob(x.drain) }, nil),
			r.cell("%.1f µs", func(x result) float64 { return redisCPUPerJob(x.steady) }, nil),
			r.cell("%.1f µs", func(x result) float64 { return clientCPUPerJob(x.single) + clientCPUPerJob(x.drain) }, nil),
			r.cell("%.1f µs", func(x result) float64 { return clientCPUPerJob(x.steady) }, nil),
			r.cell("%.1f", func(x result) float64 { return perSecond(float64(x.idle.cost.Commands), x.idle) }, nil),
		)
	}

	rep.writeRatios(&b, p1, p16)
	rep.writeCosts(&b)
	rep.writeProblems(&b)
	_, err := io.WriteString(w, b.String())
	return err
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// writeRatios writes jobqueue against the fastest peer, and every library
// against redis-benchmark.
func (rep *report) writeRatios(b *strings.Builder, p1, p16 float64) {
	single := func(x result) float64 { return rate(x.single) }
	drain := func(x result) float64 { return rate(x.drain) }
	batch := func(x result) float64 { return rate(x.batch) }
	fastest := func(f func(result) float64) (float64, string) {
		best, name := 0.0, "none"
		for _, r := range rep.rows {
			if v, ok := r.median(f, nil); ok && r.lib.peer && v > best {
				best, name = v, r.lib.name
			}
		}
		return best, name
	}
	ratio := func(r row, f func(result) float64, has func(result) bool, to float64, name string) string {
		v, ok := r.median(f, has)
		if !ok || to <= 0 {
			return "n/a"
		}
		if name != "" {
			return fmt.Sprintf("%.2f (%s)", v/to, name)
		}
		return fmt.Sprintf("%.2f", v/to)
	}

	bestSingle, singleName := fastest(single)
	bestDrain, drainName := fastest(drain)
	b.WriteString("\nRatios of jobqueue to the fastest peer (named) and to redis-benchmark:\n\n")
	b.WriteString("| library | single enqueue ÷ fastest peer | drain ÷ fastest peer | batch enqueue ÷ HSET -P16 |\n")
	b.WriteString("|---|--:|--:|--:|\n")
	for _, r := range rep.rows {
		if r.lib.peer {
			continue
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", r.lib.name,
			ratio(r, single, nil, bestSingle, singleName),
			ratio(r, drain, nil, bestDrain, drainName),
			ratio(r, batch, hasBatch, p16, ""))
	}

	b.WriteString("\nEvery library against redis-benchmark HSET, the physical reference (one HSET per request):\n\n")
	b.WriteString("| library | single enqueue ÷ HSET -P1 | batch enqueue ÷ HSET -P16 | drain ÷ HSET -P1 |\n")
	b.WriteString("|---|--:|--:|--:|\n")
	for _, r := range rep.rows {
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", r.lib.name,
			ratio(r, single, nil, p1, ""),
			ratio(r, batch, hasBatch, p16, ""),
			ratio(r, drain, nil, p1, ""))
	}
}

// writeCosts writes what every workload cost, per job (idle: per second).
func (rep *report) writeCosts(b *strings.Builder) {
	b.WriteString("\nCosts of every workload, per job (idle: per second). Commands are INFO commandstats calls, script-inner ones included; reads are Redis's socket reads (total_reads_processed), about one per round trip; CPU is the Redis server's and this process's (getrusage).\n\n")
	b.WriteString("| library | workload | jobs/s | commands | reads | Redis CPU | client CPU |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|\n")
	workloads := []struct {
		name string
		get  func(result) measured
		has  func(result) bool
	}{
		{"single enqueue", func(x result) measured { return x.single }, nil},
		{"batch enqueue", func(x result) measured { return x.batch }, hasBatch},
		{"drain", func(x result) measured { return x.drain }, nil},
		{"steady rate", func(x result) measured { return x.steady }, nil},
	}
	for _, r := range rep.rows {
		for _, wl := range workloads {
			m := wl.get
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s |\n", r.lib.name, wl.name,
				r.rateCell(func(x result) float64 { return rate(m(x)) }, wl.has),
				r.cell("%.2f", func(x result) float64 { return commandsPerJob(m(x)) }, wl.has),
				r.cell("%.2f", func(x result) float64 { return readsPerJob(m(x)) }, wl.has),
				r.cell("%.1f µs", func(x result) float64 { return redisCPUPerJob(m(x)) }, wl.has),
				r.cell("%.1f µs", func(x result) float64 { return clientCPUPerJob(m(x)) }, wl.has))
		}
		idle := func(f func(measured) float64) func(result) float64 {
			return func(x result) float64 { return perSecond(f(x.idle), x.idle) }
		}
		fmt.Fprintf(b, "| %s | idle, per second | – | %s | %s | %s | %s |\n", r.lib.name,
			r.cell("%.1f", idle(func(m measured) float64 { return float64(m.cost.Commands) }), nil),
			r.cell("%.1f", idle(func(m measured) float64 { return float64(m.cost.Reads) }), nil),
			r.cell("%.0f µs", idle(func(m measured) float64 { return micros(m.cost.RedisCPU) }), nil),
			r.cell("%.0f µs", idle(func(m measured) float64 { return micros(m.cost.clientCPU) }), nil))
	}
}

// writeProblems lists failed runs and jobs lost or run twice.
func (rep *report) writeProblems(b *strings.Builder) {
	var lines []string
	for _, r := range rep.rows {
		for _, e := range r.errors {
			lines = append(lines, fmt.Sprintf("- %s: run failed: %s", r.lib.name, e))
		}
		for i, res := range r.results {
			for _, p := range res.problems {
				lines = append(lines, fmt.Sprintf("- %s, run %d: %s", r.lib.name, i+1, p))
			}
		}
	}
	b.WriteString("\nJobs lost or run twice: ")
	if len(lines) == 0 {
		b.WriteString("none; every library ran every job exactly once in every run.\n")
		return
	}
	b.WriteString("\n\n" + strings.Join(lines, "\n") + "\n")
}
