package providertest

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	xproxy "golang.org/x/net/proxy"

	"github.com/cozylab/cozylab/lab/proxy"
)

// Proxy is a lab proxy a test serves on 127.0.0.1 until it ends, and its clients.
type Proxy struct {
	// Addr is where it listens.
	Addr string
	// SOCKS dials through it with SOCKS5 (names resolved in the lab).
	SOCKS xproxy.ContextDialer
	// Clients are HTTP clients through it by protocol: "SOCKS5h" and "HTTP" (absolute form).
	Clients map[string]*http.Client
}

// ServeProxy serves the lab proxy with dial until the test ends (it must stop cleanly then).
func ServeProxy(tb testing.TB, dial proxy.DialFunc) Proxy {
	tb.Helper()
	s, err := proxy.Listen(proxy.Options{Addr: "127.0.0.1:0", Dial: dial})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()
	tb.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			tb.Errorf("the proxy stopped with: %v", err)
		}
	})
	socks, err := xproxy.SOCKS5("tcp", s.Addr(), nil, xproxy.Direct)
	if err != nil {
		tb.Fatal(err)
	}
	proxyURL, err := url.Parse("http://" + s.Addr())
	if err != nil {
		tb.Fatal(err)
	}
	sd := socks.(xproxy.ContextDialer)
	return Proxy{Addr: s.Addr(), SOCKS: sd, Clients: map[string]*http.Client{
		"SOCKS5h": {Timeout: time.Minute, Transport: &http.Transport{DialContext: sd.DialContext}},
		"HTTP":    {Timeout: time.Minute, Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}},
	}}
}
