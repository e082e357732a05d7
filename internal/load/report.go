package load

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// progressEvery is how often the progress line is redrawn.
const progressEvery = 100 * time.Millisecond

// progressWidth is the width of the bar, in characters.
const progressWidth = 30

// Terminal returns f when it is a terminal (a character device) and nil
// otherwise, for Run's progress argument: a progress bar redrawn with
// carriage returns is noise in a log file.
func Terminal(f *os.File) io.Writer {
	if f == nil {
		return nil
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return f
}

// showProgress redraws one progress line for a phase until the returned
// function is called, which draws the final state and ends the line.
func (r *runner) showProgress(label string, count func() int64) (stop func()) {
	if r.progress == nil {
		return func() {}
	}
	start := time.Now()
	draw := func() {
		n := count()
		total := int64(r.cfg.Jobs)
		filled := int(min(n, total) * progressWidth / max(total, 1))
		rate := float64(n) / max(time.Since(start).Seconds(), 1e-9)
		fmt.Fprintf(r.progress, "\r%-7s [%s%s] %d/%d %10.0f jobs/s",
			label, strings.Repeat("#", filled), strings.Repeat(".", progressWidth-filled), n, total, rate)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				draw()
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		draw()
		fmt.Fprintln(r.progress)
	}
}

// WriteTable prints the report as an aligned table: one row per phase with
// its throughput and per-job costs, then the latency distribution.
func (rep Report) WriteTable(w io.Writer) error {
	c := rep.Config
	var head string
	if rep.Mode == ModeLatency {
		head = fmt.Sprintf("%s, latency: %.0f jobs/s offered for %v (%d jobs), batch %d, %d workers, %d-byte payloads",
			rep.Name, c.Rate, c.Duration, c.Jobs, c.Batch, c.Workers, c.Payload)
	} else {
		head = fmt.Sprintf("%s, throughput: %d jobs, %d producers, batch %d, %d workers, %d-byte payloads",
			rep.Name, c.Jobs, c.Producers, c.Batch, c.Workers, c.Payload)
	}
	if _, err := fmt.Fprintln(w, head); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tjobs\ttime\tjobs/s\tredis cmds/job\tround trips/job\tredis CPU/job\tclient CPU/job\t")
	type row struct {
		name string
		p    Phase
	}
	rows := []row{{"enqueue", rep.Enqueue}, {"drain", rep.Drain}, {"total", rep.Total}}
	if rep.Mode == ModeLatency {
		// The phases overlap: only the whole run has a usage.
		rows = []row{{"offered", rep.Enqueue}, {"total", rep.Total}}
	}
	for _, row := range rows {
		p := row.p
		cmds, trips, rcpu, ccpu := "-", "-", "-", "-"
		if u := p.Usage; u != nil {
			ccpu = perJob(u.ClientCPU, p.Jobs)
			if u.Redis {
				cmds = fmt.Sprintf("%.2f", float64(u.Commands)/float64(max(p.Jobs, 1)))
				trips = fmt.Sprintf("%.3f", float64(u.Reads)/float64(max(p.Jobs, 1)))
				rcpu = perJob(u.RedisCPU, p.Jobs)
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%.0f\t%s\t%s\t%s\t%s\t\n", row.name, p.Jobs, round(p.Elapsed), p.JobsPerSecond(), cmds, trips, rcpu, ccpu)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	l := rep.Latency
	note := ""
	if rep.Mode == ModeThroughput {
		note = " (includes the wait behind the enqueue phase)"
	}
	_, err := fmt.Fprintf(w, "enqueue→start latency over %d jobs%s: p50 %s  p90 %s  p99 %s  max %s\n",
		l.Count, note, ms(l.P50), ms(l.P90), ms(l.P99), ms(l.Max))
	return err
}

func perJob(d time.Duration, jobs int) string {
	return fmt.Sprintf("%.2fµs", float64(d)/float64(time.Microsecond)/float64(max(jobs, 1)))
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond))
}

func round(d time.Duration) time.Duration {
	return d.Round(time.Millisecond / 10)
}
