package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/cozylab/cozylab/lab/provider"
	"github.com/cozylab/cozylab/lab/proxy"
)

// Proxy serves a SOCKS5 (socks5h) and HTTP proxy into the lab's network on 127.0.0.1:1080 (PROXY_ADDR; PROXY_USER and PROXY_PASSWORD require credentials) until interrupted: node addresses, pod and Service IPs, Service names.
func Proxy(ctx context.Context) error {
	p, dial, err := labNetwork()
	if err != nil {
		return err
	}
	return serveProxy(ctx, "the lab ("+p.Name()+" provider)", dial)
}

// serveProxy serves the proxy (PROXY_ADDR, PROXY_USER, PROXY_PASSWORD) into what with dial until
// interrupted, after printing the browser and shell settings.
func serveProxy(ctx context.Context, what string, dial proxy.DialFunc) error {
	s, err := proxy.Listen(proxy.Options{Addr: os.Getenv("PROXY_ADDR"), Dial: dial,
		User: os.Getenv("PROXY_USER"), Password: os.Getenv("PROXY_PASSWORD")})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "Proxy into %s on %s: SOCKS5 with remote DNS, and HTTP (CONNECT and plain), on the same port. Ctrl-C stops it.\n", what, s.Addr())
	fmt.Fprintf(os.Stderr, "  Browser: SOCKS v5 host 127.0.0.1 port %s, \"proxy DNS when using SOCKS v5\" on (chromium --proxy-server=socks5://%s)\n", port(s.Addr()), s.Addr())
	fmt.Fprintf(os.Stderr, "  Shell:   export ALL_PROXY=socks5h://%s HTTPS_PROXY=http://%s HTTP_PROXY=http://%s\n", s.Addr(), s.Addr(), s.Addr())
	fmt.Fprintf(os.Stderr, "  Names:   Service names as in a pod (echo.cozy-e2e-echo.svc), node names, pod and Service IPs\n")
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return s.Serve(ctx)
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// labNetwork is the existing lab and its dialer into the lab's network.
func labNetwork() (provider.Provider, proxy.DialFunc, error) {
	p, err := ExistingLab()
	if err != nil {
		return nil, nil, err
	}
	nw, ok := p.(provider.Network)
	if !ok {
		return nil, nil, fmt.Errorf("the %s provider has no proxy yet", p.Name())
	}
	dial, err := nw.Dialer()
	if err != nil {
		return nil, nil, err
	}
	return p, dial, nil
}
