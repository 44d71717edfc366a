//go:build integration

package kube

import (
	"bytes"
	"crypto/rand"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
	"k8s.io/client-go/tools/remotecommand"
)

// TestExec runs commands in a pod: stdout and stderr arrive apart, stdin reaches the command
// and its end ends cat, a non-zero exit is a code and no error, a missing pod is an error.
func TestExec(t *testing.T) {
	cfg, cs := testLab(t)
	startPod(t, cs, "podio-exec", idleScript)
	ctx := t.Context()
	run := func(stdin []byte, cmd ...string) (code int, stdout, stderr string, err error) {
		var out, errOut bytes.Buffer
		o := ExecOptions{Namespace: ns, Pod: "podio-exec", Command: cmd, Stdout: &out, Stderr: &errOut}
		if stdin != nil {
			o.Stdin = bytes.NewReader(stdin)
		}
		code, err = Exec(ctx, cfg, o)
		return code, out.String(), errOut.String(), err
	}

	t.Run("stdout and stderr apart", func(t *testing.T) {
		code, out, errOut, err := run(nil, "sh", "-c", "echo to-stdout; echo to-stderr >&2")
		require.NoError(t, err)
		assert.Equal(t, 0, code)
		assert.Equal(t, "to-stdout\n", out)
		assert.Equal(t, "to-stderr\n", errOut)
	})
	t.Run("stdin piped through cat", func(t *testing.T) {
		in := make([]byte, 1<<20)
		_, _ = rand.Read(in)
		code, out, errOut, err := run(in, "cat")
		require.NoError(t, err)
		assert.Equal(t, 0, code)
		assert.Empty(t, errOut)
		assert.True(t, bytes.Equal(in, []byte(out)), "cat echoes 1 MiB of stdin (%d bytes came back)", len(out))
	})
	t.Run("a non-zero exit is a code", func(t *testing.T) {
		code, _, _, err := run(nil, "sh", "-c", "exit 3")
		require.NoError(t, err)
		assert.Equal(t, 3, code)
	})
	t.Run("a missing pod is an error", func(t *testing.T) {
		_, err := Exec(ctx, cfg, ExecOptions{Namespace: ns, Pod: "podio-no-such-pod", Command: []string{"true"}, Stdout: &bytes.Buffer{}})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "podio-no-such-pod")
	})
}

// TestExecTTY gives the remote shell a terminal: stty sees the size given first, then the size
// after a resize, and the shell's exit code comes back; Terminal does the same on a local
// pseudo-terminal (raw mode there, restored afterwards) and falls back to plain streams when
// its input is not a terminal.
func TestExecTTY(t *testing.T) {
	cfg, cs := testLab(t)
	startPod(t, cs, "podio-tty", idleScript)
	ctx := t.Context()

	t.Run("Exec with a size queue", func(t *testing.T) {
		sizes := &testSizes{c: make(chan remotecommand.TerminalSize, 4), done: make(chan struct{})}
		sizes.c <- remotecommand.TerminalSize{Width: 91, Height: 37}
		stdinR, stdinW, err := os.Pipe()
		require.NoError(t, err)
		out := &syncBuffer{}
		type result struct {
			code int
			err  error
		}
		done := make(chan result, 1)
		go func() {
			code, err := Exec(ctx, cfg, ExecOptions{Namespace: ns, Pod: "podio-tty", Command: []string{"sh"},
				Stdin: stdinR, Stdout: out, TTY: true, Sizes: sizes})
			close(sizes.done)
			done <- result{code, err}
		}()
		askSize(t, stdinW, out, "37 91")
		sizes.c <- remotecommand.TerminalSize{Width: 120, Height: 50}
		askSize(t, stdinW, out, "50 120") // the resize and the next line race: ask until it shows
		_, err = stdinW.WriteString("exit 5\n")
		require.NoError(t, err)
		r := <-done
		require.NoError(t, r.err, "output: %q", out.String())
		assert.Equal(t, 5, r.code)
		require.NoError(t, stdinW.Close())
		require.NoError(t, stdinR.Close())
	})

	t.Run("Terminal on a pseudo-terminal", func(t *testing.T) {
		ptm, tty := openPTY(t)
		setSize(t, tty, 37, 91)
		before, err := term.GetState(int(tty.Fd()))
		require.NoError(t, err)
		out := &syncBuffer{}
		go func() { _, _ = out.ReadFrom(ptm) }() // ends when the test closes ptm
		type result struct {
			code int
			err  error
		}
		done := make(chan result, 1)
		go func() {
			code, err := Terminal(ctx, cfg, ns, "podio-tty", "", []string{"sh"}, tty, tty, os.Stderr)
			done <- result{code, err}
		}()
		askSize(t, ptm, out, "37 91")
		setSize(t, tty, 44, 101)
		// No process has this terminal as its controlling one, so the kernel signals nobody:
		// send the SIGWINCH it would have sent.
		require.NoError(t, unix.Kill(os.Getpid(), unix.SIGWINCH))
		askSize(t, ptm, out, "44 101")
		_, err = ptm.WriteString("exit 5\r")
		require.NoError(t, err)
		r := <-done
		require.NoError(t, r.err, "output: %q", out.String())
		assert.Equal(t, 5, r.code)
		after, err := term.GetState(int(tty.Fd()))
		require.NoError(t, err)
		assert.Equal(t, before, after, "the terminal's mode is restored")
	})

	t.Run("Terminal without a terminal", func(t *testing.T) {
		inR, inW, err := os.Pipe()
		require.NoError(t, err)
		outR, outW, err := os.Pipe()
		require.NoError(t, err)
		_, err = inW.WriteString("piped\n")
		require.NoError(t, err)
		require.NoError(t, inW.Close())
		out := &syncBuffer{}
		copied := make(chan struct{})
		go func() { _, _ = out.ReadFrom(outR); close(copied) }()
		var errOut bytes.Buffer
		code, err := Terminal(ctx, cfg, ns, "podio-tty", "", []string{"sh", "-c", "cat; echo oops >&2; exit 4"}, inR, outW, &errOut)
		require.NoError(t, err)
		require.NoError(t, outW.Close())
		<-copied
		assert.Equal(t, 4, code)
		assert.Equal(t, "piped\n", out.String(), "no TTY: no echo, no CR")
		assert.Equal(t, "oops\n", errOut.String(), "no TTY: stderr apart")
		require.NoError(t, inR.Close())
		require.NoError(t, outR.Close())
	})
}

// askSize types "stty size" into the remote shell until want shows in its output.
func askSize(t *testing.T, in interface{ WriteString(string) (int, error) }, out *syncBuffer, want string) {
	t.Helper()
	require.Eventually(t, func() bool {
		if strings.Contains(out.String(), want+"\r\n") {
			return true
		}
		_, err := in.WriteString("stty size\r")
		require.NoError(t, err)
		return false
	}, time.Minute, 500*time.Millisecond, "stty size shows %q; the output so far: %q", want, out)
}

// testSizes is a TerminalSizeQueue the test feeds; nil once done is closed.
type testSizes struct {
	c    chan remotecommand.TerminalSize
	done chan struct{}
}

func (q *testSizes) Next() *remotecommand.TerminalSize {
	select {
	case s := <-q.c:
		return &s
	case <-q.done:
		return nil
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) ReadFrom(r io.Reader) (int64, error) {
	var n int64
	p := make([]byte, 4096)
	for {
		m, err := r.Read(p)
		b.Write(p[:m])
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// openPTY opens a pseudo-terminal pair: the master (the test's side) and the terminal.
func openPTY(t *testing.T) (ptm, tty *os.File) {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	require.NoError(t, err)
	require.NoError(t, unix.IoctlSetPointerInt(int(ptm.Fd()), unix.TIOCSPTLCK, 0), "unlock the pseudo-terminal")
	n, err := unix.IoctlGetInt(int(ptm.Fd()), unix.TIOCGPTN)
	require.NoError(t, err)
	tty, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	require.NoError(t, err)
	t.Cleanup(func() {
		assert.NoError(t, tty.Close())
		assert.NoError(t, ptm.Close())
	})
	return ptm, tty
}

func setSize(t *testing.T, tty *os.File, rows, cols uint16) {
	t.Helper()
	require.NoError(t, unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}))
}
