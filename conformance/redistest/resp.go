package redistest

import (
	"bufio"
	"crypto/tls"
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
	return dialRESPOver(addr, nil, timeout)
}

// dialRESPOver dials addr over TLS with tc, or in plain text when tc is
// nil; timeout bounds the handshake too.
func dialRESPOver(addr string, tc *tls.Config, timeout time.Duration) (*respConn, error) {
	d := &net.Dialer{Timeout: timeout}
	var c net.Conn
	var err error
	if tc != nil {
		c, err = tls.DialWithDialer(d, "tcp", addr, tc)
	} else {
		c, err = d.Dial("tcp", addr)
	}
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
	v, err := rc.doAny(args...)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s: unexpected array reply", args[0])
	}
	return s, nil
}

// doAny sends one command and returns its reply as text or, for an array
// reply, as a []any of replies; a null reply is "".
func (rc *respConn) doAny(args ...string) (any, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(rc.c, b.String()); err != nil {
		return "", err
	}
	return rc.read()
}

func (rc *respConn) read() (any, error) {
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
		if err != nil || n < -1 {
			return "", fmt.Errorf("unexpected bulk header %q", line)
		}
		if n < 0 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rc.r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < -1 {
			return "", fmt.Errorf("unexpected array header %q", line)
		}
		out := make([]any, 0, max(n, 0))
		for range n {
			v, err := rc.read()
			if err != nil {
				return "", err
			}
			out = append(out, v)
		}
		return out, nil
	default:
		return "", fmt.Errorf("unexpected reply %q", line)
	}
}

// ping checks that addr answers PING with PONG, over TLS when tc is not
// nil, authenticating first when auth is a complete AUTH command.
func ping(addr string, tc *tls.Config, auth []string, timeout time.Duration) error {
	rc, err := dialRESPOver(addr, tc, timeout)
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
	return readyOver(addr, nil, pid, timeout)
}

// readyOver is readyAs over TLS when tc is not nil.
func readyOver(addr string, tc *tls.Config, pid int, timeout time.Duration) error {
	rc, err := dialRESPOver(addr, tc, timeout)
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
