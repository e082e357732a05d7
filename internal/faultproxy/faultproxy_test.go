package faultproxy

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"
)

// echo serves line echoes on a loopback port until the test ends.
func echo(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func dial(t *testing.T, p *Proxy) (net.Conn, *bufio.Reader) {
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, bufio.NewReader(c)
}

func TestLoseReplyTo(t *testing.T) {
	p, err := Start(echo(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, r := dial(t, p)
	if _, err := c.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := r.ReadString('\n'); err != nil || line != "ping\n" {
		t.Fatalf("got %q, %v; want the echo", line, err)
	}
	p.LoseReplyTo("DOOM")
	if !p.Armed() {
		t.Fatal("not armed after LoseReplyTo")
	}
	if _, err := c.Write([]byte("do")); err != nil {
		t.Fatal(err)
	}
	// The pattern split over two writes is still seen.
	time.Sleep(20 * time.Millisecond)
	if _, err := c.Write([]byte("om\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := r.ReadString('\n'); err == nil {
		t.Fatalf("got %q; want the connection dropped", line)
	}
	if p.Lost() != 1 || p.Armed() {
		t.Fatalf("lost %d, armed %v; want 1 lost and disarmed", p.Lost(), p.Armed())
	}
	// Other connections are untouched.
	c2, r2 := dial(t, p)
	if _, err := c2.Write([]byte("doom again\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := r2.ReadString('\n'); err != nil || line != "doom again\n" {
		t.Fatalf("got %q, %v after the loss; want the echo", line, err)
	}
}

func TestReplyLatencyKeepsOrder(t *testing.T) {
	p, err := Start(echo(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.SetReplyLatency(50*time.Millisecond, 100*time.Millisecond)
	c, r := dial(t, p)
	start := time.Now()
	for _, s := range []string{"a\n", "b\n", "c\n"} {
		if _, err := c.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	got := ""
	for range 3 {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		got += line
	}
	if got != "a\nb\nc\n" {
		t.Fatalf("replies %q, want them in order", got)
	}
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Fatalf("replies came back after %v; want at least the 50 ms latency", took)
	}
}
