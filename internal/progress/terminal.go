package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// Terminal writes step lines to a stream (normally stderr). On an interactive terminal, with
// neither CI nor NO_COLOR set, the running step is a spinner line redrawn in place with its live
// status; otherwise every line is plain and a status is printed when it changes, at most once per
// quietPeriod (a change within it is printed when the period ends, so the last status a step
// reported is always shown), and a running step's unchanged status again after heartbeat, so
// CI logs stay short but never silent for long. Plain mode prints a step's " • title ..." line
// with its first status, so a step that ends at once is one line.
type Terminal struct {
	mu          sync.Mutex
	w           io.Writer
	live        bool
	quietPeriod time.Duration
	heartbeat   time.Duration
	active      []*termStep
	records     []Record
	stop        chan struct{}
	frame       int
}

const spinner = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

// NewTerminal returns a reporter writing to w. Live (spinner) mode is chosen when w is a
// terminal and neither CI nor NO_COLOR is set in the environment.
func NewTerminal(w io.Writer) *Terminal {
	t := &Terminal{w: w, quietPeriod: 10 * time.Second, heartbeat: 30 * time.Second}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) && os.Getenv("CI") == "" && os.Getenv("NO_COLOR") == "" {
		t.live = true
		t.stop = make(chan struct{})
		go t.spin()
	}
	return t
}

// Close stops the spinner. It is safe to call more than once.
func (t *Terminal) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stop != nil {
		close(t.stop)
		t.stop = nil
		t.clearLine()
	}
}

// Begin implements Reporter.
func (t *Terminal) Begin(title string) Step {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := &termStep{t: t, title: title, start: time.Now()}
	t.active = append(t.active, s)
	return s
}

// Records returns the steps finished so far.
func (t *Terminal) Records() []Record {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Record(nil), t.records...)
}

// Summary writes the timing summary of every finished step and the wall time since start.
func (t *Terminal) Summary(start time.Time) {
	recs := t.Records()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.clearLine()
	fmt.Fprint(t.w, FormatSummary(recs, time.Since(start)))
}

// FormatSummary renders a timing summary: one line per step with its outcome and duration.
func FormatSummary(recs []Record, wall time.Duration) string {
	var b strings.Builder
	width := 0
	for _, r := range recs {
		width = max(width, len([]rune(r.Title)))
	}
	fmt.Fprintf(&b, "Timing (%d steps, %s wall):\n", len(recs), Round(wall))
	for _, r := range recs {
		note := ""
		switch r.Outcome {
		case Skipped:
			note = "  " + r.Note
		case Failed:
			note = "  failed"
		}
		fmt.Fprintf(&b, "  %s %-*s %8s%s\n", mark(r.Outcome), width, r.Title, Round(r.Duration), note)
	}
	return b.String()
}

// Round shortens a duration for people: tenths of a second below a minute, seconds above.
func Round(d time.Duration) time.Duration {
	if d < time.Minute {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}

func mark(o Outcome) string {
	switch o {
	case Failed:
		return "✗"
	case Skipped:
		return "-"
	default:
		return "✓"
	}
}

func (t *Terminal) spin() {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		t.mu.Lock()
		stop := t.stop
		t.mu.Unlock()
		if stop == nil {
			return
		}
		select {
		case <-stop:
			return
		case <-tick.C:
			t.mu.Lock()
			t.frame++
			t.draw()
			t.mu.Unlock()
		}
	}
}

// draw redraws the spinner line for the most recently begun active step. Callers hold t.mu.
func (t *Terminal) draw() {
	if !t.live || len(t.active) == 0 {
		return
	}
	s := t.active[len(t.active)-1]
	r := []rune(spinner)
	line := fmt.Sprintf(" %c %s", r[t.frame%len(r)], s.title)
	if s.status != "" {
		line += " — " + s.status
	}
	line += fmt.Sprintf(" (%s)", time.Since(s.start).Round(time.Second))
	fmt.Fprintf(t.w, "\r\x1b[K%s", line)
}

func (t *Terminal) clearLine() {
	if t.live {
		fmt.Fprint(t.w, "\r\x1b[K")
	}
}

type termStep struct {
	t           *Terminal
	title       string
	start       time.Time
	status      string
	lastPrinted time.Time
	printed     string
	ended       bool
	// flush prints the status when it becomes due (plain mode); stopped when the step ends.
	flush *time.Timer
}

func (s *termStep) Status(format string, args ...any) {
	t := s.t
	t.mu.Lock()
	defer t.mu.Unlock()
	s.status = sprintf(format, args...)
	if t.live || s.ended {
		return
	}
	s.printDue()
}

// printDue prints the step's status in plain mode when it is due — the first one at once, a
// changed one once the quiet period since the last line has passed, the same one again after
// the heartbeat — and otherwise arranges to be called again when it will be. Callers hold t.mu.
func (s *termStep) printDue() {
	t := s.t
	if s.status == "" {
		return
	}
	since := time.Since(s.lastPrinted)
	var wait time.Duration
	switch {
	case s.lastPrinted.IsZero():
	case s.status != s.printed && since < t.quietPeriod:
		wait = t.quietPeriod - since
	case s.status == s.printed && since < t.heartbeat:
		wait = t.heartbeat - since
	}
	if wait == 0 {
		if s.lastPrinted.IsZero() {
			// The • line waits for the first status, so work that is done at once (a cache
			// hit) prints one line, not two.
			fmt.Fprintf(t.w, " • %s ...\n", s.title)
		}
		s.lastPrinted, s.printed = time.Now(), s.status
		fmt.Fprintf(t.w, "   %s: %s (%s)\n", s.title, s.status, time.Since(s.start).Round(time.Second))
		wait = t.heartbeat
	}
	if s.flush != nil {
		s.flush.Stop()
	}
	s.flush = time.AfterFunc(wait, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if !s.ended {
			s.printDue()
		}
	})
}

func (s *termStep) Done(err error) error {
	if err != nil {
		s.end(Record{Outcome: Failed, Note: err.Error()}, fmt.Sprintf(" ✗ %s: %v", s.title, err))
		return err
	}
	s.end(Record{Outcome: Succeeded}, fmt.Sprintf(" ✓ %s (%s)", s.title, Round(time.Since(s.start))))
	return nil
}

func (s *termStep) Skip(reason string) {
	s.end(Record{Outcome: Skipped, Note: reason}, fmt.Sprintf(" ✓ %s (%s)", s.title, reason))
}

func (s *termStep) end(rec Record, line string) {
	t := s.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if s.ended {
		return
	}
	s.ended = true
	if s.flush != nil {
		s.flush.Stop()
	}
	rec.Title, rec.Duration = s.title, time.Since(s.start)
	t.records = append(t.records, rec)
	for i, a := range t.active {
		if a == s {
			t.active = append(t.active[:i], t.active[i+1:]...)
			break
		}
	}
	t.clearLine()
	fmt.Fprintln(t.w, line)
	t.draw()
}

func sprintf(format string, args ...any) string {
	if len(args) == 0 {
		return format
	}
	return fmt.Sprintf(format, args...)
}

// Add records work timed elsewhere (a subprocess that owns the terminal, such as go test) so it
// appears in the summary.
func (t *Terminal) Add(rec Record) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.records = append(t.records, rec)
}
