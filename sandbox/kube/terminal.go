package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"golang.org/x/term"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
)

// Terminal runs an interactive command: when in and out are terminals, raw mode on in (always
// restored, also on SIGTERM/SIGINT/SIGHUP/panic), TTY on, the window size primed and updated on
// SIGWINCH; otherwise no TTY (stdin copied, separate stderr). Returns the exit code.
//
// A termination signal received meanwhile ends the command: the terminal is restored and
// Terminal returns an error naming the signal (errors.Is ErrInterrupted), for the caller to
// exit on.
func Terminal(ctx context.Context, cfg *rest.Config, ns, pod, container string, cmd []string, in, out *os.File, errOut io.Writer) (int, error) {
	o := ExecOptions{Namespace: ns, Pod: pod, Container: container, Command: cmd, Stderr: errOut}
	if in != nil { // a nil *os.File in an io.Reader would not be nil
		o.Stdin = in
	}
	if out != nil {
		o.Stdout = out
	}
	if in == nil || out == nil || !term.IsTerminal(int(in.Fd())) || !term.IsTerminal(int(out.Fd())) {
		return Exec(ctx, cfg, o)
	}
	saved, err := term.MakeRaw(int(in.Fd()))
	if err != nil {
		return 0, fmt.Errorf("put the terminal in raw mode: %w", err)
	}
	var restoreOnce sync.Once
	var restoreErr error
	restore := func() { restoreOnce.Do(func() { restoreErr = term.Restore(int(in.Fd()), saved) }) }
	defer restore() // also while panicking

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	go func() {
		select {
		case sig := <-sigs:
			restore()
			cancel(fmt.Errorf("%w: %v", ErrInterrupted, sig))
		case <-ctx.Done():
		}
	}()

	sizes := watchSize(ctx, out)
	o.TTY, o.Sizes = true, sizes
	code, err := Exec(ctx, cfg, o)
	cancel(nil)
	sizes.wait()
	restore()
	if cause := context.Cause(ctx); errors.Is(cause, ErrInterrupted) {
		return code, cause
	}
	if err == nil && restoreErr != nil {
		err = fmt.Errorf("restore the terminal: %w", restoreErr)
	}
	return code, err
}

// ErrInterrupted marks a command that Terminal ended on SIGTERM, SIGINT or SIGHUP.
var ErrInterrupted = errors.New("interrupted by signal")

// sizeQueue is a remotecommand.TerminalSizeQueue fed by SIGWINCH: the current size first,
// then every change; nil once its context ends.
type sizeQueue struct {
	ctx   context.Context
	sizes chan remotecommand.TerminalSize
	done  chan struct{}
}

// watchSize starts a sizeQueue for the terminal out until ctx ends.
func watchSize(ctx context.Context, out *os.File) *sizeQueue {
	q := &sizeQueue{ctx: ctx, sizes: make(chan remotecommand.TerminalSize, 1), done: make(chan struct{})}
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	go func() {
		defer close(q.done)
		defer signal.Stop(winch)
		var last remotecommand.TerminalSize
		for {
			if w, h, err := term.GetSize(int(out.Fd())); err == nil {
				if size := (remotecommand.TerminalSize{Width: uint16(w), Height: uint16(h)}); size != last {
					last = size
					q.push(size)
				}
			}
			select {
			case <-winch:
			case <-ctx.Done():
				return
			}
		}
	}()
	return q
}

// push replaces a size not yet read with the newer one: only the latest matters.
func (q *sizeQueue) push(size remotecommand.TerminalSize) {
	for {
		select {
		case q.sizes <- size:
			return
		default:
		}
		select {
		case <-q.sizes:
		default:
		}
	}
}

// Next implements remotecommand.TerminalSizeQueue.
func (q *sizeQueue) Next() *remotecommand.TerminalSize {
	select {
	case size := <-q.sizes:
		return &size
	case <-q.ctx.Done():
		return nil
	}
}

// wait returns once the SIGWINCH watcher has stopped.
func (q *sizeQueue) wait() { <-q.done }
