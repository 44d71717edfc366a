// Package cli is what the project's commands do — the lab, the e2e lanes, the proxy, login,
// releases — for both front ends: the mage targets (go run mage.go …, thin wrappers) and the
// cozylab command (cli/cmd/cozylab), for the sandbox pod, CI and users without Go. Settings come
// from the environment (LAB_*, E2E_*, PROXY_*, LOGIN_COMMAND), the same for both.
package cli

import (
	"fmt"
	"os"
	"time"

	"github.com/cozylab/cozylab/internal/progress"
)

// WithTerminal gives fn a progress reporter on stderr and ends with the timing summary.
func WithTerminal(fn func(term *progress.Terminal) error) error {
	start := time.Now()
	term := progress.NewTerminal(os.Stderr)
	defer term.Close()
	err := fn(term)
	term.Summary(start)
	return err
}

// ExitError is a command that ran and exited non-zero: its exit code is the front end's.
type ExitError struct {
	Code int
	What string
}

func (e ExitError) Error() string { return fmt.Sprintf("%s exited with %d", e.What, e.Code) }
