package vm

import (
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeQMP serves the QMP handshake and answers commands with reply; an empty reply means the
// server never answers (a hung QEMU). greet=false never sends the greeting either.
type fakeQMP struct {
	greet bool
	reply func(command string) string

	mu       sync.Mutex
	commands []string
}

func (f *fakeQMP) serve(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "qmp.sock")
	l, err := net.Listen("unix", path)
	require.NoError(t, err)
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang); require.NoError(t, l.Close()) })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go f.handle(c, hang)
		}
	}()
	return path
}

func (f *fakeQMP) handle(c net.Conn, hang <-chan struct{}) {
	defer c.Close()
	if !f.greet {
		<-hang
		return
	}
	if _, err := c.Write([]byte(`{"QMP":{"version":{"qemu":{"micro":0,"minor":2,"major":7},"package":""},"capabilities":[]}}` + "\n")); err != nil {
		return
	}
	dec := json.NewDecoder(c)
	for {
		var cmd struct{ Execute string }
		if err := dec.Decode(&cmd); err != nil {
			return
		}
		reply := `{"return":{}}`
		if cmd.Execute != "qmp_capabilities" {
			f.mu.Lock()
			f.commands = append(f.commands, cmd.Execute)
			f.mu.Unlock()
			reply = f.reply(cmd.Execute)
		}
		if reply == "" {
			<-hang
			return
		}
		if _, err := c.Write([]byte(reply + "\n")); err != nil {
			return
		}
	}
}

func TestMonitorStatusParsesAnyStateAsString(t *testing.T) {
	f := &fakeQMP{greet: true, reply: func(string) string {
		return `{"return":{"status":"a-state-from-qemu-12","singlestep":false,"running":false}}`
	}}
	status, err := NewMonitor(f.serve(t), time.Second).Status(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "a-state-from-qemu-12", status)
}

func TestMonitorSendsPowerdownAndQuit(t *testing.T) {
	f := &fakeQMP{greet: true, reply: func(string) string { return `{"return":{}}` }}
	m := NewMonitor(f.serve(t), time.Second)
	require.NoError(t, m.Powerdown(context.Background()))
	require.NoError(t, m.Quit(context.Background()))
	assert.Equal(t, []string{"system_powerdown", "quit"}, f.commands)
}

func TestMonitorReportsQMPError(t *testing.T) {
	f := &fakeQMP{greet: true, reply: func(string) string {
		return `{"error":{"class":"GenericError","desc":"no can do"}}`
	}}
	err := NewMonitor(f.serve(t), time.Second).Powerdown(context.Background())
	assert.ErrorContains(t, err, "no can do")
}

func TestMonitorBoundsAHungQEMU(t *testing.T) {
	for name, f := range map[string]*fakeQMP{
		"no greeting": {greet: false},
		"no reply":    {greet: true, reply: func(string) string { return "" }},
	} {
		t.Run(name, func(t *testing.T) {
			m := NewMonitor(f.serve(t), 200*time.Millisecond)
			_, err := m.Status(context.Background())
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.ErrorContains(t, err, "no reply")
			// The abandoned call still holds the connection: the next one says so.
			_, err = m.Status(context.Background())
			assert.ErrorContains(t, err, "busy with an earlier call")
		})
	}
}

func TestMonitorNoSocket(t *testing.T) {
	_, err := NewMonitor(filepath.Join(t.TempDir(), "absent.sock"), time.Second).Status(context.Background())
	assert.ErrorContains(t, err, "connect")
}
