package progress

import (
	"sync"
	"time"
)

// Reporter opens steps. Implementations must be safe for concurrent use.
type Reporter interface {
	// Begin opens a step with a short title such as "Building etcd v3.6.6".
	Begin(title string) Step
}

// Step is one unit of long work as the user sees it.
type Step interface {
	// Status replaces the step's live status: what it waits for and how far it is.
	Status(format string, args ...any)
	// Done ends the step: ✓ when err is nil, ✗ with the error otherwise. It returns err so
	// callers can write `return step.Done(err)`.
	Done(err error) error
	// Skip ends the step as already done, with a short reason such as "cached".
	Skip(reason string)
}

// Record is a finished step, kept for the timing summary.
type Record struct {
	Title    string
	Duration time.Duration
	Outcome  Outcome
	Note     string
}

// Outcome says how a step ended.
type Outcome int

// Step outcomes.
const (
	Succeeded Outcome = iota
	Failed
	Skipped
)

// Discard is a Reporter that shows nothing; for tests and quiet callers.
var Discard Reporter = discard{}

type discard struct{}

func (discard) Begin(string) Step { return discardStep{} }

type discardStep struct{}

func (discardStep) Status(string, ...any) {}
func (discardStep) Done(err error) error  { return err }
func (discardStep) Skip(string)           {}

// Recorder is a Reporter that shows nothing and keeps every finished step; tests use it to
// assert what a library reported.
type Recorder struct {
	mu      sync.Mutex
	records []Record
	status  map[string][]string
}

// Begin implements Reporter.
func (r *Recorder) Begin(title string) Step {
	return &recordedStep{r: r, title: title, start: time.Now()}
}

// Records returns the steps finished so far, in the order they ended.
func (r *Recorder) Records() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Record(nil), r.records...)
}

// Statuses returns every status line a step titled title reported.
func (r *Recorder) Statuses(title string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.status[title]...)
}

type recordedStep struct {
	r     *Recorder
	title string
	start time.Time
}

func (s *recordedStep) Status(format string, args ...any) {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	if s.r.status == nil {
		s.r.status = map[string][]string{}
	}
	s.r.status[s.title] = append(s.r.status[s.title], sprintf(format, args...))
}

func (s *recordedStep) Done(err error) error {
	rec := Record{Title: s.title, Duration: time.Since(s.start), Outcome: Succeeded}
	if err != nil {
		rec.Outcome, rec.Note = Failed, err.Error()
	}
	s.r.add(rec)
	return err
}

func (s *recordedStep) Skip(reason string) {
	s.r.add(Record{Title: s.title, Duration: time.Since(s.start), Outcome: Skipped, Note: reason})
}

func (r *Recorder) add(rec Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec)
}
