package process

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// Programs selects running programs by their executable: the programs a piece of work (a test
// run) may start and must not leave behind, whoever started them.
type Programs struct {
	// Under are directories: a program whose executable lies below one is selected (the binaries
	// cache). An empty entry selects nothing.
	Under []string
	// Named are executable file names selected wherever they are installed (qemu-system-x86_64).
	Named []string
}

// Find lists the live processes the selection matches.
func (p Programs) Find() ([]Running, error) {
	all, err := FindByExecutable("/")
	if err != nil {
		return nil, err
	}
	var out []Running
	for _, r := range all {
		if p.matches(r.Exe) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (p Programs) matches(exe string) bool {
	for _, dir := range p.Under {
		if dir != "" && strings.HasPrefix(exe, strings.TrimSuffix(dir, "/")+"/") {
			return true
		}
	}
	// A binary replaced on disk while it runs reads "<path> (deleted)".
	return slices.Contains(p.Named, filepath.Base(strings.TrimSuffix(exe, " (deleted)")))
}

// Baseline is the set of selected programs that ran when it was taken. Whatever the selection
// matches later and is not in it was started since: a lab the developer keeps up while the tests
// run is theirs and stays untouched, a program the tests started and left running is a leak.
// Processes are compared by Identity, so a pid reused during the work is not mistaken for one
// that ran before.
type Baseline struct {
	programs Programs
	before   map[Identity]bool
}

// Baseline records the selected programs running now.
func (p Programs) Baseline() (*Baseline, error) {
	running, err := p.Find()
	if err != nil {
		return nil, fmt.Errorf("record the running programs: %w", err)
	}
	b := &Baseline{programs: p, before: map[Identity]bool{}}
	for _, r := range running {
		b.before[r.Identity()] = true
	}
	return b, nil
}

// New lists the selected programs running now that did not run when the baseline was taken.
func (b *Baseline) New() ([]Running, error) {
	running, err := b.programs.Find()
	if err != nil {
		return nil, fmt.Errorf("list the running programs: %w", err)
	}
	var out []Running
	for _, r := range running {
		if !b.before[r.Identity()] {
			out = append(out, r)
		}
	}
	return out, nil
}

// KillNew kills (SIGKILL, with its process group) every program New lists, so one leak does not
// spoil the next run, and returns a *LeftoverError naming each, joined with any kill that failed.
// It returns nil when nothing new runs.
func (b *Baseline) KillNew() error {
	left, err := b.New()
	if err != nil || len(left) == 0 {
		return err
	}
	errs := []error{&LeftoverError{Processes: left}}
	for _, r := range left {
		errs = append(errs, killIfSame(r.Pid, r.Start))
	}
	return errors.Join(errs...)
}

// LeftoverError names the programs that outlived the work a Baseline watched; KillNew has killed
// them.
type LeftoverError struct {
	Processes []Running
}

// Error lists one process a line: its pid and command line.
func (e *LeftoverError) Error() string {
	var b strings.Builder
	if len(e.Processes) == 1 {
		b.WriteString("1 process left running (now killed):")
	} else {
		fmt.Fprintf(&b, "%d processes left running (now killed):", len(e.Processes))
	}
	for _, r := range e.Processes {
		cmdline := r.Args
		if cmdline == "" {
			cmdline = r.Exe
		}
		fmt.Fprintf(&b, "\n  pid %d: %s", r.Pid, cmdline)
	}
	return b.String()
}
