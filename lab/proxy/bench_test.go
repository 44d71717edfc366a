package proxy

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"

	xproxy "golang.org/x/net/proxy"
)

// sink is a TCP server that answers each connection with "ok" and then discards what it reads.
func sink(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.Write([]byte("ok"))
				io.Copy(io.Discard, c)
			}()
		}
	}()
	return l.Addr().String()
}

func benchServer(b *testing.B) *Server {
	s, err := Listen(Options{Addr: "127.0.0.1:0", Dial: lab{}.dial})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	return s
}

// BenchmarkConnectionLatency is one SOCKS5 connection through the proxy, from dial to the
// target's first bytes: the proxy's cost per connection (ns/op).
func BenchmarkConnectionLatency(b *testing.B) {
	target := sink(b)
	s := benchServer(b)
	d, _ := xproxy.SOCKS5("tcp", s.Addr(), nil, xproxy.Direct)
	buf := make([]byte, 2)
	for b.Loop() {
		c, err := d.Dial("tcp", target)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// BenchmarkThroughput streams 64 MiB per op through one SOCKS5 connection (MB/s).
func BenchmarkThroughput(b *testing.B) {
	target := sink(b)
	s := benchServer(b)
	d, _ := xproxy.SOCKS5("tcp", s.Addr(), nil, xproxy.Direct)
	chunk := bytes.Repeat([]byte("x"), 1<<20)
	b.SetBytes(64 << 20)
	for b.Loop() {
		c, err := d.Dial("tcp", target)
		if err != nil {
			b.Fatal(err)
		}
		for range 64 {
			if _, err := c.Write(chunk); err != nil {
				b.Fatal(err)
			}
		}
		c.Close()
	}
}
