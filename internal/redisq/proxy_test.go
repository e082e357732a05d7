package redisq_test

import (
	"bytes"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// lossyProxy forwards TCP connections to a Redis server and, when armed,
// loses one reply: it forwards the next request that contains a pattern,
// waits until the server answers (so the command did run), then drops the
// connection without passing the answer on. That is what a client sees
// when its connection breaks, or its read times out, at the worst moment.
type lossyProxy struct {
	ln      net.Listener
	target  string
	pattern atomic.Pointer[[]byte] // nil: disarmed
	lost    atomic.Int32           // replies lost so far

	mu    sync.Mutex
	conns []net.Conn
}

// startLossyProxy listens on a free local port and forwards to target
// until the test ends.
func startLossyProxy(t *testing.T, target string) *lossyProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &lossyProxy{ln: ln, target: target}
	var wg sync.WaitGroup
	wg.Go(p.accept)
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
		wg.Wait()
	})
	return p
}

// Addr is where clients connect.
func (p *lossyProxy) Addr() string { return p.ln.Addr().String() }

// loseReplyTo arms the proxy: the reply to the next request containing
// pattern (compared case-insensitively) is lost.
func (p *lossyProxy) loseReplyTo(pattern string) {
	b := bytes.ToLower([]byte(pattern))
	p.pattern.Store(&b)
}

func (p *lossyProxy) track(c net.Conn) {
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.mu.Unlock()
}

func (p *lossyProxy) accept() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = client.Close()
			continue
		}
		p.track(client)
		p.track(server)
		go p.serve(client, server)
	}
}

// serve pumps one connection both ways. A request matching the armed
// pattern marks the connection; the server's next bytes are then dropped
// with both sides of the connection.
func (p *lossyProxy) serve(client, server net.Conn) {
	var doomed atomic.Bool
	closeBoth := func() {
		_ = client.Close()
		_ = server.Close()
	}
	go func() {
		defer closeBoth()
		buf := make([]byte, 64<<10)
		for {
			n, err := server.Read(buf)
			if n > 0 && doomed.Load() {
				p.lost.Add(1)
				return
			}
			if n > 0 {
				if _, werr := client.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	defer closeBoth()
	buf := make([]byte, 64<<10)
	var tail []byte // the end of the previous read, for a pattern split in two
	for {
		n, err := client.Read(buf)
		if n > 0 {
			if pat := p.pattern.Load(); pat != nil {
				seen := bytes.ToLower(append(tail, buf[:n]...))
				if bytes.Contains(seen, *pat) && p.pattern.CompareAndSwap(pat, nil) {
					doomed.Store(true)
				}
				tail = seen[max(0, len(seen)-len(*pat)):]
			}
			if _, werr := server.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
