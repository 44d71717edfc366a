// Package command runs the few external programs cozylab cannot replace with a library (the Go
// toolchain, qemu-system-*) and turns their failures into errors a person can act on: the argv,
// the exit code and the tail of what the program printed.
package command

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// TailLines is how many trailing output lines an Error keeps.
const TailLines = 30

// Error is a failed external command.
type Error struct {
	Argv     []string
	Dir      string
	ExitCode int    // -1 when the program did not exit normally (not found, killed)
	Tail     string // the last TailLines lines of combined output
	Err      error
}

// Error renders the command, how it ended and the tail of its output, indented.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "run %s", strings.Join(e.Argv, " "))
	if e.ExitCode >= 0 {
		fmt.Fprintf(&b, ": exit status %d", e.ExitCode)
	} else {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if e.Tail != "" {
		b.WriteString("\n" + indent(e.Tail))
	}
	return b.String()
}

// Unwrap returns the underlying *exec.ExitError or start error.
func (e *Error) Unwrap() error { return e.Err }

// Run runs cmd (made with exec.CommandContext where it must be cancellable), capturing its
// combined output unless the caller set Stdout or Stderr. On failure it returns an *Error; the
// output is returned either way.
func Run(cmd *exec.Cmd) ([]byte, error) {
	var out bytes.Buffer
	if cmd.Stdout == nil {
		cmd.Stdout = &out
	}
	if cmd.Stderr == nil {
		cmd.Stderr = &out
	}
	err := cmd.Run()
	if err == nil {
		return out.Bytes(), nil
	}
	return out.Bytes(), Wrap(cmd, out.Bytes(), err)
}

// Wrap builds an *Error for a finished cmd whose run returned err, with output as its output.
func Wrap(cmd *exec.Cmd, output []byte, err error) error {
	e := &Error{Argv: cmd.Args, Dir: cmd.Dir, ExitCode: -1, Tail: Tail(string(output), TailLines), Err: err}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.Exited() {
		e.ExitCode = ee.ExitCode()
	}
	return e
}

// Tail returns the last n non-empty-trailing lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
