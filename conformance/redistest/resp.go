package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// respConn speaks just enough RESP to check a server, so this package does
// not depend on either client library the adapters are tested with.
type respConn struct {
	c net.Conn
	r *bufio.Reader
}

func dialRESP(addr string, timeout time.Duration) (*respConn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		c.Close()
		return nil, err
	}
	return &respConn{c: c, r: bufio.NewReader(c)}, nil
}

func (rc *respConn) Close() error { return rc.c.Close() }

// do sends one command and returns a simple-string, integer or bulk reply as
// text; an error reply becomes an error.
func (rc *respConn) do(args ...string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(rc.c, b.String()); err != nil {
		return "", err
	}
	line, err := rc.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", errors.New(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", fmt.Errorf("unexpected bulk header %q", line)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rc.r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	default:
		return "", fmt.Errorf("unexpected reply %q", line)
	}
}

// ping checks that addr answers PING with PONG, authenticating first when
// auth is a complete AUTH command.
func ping(addr string, auth []string, timeout time.Duration) error {
	rc, err := dialRESP(addr, timeout)
	if err != nil {
		return err
	}
	defer rc.Close()
	if len(auth) > 0 {
		if _, err := rc.do(auth...); err != nil {
			return fmt.Errorf("AUTH: %w", err)
		}
	}
	return pingOn(rc)
}

func pingOn(rc *respConn) error {
	reply, err := rc.do("PING")
	if err != nil {
		return err
	}
	if reply != "PONG" {
		return fmt.Errorf("PING answered %q", reply)
	}
	return nil
}

// readyAs checks that addr answers PING and is the process pid, because a
// server that lost a bind race would otherwise be mistaken for whoever won
// the port.
func readyAs(addr string, pid int, timeout time.Duration) error {
	rc, err := dialRESP(addr, timeout)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := pingOn(rc); err != nil {
		return err
	}
	info, err := rc.do("INFO", "server")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			if v != strconv.Itoa(pid) {
				return fmt.Errorf("port answered by process %s, not %d", v, pid)
			}
			return nil
		}
	}
	return errors.New("INFO server has no process_id")
}
