package redistest

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// readyTimeout bounds the wait for PING after a start; loading a large
	// AOF on restart is the slow case.
	readyTimeout = 10 * time.Second
	// portAttempts is how many free ports a first start tries before giving
	// up, since another program can take the port between our probe and the
	// server's bind.
	portAttempts = 5
	// restartAttempts is how often Restart retries its fixed port, spaced by
	// restartBackoff, while something else holds it.
	restartAttempts = 20
	restartBackoff  = 50 * time.Millisecond
	// tailLines is how much of the log a failure message shows.
	tailLines = 30
)

// errPortTaken reports that redis-server lost the race for its port.
var errPortTaken = errors.New("redistest: port already in use")

// process is a redis-server started by this package. Its command line,
// port and directory are fixed at the first start so Restart reproduces the
// same server.
type process struct {
	bin     string
	args    []string
	port    int
	dir     string
	logPath string
	tls     *serverTLS // nil for a plain-text server

	mu  sync.Mutex
	cur *run
}

// run is one execution of the process, from start to reaping.
type run struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // the result of Wait; read it only after done is closed
}

func (r *run) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// processSpec is what a start needs besides the binary.
type processSpec struct {
	// conf is a configuration file, written to the server's directory
	// before the start, for the directives that have no command-line form
	// (a Sentinel's monitor, say) or that the server rewrites; "" for none.
	conf string
	// busPort gives a Cluster node a free port of its own for the cluster
	// bus (--cluster-port), which otherwise is the port plus 10000: taken,
	// or above 65535, for many of the ports the kernel hands out.
	busPort bool
	// tls serves TLS only, with certificates made for this server
	// (WithTLS).
	tls bool
	// args come after the defaults, so they override them.
	args []string
}

// startProcessSpec starts bin on a free loopback port in a new temporary
// directory, with persistence off unless spec's arguments turn it on.
func startProcessSpec(bin string, spec processSpec) (*process, error) {
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		return nil, errorf("temporary directory: %v", err)
	}
	p := &process{bin: bin, dir: dir, logPath: filepath.Join(dir, "redis.log")}
	if spec.tls {
		if p.tls, err = newServerTLS(dir); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
	var lead []string
	if spec.conf != "" {
		path := filepath.Join(dir, "redis.conf")
		if err := os.WriteFile(path, []byte(spec.conf), 0o644); err != nil {
			_ = os.RemoveAll(dir)
			return nil, errorf("write %s: %v", path, err)
		}
		// redis-server takes its configuration file only as the first
		// argument.
		lead = []string{path}
	}
	for attempt := 1; attempt <= portAttempts; attempt++ {
		p.port, err = freePort()
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		listen := []string{"--port", strconv.Itoa(p.port)}
		if p.tls != nil {
			listen = p.tls.listenArgs(p.port)
		}
		p.args = append(slices.Clone(lead), listen...)
		p.args = append(p.args,
			"--bind", "127.0.0.1",
			"--dir", dir,
			"--save", "",
			"--appendonly", "no")
		if spec.busPort {
			bus, err := freePort()
			if err != nil {
				_ = os.RemoveAll(dir)
				return nil, err
			}
			p.args = append(p.args, "--cluster-port", strconv.Itoa(bus))
		}
		p.args = append(p.args, spec.args...)
		err = p.launch()
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, errPortTaken) {
			// Keep the directory: the message names its log.
			return nil, err
		}
	}
	_ = os.RemoveAll(dir)
	return nil, fmt.Errorf("%w after %d attempts: %v", errPortTaken, portAttempts, err)
}

// freePort asks the kernel for a port that is free right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, errorf("find a free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, errorf("find a free port: %v", err)
	}
	return port, nil
}

func (p *process) addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port))
}

func (p *process) server() *Server {
	scheme := "redis://"
	if p.tls != nil {
		scheme = "rediss://"
	}
	return &Server{Addr: p.addr(), URL: scheme + p.addr(), Source: SourceProcess, proc: p}
}

func (p *process) current() *run {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur
}

func (p *process) pid() int {
	r := p.current()
	if r == nil || r.exited() {
		return 0
	}
	return r.cmd.Process.Pid
}

// launch starts the process and waits until it answers PING.
func (p *process) launch() error {
	f, err := os.OpenFile(p.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return errorf("open log: %v", err)
	}
	// Failure messages show only this run's part of a log shared by restarts.
	offset, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return errorf("open log: %v", err)
	}
	fmt.Fprintf(f, "### redistest: %s %q\n", p.bin, p.args)

	cmd := exec.Command(p.bin, p.args...)
	cmd.Dir = p.dir
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = sysProcAttr()
	r := &run{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// The parent-death signal fires when the thread that forked the
		// child exits, not the process. Locking this goroutine to its
		// thread keeps that thread alive until the child is reaped; it
		// ends with the goroutine.
		runtime.LockOSThread()
		defer close(r.done)
		defer f.Close()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		r.err = cmd.Wait()
	}()
	if err := <-started; err != nil {
		return errorf("start %s: %v", p.bin, err)
	}
	p.mu.Lock()
	p.cur = r
	p.mu.Unlock()

	if err := waitReady(p.addr(), p.tls.clientConfig(), cmd.Process.Pid, r); err != nil {
		p.kill()
		tail := p.tail(offset)
		if strings.Contains(tail, "Address already in use") {
			return fmt.Errorf("%w: %d", errPortTaken, p.port)
		}
		return errorf("%s on port %d: %v; %s ends with:\n%s", p.bin, p.port, err, p.logPath, tail)
	}
	return nil
}

// relaunch starts the process again on its own port, retrying for a while
// if something else holds the port.
func (p *process) relaunch() error {
	var err error
	for attempt := 1; attempt <= restartAttempts; attempt++ {
		if err = p.launch(); !errors.Is(err, errPortTaken) {
			return err
		}
		time.Sleep(restartBackoff)
	}
	return errorf("restart on port %d: %v", p.port, err)
}

func waitReady(addr string, tc *tls.Config, pid int, r *run) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		err := readyOver(addr, tc, pid, 250*time.Millisecond)
		if err == nil {
			return nil
		}
		if r.exited() {
			return fmt.Errorf("exited before answering PING (%v)", r.err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer to PING within %v: %v", readyTimeout, err)
		}
		select {
		case <-r.done:
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// kill sends SIGKILL and waits until the process has been reaped.
func (p *process) kill() {
	r := p.current()
	if r == nil || r.exited() {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.done
}

// stop asks the process to shut down, and kills it after timeout.
func (p *process) stop(timeout time.Duration) {
	r := p.current()
	if r == nil || r.exited() {
		return
	}
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.kill()
		return
	}
	select {
	case <-r.done:
	case <-time.After(timeout):
		p.kill()
	}
}

// tail returns the last lines of the log written after offset.
func (p *process) tail(offset int64) string {
	const maxBytes = 16 << 10
	f, err := os.Open(p.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size()-offset > maxBytes {
		offset = st.Size() - maxBytes
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return "(unreadable log: " + err.Error() + ")"
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return "(unreadable log: " + err.Error() + ")"
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > tailLines {
		lines = lines[len(lines)-tailLines:]
	}
	return "\t" + string(bytes.Join(lines, []byte("\n\t")))
}
