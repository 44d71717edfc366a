package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	xproxy "golang.org/x/net/proxy"
)

// lab is a fake lab network: names it resolves to the test servers' addresses, dialed on the
// host (the real dialers dial inside the lab; the protocol is what is tested here).
type lab map[string]string

func (l lab) dial(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	if addr, ok := l[host]; ok {
		host = addr
	} else if net.ParseIP(host) == nil {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var d net.Dialer
	return d.DialContext(ctx, network, net.JoinHostPort(host, port))
}

func start(t *testing.T, opts Options) *Server {
	t.Helper()
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	s, err := Listen(opts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return s
}

func web(t *testing.T) (*httptest.Server, string) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "page %s", r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	return srv, strings.TrimPrefix(srv.URL, "http://")
}

// socksGet fetches http://target/path through the SOCKS5 proxy with remote resolution.
func socksGet(t *testing.T, proxyAddr string, auth *xproxy.Auth, target string) (string, error) {
	d, err := xproxy.SOCKS5("tcp", proxyAddr, auth, xproxy.Direct)
	require.NoError(t, err)
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		DialContext: d.(xproxy.ContextDialer).DialContext, DisableKeepAlives: true,
	}}
	resp, err := client.Get("http://" + target + "/x")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

func TestSOCKS5ByNameAndByAddress(t *testing.T) {
	_, addr := web(t)
	_, port, _ := net.SplitHostPort(addr)
	s := start(t, Options{Dial: lab{"web.cozy-e2e.svc": "127.0.0.1"}.dial})
	page, err := socksGet(t, s.Addr(), nil, "web.cozy-e2e.svc:"+port)
	require.NoError(t, err, "a name the lab resolves (socks5h: the proxy resolves it)")
	assert.Equal(t, "page /x", page)
	page, err = socksGet(t, s.Addr(), nil, addr)
	require.NoError(t, err, "an address")
	assert.Equal(t, "page /x", page)
	_, err = socksGet(t, s.Addr(), nil, "nowhere.lab:80")
	assert.ErrorContains(t, err, "host unreachable", "a name the lab does not resolve gets the SOCKS reply for it")
}

func TestHTTPProxyConnectAndAbsoluteForm(t *testing.T) {
	_, addr := web(t)
	_, port, _ := net.SplitHostPort(addr)
	s := start(t, Options{Dial: lab{"web.lab": "127.0.0.1"}.dial})
	proxyURL, _ := url.Parse("http://" + s.Addr())

	// Absolute form: what clients send an HTTP proxy for http:// URLs.
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}}
	resp, err := client.Get("http://web.lab:" + port + "/abs")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "page /abs", string(body))

	// CONNECT: what clients send for https:// URLs, and any tunnel.
	c, err := net.Dial("tcp", s.Addr())
	require.NoError(t, err)
	defer c.Close()
	fmt.Fprintf(c, "CONNECT web.lab:%s HTTP/1.1\r\nHost: web.lab:%s\r\n\r\n", port, port)
	br := bufio.NewReader(c)
	tunnel, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, tunnel.StatusCode)
	fmt.Fprintf(c, "GET /tunnel HTTP/1.1\r\nHost: web.lab\r\nConnection: close\r\n\r\n")
	inner, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	body, _ = io.ReadAll(inner.Body)
	assert.Equal(t, "page /tunnel", string(body))

	// A refused target is a 502 naming the error.
	resp, err = client.Get("http://127.0.0.1:1/")
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
	assert.Contains(t, string(body), "connection refused")
}

// TestHTTPProxyRefusesAnOriginFormRequest: a request that is neither CONNECT nor in absolute
// form gets a well-formed 400 the client can read to its end.
func TestHTTPProxyRefusesAnOriginFormRequest(t *testing.T) {
	s := start(t, Options{Dial: lab{}.dial})
	c, err := net.Dial("tcp", s.Addr())
	require.NoError(t, err)
	defer c.Close()
	fmt.Fprintf(c, "GET /x HTTP/1.1\r\nHost: somewhere\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err, "the body is as long as Content-Length says")
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Equal(t, "a proxy request needs CONNECT or an http:// URL", string(body))
}

// TestRefusedTargetLeavesOtherConnectionsAlone: while a transfer streams through the proxy, a
// refused target gets its SOCKS error and the transfer goes on to its end.
func TestRefusedTargetLeavesOtherConnectionsAlone(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first half,")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "second half")
	}))
	defer slow.Close()
	s := start(t, Options{Dial: lab{}.dial})
	result := make(chan string, 1)
	go func() {
		page, err := socksGet(t, s.Addr(), nil, strings.TrimPrefix(slow.URL, "http://"))
		if err != nil {
			page = err.Error()
		}
		result <- page
	}()
	_, err := socksGet(t, s.Addr(), nil, "127.0.0.1:1")
	require.ErrorContains(t, err, "connection refused")
	close(release)
	assert.Equal(t, "first half,second half", <-result)
}

func TestHundredParallelConnections(t *testing.T) {
	_, addr := web(t)
	s := start(t, Options{Dial: lab{}.dial})
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, _ := xproxy.SOCKS5("tcp", s.Addr(), nil, xproxy.Direct)
			c, err := d.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			fmt.Fprintf(c, "GET /%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", i)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				errs <- err
				return
			}
			body, _ := io.ReadAll(resp.Body)
			if string(body) != fmt.Sprintf("page /%d", i) {
				errs <- fmt.Errorf("connection %d got %q", i, body)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestAuthentication(t *testing.T) {
	_, addr := web(t)
	s := start(t, Options{Dial: lab{}.dial, User: "dev", Password: "s3cret"})
	_, err := socksGet(t, s.Addr(), nil, addr)
	assert.Error(t, err, "no credentials")
	_, err = socksGet(t, s.Addr(), &xproxy.Auth{User: "dev", Password: "wrong"}, addr)
	assert.Error(t, err, "a wrong password")
	page, err := socksGet(t, s.Addr(), &xproxy.Auth{User: "dev", Password: "s3cret"}, addr)
	require.NoError(t, err)
	assert.Equal(t, "page /x", page)

	for _, u := range []string{"http://" + s.Addr(), "http://dev:s3cret@" + s.Addr()} {
		proxyURL, _ := url.Parse(u)
		client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}}
		resp, err := client.Get("http://" + addr + "/")
		require.NoError(t, err)
		resp.Body.Close()
		if strings.Contains(u, "@") {
			assert.Equal(t, http.StatusOK, resp.StatusCode)
		} else {
			assert.Equal(t, http.StatusProxyAuthRequired, resp.StatusCode)
		}
	}
}

func TestListenRefusesBadAddresses(t *testing.T) {
	_, err := Listen(Options{Addr: "0.0.0.0:1080", Dial: lab{}.dial})
	assert.ErrorContains(t, err, "listens on loopback only")
	_, err = Listen(Options{Addr: "localhost", Dial: lab{}.dial})
	assert.ErrorContains(t, err, "want 127.0.0.1:<port>")
	_, err = Listen(Options{})
	assert.ErrorContains(t, err, "no dialer")

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	_, err = Listen(Options{Addr: busy.Addr().String(), Dial: lab{}.dial})
	require.Error(t, err)
	assert.Contains(t, err.Error(), busy.Addr().String()+" is in use by proxy.test (pid ", "the error names the program holding the port")
}
