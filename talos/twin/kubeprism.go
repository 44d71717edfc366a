package twin

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// prismDialTimeout bounds one attempt to reach an API server behind KubePrism.
const prismDialTimeout = 3 * time.Second

// kubePrism is Talos's KubePrism: a TCP load balancer on localhost in front of the control
// planes' API servers, so host-network programs (the kubelet, kube-proxy, the operator and
// Flux of the installer chart's talos variant) reach the API before and without Service
// routing. It prefers this node's own API server and falls back to the cluster endpoint.
type kubePrism struct {
	lis      net.Listener
	backends []string
}

// startKubePrism listens on 127.0.0.1:port and forwards each connection to the first backend
// that answers.
func startKubePrism(port int, backends []string) (*kubePrism, error) {
	lis, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("start KubePrism: %w", err)
	}

	p := &kubePrism{lis: lis, backends: backends}
	go p.serve()

	return p, nil
}

func (p *kubePrism) serve() {
	for {
		c, err := p.lis.Accept()
		if err != nil {
			return
		}

		go p.forward(c)
	}
}

func (p *kubePrism) forward(c net.Conn) {
	defer c.Close()

	var up net.Conn

	for _, b := range p.backends {
		var err error
		if up, err = net.DialTimeout("tcp", b, prismDialTimeout); err == nil {
			break
		}
	}

	if up == nil {
		return // the client sees the connection closed, as when no API server answers
	}
	defer up.Close()

	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src) //nolint:errcheck // either side closing ends the pair
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite() //nolint:errcheck // best effort half-close
		}
		done <- struct{}{}
	}

	go pipe(up, c)
	go pipe(c, up)
	<-done
	<-done
}

// close stops listening; open connections end with the node's programs.
func (p *kubePrism) close() error {
	if err := p.lis.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("stop KubePrism: %w", err)
	}

	return nil
}
