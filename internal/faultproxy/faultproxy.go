// Package faultproxy is a TCP proxy for tests that puts network faults
// between Redis clients and a real server: it can lose the reply to a chosen
// request (the command ran, the client never hears so) and delay replies.
package faultproxy

import (
	"bytes"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy forwards every connection made to Addr to its target.
type Proxy struct {
	ln      net.Listener
	target  string
	pattern atomic.Pointer[[]byte] // nil: disarmed
	lost    atomic.Int64
	latency atomic.Pointer[[2]time.Duration] // nil: none

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// Start listens on a free loopback port and forwards to target until Close.
func Start(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, conns: make(map[net.Conn]struct{})}
	p.wg.Go(p.accept)
	return p, nil
}

// Addr is where clients connect.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// LoseReplyTo arms the proxy: the next request containing pattern (compared
// case-insensitively) is forwarded, and when the server starts to answer,
// the connection is closed on both sides without passing the answer on.
// The proxy disarms itself after one loss; arming again replaces a pattern
// not yet seen.
func (p *Proxy) LoseReplyTo(pattern string) {
	b := bytes.ToLower([]byte(pattern))
	p.pattern.Store(&b)
}

// Armed reports whether a LoseReplyTo pattern is still waiting for its
// request.
func (p *Proxy) Armed() bool { return p.pattern.Load() != nil }

// Lost counts the replies lost so far.
func (p *Proxy) Lost() int { return int(p.lost.Load()) }

// SetReplyLatency delays every reply from the server by a random duration
// in [lo, hi], keeping replies in order on each connection; zero hi turns
// the delay off.
func (p *Proxy) SetReplyLatency(lo, hi time.Duration) {
	if hi <= 0 {
		p.latency.Store(nil)
		return
	}
	p.latency.Store(&[2]time.Duration{lo, max(lo, hi)})
}

// CloseConns drops every open connection, as a server restart or a network
// cut would, and keeps accepting new ones.
func (p *Proxy) CloseConns() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
}

// Close stops accepting, drops every connection and waits for the proxy's
// goroutines to end.
func (p *Proxy) Close() {
	_ = p.ln.Close()
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.CloseConns()
	p.wg.Wait()
}

// track registers c so Close can drop it; it reports false once the proxy
// is closed.
func (p *Proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *Proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		_ = c.Close()
		delete(p.conns, c)
	}
}

func (p *Proxy) accept() {
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
		if !p.track(client, server) {
			_ = client.Close()
			_ = server.Close()
			return
		}
		p.wg.Go(func() { p.serve(client, server) })
	}
}

// serve pumps one connection both ways until either side closes. A request
// matching the armed pattern dooms the connection: the server's next bytes
// are dropped with both sides.
func (p *Proxy) serve(client, server net.Conn) {
	defer p.untrack(client, server)
	var doomed atomic.Bool
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		defer p.untrack(client, server)
		p.replies(client, server, &doomed)
	})
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

// chunk is a piece of a reply and when it may be passed on.
type chunk struct {
	data []byte
	at   time.Time
}

// replies copies the server's answers to the client, dropping the
// connection instead once it is doomed and delaying them while a latency is
// set.
func (p *Proxy) replies(client, server net.Conn, doomed *atomic.Bool) {
	delayed := make(chan chunk, 1024)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(delayed)
	wg.Go(func() {
		for c := range delayed {
			time.Sleep(time.Until(c.at))
			if _, err := client.Write(c.data); err != nil {
				p.untrack(client, server)
				for range delayed {
				}
				return
			}
		}
	})
	var last time.Time
	buf := make([]byte, 64<<10)
	for {
		n, err := server.Read(buf)
		if n > 0 && doomed.Load() {
			p.lost.Add(1)
			return
		}
		if n > 0 {
			at := time.Now()
			if l := p.latency.Load(); l != nil {
				at = at.Add(l[0] + rand.N(l[1]-l[0]+1))
			}
			// Replies keep their order: none overtakes an earlier one.
			if at.Before(last) {
				at = last
			}
			last = at
			delayed <- chunk{data: bytes.Clone(buf[:n]), at: at}
		}
		if err != nil {
			return
		}
	}
}
