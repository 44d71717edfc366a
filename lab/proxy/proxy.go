// Package proxy is the lab's proxy for browsers and command-line clients: SOCKS5 (with remote
// name resolution, socks5h) and HTTP (CONNECT, and plain requests in absolute form) on one
// loopback port, every connection dialed into the lab's network by the provider's dialer, so
// node addresses and the names the lab resolves (Service names) work from the host.
//
// One connection's failure never touches another: each is served on its own, and a target
// that refuses gets the protocol's error (a SOCKS reply code, an HTTP 502) on that connection
// only.
package proxy

import (
	"bufio"
	"context"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultAddr is where the proxy listens unless told otherwise.
const DefaultAddr = "127.0.0.1:1080"

// DialFunc dials address ("host:port"; host may be a name, resolved in the lab) in the lab's
// network.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// Options configure a Server.
type Options struct {
	// Addr is the loopback address to listen on; DefaultAddr when empty. Anything but a
	// loopback address is refused: the proxy opens the lab to whoever reaches it.
	Addr string
	// Dial dials into the lab's network.
	Dial DialFunc
	// User and Password, when set, are required: SOCKS5 username/password authentication,
	// HTTP Proxy-Authorization Basic.
	User, Password string
	// DialTimeout bounds one target's dial; 10 s when zero.
	DialTimeout time.Duration
}

// Server is a running proxy.
type Server struct {
	opts Options
	l    net.Listener
	wg   sync.WaitGroup
}

// Listen checks opts and listens. A port in use is an error naming the program that holds it,
// when it can be found.
func Listen(opts Options) (*Server, error) {
	if opts.Dial == nil {
		return nil, errors.New("proxy: no dialer into the lab's network")
	}
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	if opts.DialTimeout == 0 {
		opts.DialTimeout = 10 * time.Second
	}
	ap, err := netip.ParseAddrPort(opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("proxy address %q: want 127.0.0.1:<port>: %w", opts.Addr, err)
	}
	if !ap.Addr().IsLoopback() {
		return nil, fmt.Errorf("proxy address %s: the proxy listens on loopback only (127.0.0.1 or ::1): it opens the lab to whoever reaches it", opts.Addr)
	}
	l, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("proxy: %s is in use%s: stop it or choose another port (PROXY_ADDR=127.0.0.1:<port>)", opts.Addr, holder(ap.Port()))
		}
		return nil, fmt.Errorf("proxy: listen on %s: %w", opts.Addr, err)
	}
	return &Server{opts: opts, l: l}, nil
}

// Addr is the address the proxy listens on.
func (s *Server) Addr() string { return s.l.Addr().String() }

// Serve serves connections until ctx ends, then closes the listener and waits for the
// connections to end (they are closed too).
func (s *Server) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	open := map[net.Conn]struct{}{}
	go func() {
		<-ctx.Done()
		s.l.Close()
		mu.Lock()
		for c := range open {
			c.Close()
		}
		mu.Unlock()
	}()
	for {
		c, err := s.l.Accept()
		if err != nil {
			s.wg.Wait()
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("proxy: accept: %w", err)
		}
		mu.Lock()
		open[c] = struct{}{}
		mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(ctx, c)
			mu.Lock()
			delete(open, c)
			mu.Unlock()
			c.Close()
		}()
	}
}

// serveConn tells SOCKS5 (first byte 5) from HTTP and serves the connection.
func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	br := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(requestTimeout)) // the client's request, not the tunnel
	first, err := br.Peek(1)
	if err != nil {
		return
	}
	if first[0] == 5 {
		s.serveSOCKS(ctx, c, br)
		return
	}
	s.serveHTTP(ctx, c, br)
}

// SOCKS5 reply codes (RFC 1928).
const (
	socksSucceeded       = 0
	socksGeneralFailure  = 1
	socksNetUnreachable  = 3
	socksHostUnreachable = 4
	socksRefused         = 5
	socksCmdUnsupported  = 7
	socksAddrUnsupported = 8
)

func (s *Server) serveSOCKS(ctx context.Context, c net.Conn, br *bufio.Reader) {
	var hdr [2]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(br, methods); err != nil {
		return
	}
	want := byte(0) // no authentication
	if s.opts.User != "" {
		want = 2 // username/password (RFC 1929)
	}
	if !strings.ContainsRune(string(methods), rune(want)) {
		c.Write([]byte{5, 0xff})
		return
	}
	c.Write([]byte{5, want})
	if want == 2 && !s.socksAuth(c, br) {
		return
	}
	var req [4]byte
	if _, err := io.ReadFull(br, req[:]); err != nil {
		return
	}
	if req[1] != 1 { // CONNECT only
		socksReply(c, socksCmdUnsupported, nil)
		return
	}
	var host string
	switch req[3] {
	case 1, 4:
		ip := make([]byte, map[byte]int{1: 4, 4: 16}[req[3]])
		if _, err := io.ReadFull(br, ip); err != nil {
			return
		}
		host = net.IP(ip).String()
	case 3:
		n, err := br.ReadByte()
		if err != nil {
			return
		}
		name := make([]byte, n)
		if _, err := io.ReadFull(br, name); err != nil {
			return
		}
		host = string(name)
	default:
		socksReply(c, socksAddrUnsupported, nil)
		return
	}
	var port [2]byte
	if _, err := io.ReadFull(br, port[:]); err != nil {
		return
	}
	target := net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(port[:]))))
	up, err := s.dial(ctx, target)
	if err != nil {
		socksReply(c, socksCode(err), nil)
		return
	}
	defer up.Close()
	socksReply(c, socksSucceeded, up.LocalAddr())
	_ = c.SetReadDeadline(time.Time{})
	pipe(ctx, c, br, up)
}

func (s *Server) socksAuth(c net.Conn, br *bufio.Reader) bool {
	ver, err := br.ReadByte()
	if err != nil || ver != 1 {
		return false
	}
	read := func() string {
		n, err := br.ReadByte()
		if err != nil {
			return ""
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(br, b); err != nil {
			return ""
		}
		return string(b)
	}
	user, pass := read(), read()
	if !s.allowed(user, pass) {
		c.Write([]byte{1, 1})
		return false
	}
	c.Write([]byte{1, 0})
	return true
}

func (s *Server) allowed(user, pass string) bool {
	return subtle.ConstantTimeCompare([]byte(user), []byte(s.opts.User)) == 1 &&
		subtle.ConstantTimeCompare([]byte(pass), []byte(s.opts.Password)) == 1
}

func socksReply(c net.Conn, code byte, bound net.Addr) {
	reply := []byte{5, code, 0, 1, 0, 0, 0, 0, 0, 0}
	if ta, ok := bound.(*net.TCPAddr); ok {
		if ip4 := ta.IP.To4(); ip4 != nil {
			copy(reply[4:8], ip4)
			binary.BigEndian.PutUint16(reply[8:], uint16(ta.Port))
		}
	}
	c.Write(reply)
}

// socksCode maps a dial error to the SOCKS reply a client shows.
func socksCode(err error) byte {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return socksRefused
	case errors.Is(err, syscall.ENETUNREACH):
		return socksNetUnreachable
	case errors.Is(err, syscall.EHOSTUNREACH), errors.As(err, &dnsErr), errors.Is(err, context.DeadlineExceeded):
		return socksHostUnreachable
	default:
		return socksGeneralFailure
	}
}

func (s *Server) dial(ctx context.Context, target string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.DialTimeout)
	defer cancel()
	return s.opts.Dial(ctx, "tcp", target)
}

// serveHTTP serves HTTP proxy requests: CONNECT tunnels, and plain requests in absolute form
// (http://…), forwarded through the lab dialer, as many as the client sends on the connection.
func (s *Server) serveHTTP(ctx context.Context, c net.Conn, br *bufio.Reader) {
	transport := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return s.dial(ctx, addr)
	}, DisableKeepAlives: true}
	defer transport.CloseIdleConnections()
	for {
		// Each request of a kept-alive connection gets its own time to arrive.
		_ = c.SetReadDeadline(time.Now().Add(requestTimeout))
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if s.opts.User != "" {
			user, pass, ok := proxyAuth(req)
			if !ok || !s.allowed(user, pass) {
				io.WriteString(c, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"cozylab\"\r\nContent-Length: 0\r\n\r\n")
				return
			}
		}
		if req.Method == http.MethodConnect {
			up, err := s.dial(ctx, req.Host)
			if err != nil {
				httpError(c, "502 Bad Gateway", err.Error())
				return
			}
			defer up.Close()
			io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
			_ = c.SetReadDeadline(time.Time{})
			pipe(ctx, c, br, up)
			return
		}
		if req.URL.Scheme != "http" || req.URL.Host == "" {
			httpError(c, "400 Bad Request", "a proxy request needs CONNECT or an http:// URL")
			return
		}
		req.RequestURI = ""
		req.Header.Del("Proxy-Authorization")
		req.Header.Del("Proxy-Connection")
		resp, err := transport.RoundTrip(req.WithContext(ctx))
		if err != nil {
			httpError(c, "502 Bad Gateway", err.Error())
			return
		}
		err = resp.Write(c)
		resp.Body.Close()
		if err != nil || req.Close {
			return
		}
	}
}

// requestTimeout bounds how long a client takes to send its request (not the tunnel after it).
const requestTimeout = 30 * time.Second

// httpError answers an HTTP proxy request with status and a plain-text message.
func httpError(c net.Conn, status, msg string) {
	fmt.Fprintf(c, "HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", status, len(msg), msg)
}

func proxyAuth(r *http.Request) (user, pass string, ok bool) {
	h := r.Header.Get("Proxy-Authorization")
	if h == "" {
		return "", "", false
	}
	fake := &http.Request{Header: http.Header{"Authorization": {h}}}
	return fake.BasicAuth()
}

// pipe copies both ways until both sides end; what the client sent ahead sits in br. When ctx
// ends (the proxy stops) both connections are closed: an upstream that never sees the client's
// half-close (a port-forward stream does not pass it on) must not hold the stop up.
func pipe(ctx context.Context, c net.Conn, br *bufio.Reader, up net.Conn) {
	stop := context.AfterFunc(ctx, func() { up.Close(); c.Close() })
	defer stop()
	done := make(chan struct{}, 2)
	go func() {
		io.Copy(up, br)
		if tc, ok := up.(interface{ CloseWrite() error }); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}()
	go func() {
		io.Copy(c, up)
		if tc, ok := c.(interface{ CloseWrite() error }); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}()
	<-done
	<-done
}
