package vm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/digitalocean/go-qemu/qmp"
)

// DefaultQMPTimeout bounds one QMP call (dial, greeting, command, reply) when a Monitor has none.
const DefaultQMPTimeout = 5 * time.Second

// Monitor sends QMP commands to one VM's command socket. Each call opens its own connection and
// is bounded by Timeout (and its context): go-qemu's Run has no deadline and its Connect waits
// for the greeting forever. A call that times out is abandoned, not interrupted — closing the
// connection under go-qemu's reader races with it — and keeps its connection until QEMU
// answers or dies; until then later calls fail fast with a "busy" error instead of piling up.
// A Monitor is safe for concurrent use; calls run one at a time (QEMU serves one client per
// QMP socket).
type Monitor struct {
	socket  string
	timeout time.Duration
	slot    chan struct{}
}

// NewMonitor returns a Monitor for the QMP socket at path; timeout zero means DefaultQMPTimeout.
func NewMonitor(path string, timeout time.Duration) *Monitor {
	if timeout <= 0 {
		timeout = DefaultQMPTimeout
	}
	return &Monitor{socket: path, timeout: timeout, slot: make(chan struct{}, 1)}
}

// Status returns the VM's run state as QEMU names it ("running", "paused", "shutdown", ...),
// from a raw query-status: go-qemu's generated enum rejects states newer than its schema.
func (m *Monitor) Status(ctx context.Context) (string, error) {
	raw, err := m.run(ctx, "query-status")
	if err != nil {
		return "", err
	}
	var reply struct {
		Return struct {
			Status string `json:"status"`
		} `json:"return"`
	}
	if err := json.Unmarshal(raw, &reply); err != nil {
		return "", fmt.Errorf("parse query-status reply %q: %w", raw, err)
	}
	if reply.Return.Status == "" {
		return "", fmt.Errorf("parse query-status reply %q: no status", raw)
	}
	return reply.Return.Status, nil
}

// Powerdown presses the ACPI power button. The guest decides what to do (Talos shuts down; a
// guest without an ACPI handler ignores it), so callers wait for the exit with a bound.
func (m *Monitor) Powerdown(ctx context.Context) error {
	_, err := m.run(ctx, "system_powerdown")
	return err
}

// Reset is a hard reset (system_reset). With -no-reboot QEMU exits on it like on a guest
// reboot, and a Machine starts it again: a power cycle.
func (m *Monitor) Reset(ctx context.Context) error {
	_, err := m.run(ctx, "system_reset")
	return err
}

// Quit makes QEMU exit at once. QEMU may close the socket before its reply is read, so an error
// here does not mean QEMU lives on; callers watch the process.
func (m *Monitor) Quit(ctx context.Context) error {
	_, err := m.run(ctx, "quit")
	return err
}

type result struct {
	raw []byte
	err error
}

func (m *Monitor) run(ctx context.Context, command string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	select {
	case m.slot <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("qmp %s on %s: busy with an earlier call that has not returned: %w", command, m.socket, ctx.Err())
	}
	done := make(chan result, 1)
	go func() {
		defer func() { <-m.slot }()
		raw, err := runOnce(m.socket, m.timeout, command)
		done <- result{raw, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("qmp %s on %s: %w", command, m.socket, r.err)
		}
		return r.raw, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("qmp %s on %s: no reply: %w", command, m.socket, ctx.Err())
	}
}

// runOnce connects, runs one command and disconnects.
func runOnce(socket string, dialTimeout time.Duration, command string) ([]byte, error) {
	mon, err := qmp.NewSocketMonitor("unix", socket, dialTimeout)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if err := mon.Connect(); err != nil {
		return nil, errors.Join(fmt.Errorf("handshake: %w", err), mon.Disconnect())
	}
	cmd, err := json.Marshal(qmp.Command{Execute: command})
	if err != nil {
		return nil, errors.Join(err, mon.Disconnect())
	}
	raw, err := mon.Run(cmd)
	derr := mon.Disconnect()
	if err != nil {
		return nil, err
	}
	if derr != nil && command != "quit" { // after quit QEMU closes the socket itself
		return raw, fmt.Errorf("disconnect: %w", derr)
	}
	return raw, nil
}
