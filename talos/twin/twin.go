package twin

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"

	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/config"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// DefaultTag is the version the twin reports: the Talos API it speaks, marked as a twin so no
// one mistakes it for a Talos release.
const DefaultTag = "v1.13.6-twin"

// Options configure a Twin.
type Options struct {
	// Addresses are the node's IPs, written into its server certificates. A client must dial
	// one of them (or a SAN of the config) for TLS verification to pass.
	Addresses []net.IP
	// Config is a machine config the node already has (persisted by a previous run); without one
	// the twin starts in maintenance mode.
	Config []byte
	// Tag is the version reported by Version; DefaultTag when empty.
	Tag string
	// Platform is the platform name reported by Version, e.g. "nocloud"; "twin" when empty.
	Platform string
}

// Twin serves the machinery MachineService for one Node.
type Twin struct {
	machine.UnimplementedMachineServiceServer

	node        Node
	opts        Options
	grpc        *grpc.Server
	maintenance *tls.Config

	bootstrapMu sync.Mutex

	mu           sync.Mutex
	config       config.Provider
	raw          []byte
	secure       *tls.Config
	bootstrapped bool
}

// New builds a twin for node. It does not listen yet; call Serve.
func New(node Node, opts Options) (*Twin, error) {
	if opts.Tag == "" {
		opts.Tag = DefaultTag
	}

	if opts.Platform == "" {
		opts.Platform = "twin"
	}

	maintenance, err := maintenanceTLS(node.Hostname(), opts.Addresses)
	if err != nil {
		return nil, err
	}

	t := &Twin{node: node, opts: opts, maintenance: maintenance}

	if opts.Config != nil {
		if _, err := t.accept(context.Background(), opts.Config); err != nil {
			return nil, fmt.Errorf("load stored config: %w", err)
		}
	}

	base := &tls.Config{MinVersion: tls.VersionTLS13, GetConfigForClient: t.tlsForClient}
	t.grpc = grpc.NewServer(
		grpc.Creds(credentials.NewTLS(base)),
		grpc.UnaryInterceptor(t.unaryGate),
		grpc.StreamInterceptor(t.streamGate),
	)
	machine.RegisterMachineServiceServer(t.grpc, t)
	machine.RegisterImageServiceServer(t.grpc, imageService{twin: t})

	return t, nil
}

// Serve answers on lis until Stop; it returns nil after Stop.
func (t *Twin) Serve(lis net.Listener) error {
	if err := t.grpc.Serve(lis); err != nil {
		return fmt.Errorf("serve Talos API on %s: %w", lis.Addr(), err)
	}

	return nil
}

// Stop closes the listener and every connection at once, as a reboot would.
func (t *Twin) Stop() { t.grpc.Stop() }

// GracefulStop stops accepting calls and lets the running ones finish (so the answer to a
// Reboot reaches the client), or stops at once when ctx ends first.
func (t *Twin) GracefulStop(ctx context.Context) {
	done := make(chan struct{})

	go func() {
		t.grpc.GracefulStop()
		close(done)
	}()

	select {
	case <-done:
	case <-ctx.Done():
		t.grpc.Stop()
		<-done
	}
}

// Maintenance reports whether the twin still waits for a config.
func (t *Twin) Maintenance() bool {
	t.mu.Lock()
	defer t.mu.Unlock()

	return t.config == nil
}

// Config returns the applied machine config as it was received, or nil in maintenance mode.
func (t *Twin) Config() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()

	return t.raw
}

// tlsForClient picks the TLS for each new connection from the current state, so applying a
// config moves the node out of maintenance mode without restarting the listener.
func (t *Twin) tlsForClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	t.mu.Lock()
	defer t.mu.Unlock()

	if t.secure != nil {
		return t.secure, nil
	}

	return t.maintenance, nil
}

// accept validates a machine config, builds the TLS it implies, hands it to the node and makes
// it current. Nothing changes when any step fails.
func (t *Twin) accept(ctx context.Context, raw []byte) ([]string, error) {
	cfg, warnings, err := validateConfig(raw)
	if err != nil {
		return warnings, err
	}

	secure, err := secureTLS(cfg, t.node.Hostname(), t.opts.Addresses)
	if err != nil {
		return warnings, err
	}

	if err := t.node.Configure(ctx, cfg); err != nil {
		return warnings, fmt.Errorf("configure node %s: %w", t.node.Hostname(), err)
	}

	t.mu.Lock()
	defer t.mu.Unlock()

	t.config, t.raw, t.secure = cfg, raw, secure

	return warnings, nil
}
