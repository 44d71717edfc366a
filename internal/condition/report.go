package condition

import (
	"sync"

	"github.com/cozylab/cozylab/internal/progress"
)

// Reporter hears about waits; the edge turns it into progress lines, so library code that waits
// never prints. Implementations must be safe for concurrent use.
type Reporter interface {
	// Waiting is called after each failed check with the reason the condition does not hold.
	Waiting(cond string, reason error)
	// Done is called once the condition holds.
	Done(cond string)
}

// NopReporter discards progress.
type NopReporter struct{}

// Waiting implements Reporter.
func (NopReporter) Waiting(string, error) {}

// Done implements Reporter.
func (NopReporter) Done(string) {}

// StepReporter shows waits as the live status of step: "waiting for <cond>: <reason>", set only
// when that text changes, so a poll every 100 ms does not flood a CI log with one line.
func StepReporter(step progress.Step) Reporter {
	return &stepReporter{step: step}
}

type stepReporter struct {
	step progress.Step

	mu   sync.Mutex
	last string
}

func (s *stepReporter) Waiting(cond string, reason error) {
	line := "waiting for " + cond + ": " + reason.Error()

	s.mu.Lock()
	defer s.mu.Unlock()

	if line == s.last {
		return
	}

	s.last = line
	s.step.Status("%s", line)
}

// Done forgets the last line: a later wait for the same condition shows its reasons afresh.
func (s *stepReporter) Done(string) {
	s.mu.Lock()
	defer s.mu.Unlock()

	s.last = ""
}
