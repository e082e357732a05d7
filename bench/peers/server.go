package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// server is a redis-server process of this program's own, on a free
// port, with persistence off.
type server struct {
	addr string
	cmd  *exec.Cmd
	out  bytes.Buffer
	// done is closed when the process has exited.
	done chan struct{}
}

// startServer starts bin (redis-server) on a free local port and waits
// until it answers PING.
func startServer(bin string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &server{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), done: make(chan struct{})}
	s.cmd = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no")
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	// The server dies with this process, also when it is killed.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	for deadline := time.Now().Add(10 * time.Second); !s.answers(); {
		select {
		case <-s.done:
			return nil, fmt.Errorf("%s exited at start: %s", bin, s.out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("%s did not answer on %s within 10 s: %s", bin, s.addr, s.out.String())
		}
	}
	return s, nil
}

// answers reports whether the server replies +PONG to a PING.
func (s *server) answers() bool {
	c, err := net.DialTimeout("tcp", s.addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.TrimSpace(line) == "+PONG"
}

// stop ends the server with SIGTERM, or SIGKILL when it takes more than
// 10 s, and waits until it has exited.
func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// freePort returns a TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// redisBenchmark runs bin (redis-benchmark) with HSET, 50 clients and
// the given pipeline depth against addr, and returns its requests per
// second.
func redisBenchmark(ctx context.Context, bin, addr string, requests, pipeline int) (float64, error) {
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.CommandContext(ctx, bin, "-h", host, "-p", port, "-t", "hset", "-c", "50",
		"-P", strconv.Itoa(pipeline), "-n", strconv.Itoa(requests), "--csv")
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("%s: %v", strings.Join(cmd.Args, " "), err)
	}
	// The CSV has a header line, then "HSET","<rps>",…
	records, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		return 0, fmt.Errorf("redis-benchmark output %q: %v", out, err)
	}
	for _, rec := range records {
		if len(rec) >= 2 && rec[0] == "HSET" {
			return strconv.ParseFloat(rec[1], 64)
		}
	}
	return 0, fmt.Errorf("redis-benchmark output has no HSET line: %q", out)
}
