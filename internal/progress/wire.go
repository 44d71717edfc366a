package progress

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Event is one line of the wire format a child process reports its steps in, so its parent
// shows them as its own (the lab daemon reports lab:up this way).
type Event struct {
	// Kind is begin, status, done, skip, or a kind of the caller's (such as ready).
	Kind string `json:"kind"`
	// Step numbers the steps of one stream.
	Step  int    `json:"step,omitempty"`
	Text  string `json:"text,omitempty"`
	Error string `json:"error,omitempty"`
}

// Event kinds of steps.
const (
	EventBegin  = "begin"
	EventStatus = "status"
	EventDone   = "done"
	EventSkip   = "skip"
)

// Wire is a Reporter that writes every step event as one JSON line to w.
type Wire struct {
	mu   sync.Mutex
	enc  *json.Encoder
	next int
}

// NewWire reports to w.
func NewWire(w io.Writer) *Wire { return &Wire{enc: json.NewEncoder(w)} }

// Begin implements Reporter.
func (w *Wire) Begin(title string) Step {
	w.mu.Lock()
	w.next++
	id := w.next
	w.mu.Unlock()
	w.Send(Event{Kind: EventBegin, Step: id, Text: title})
	return &wireStep{w: w, id: id}
}

// Send writes one event; write errors are dropped (the reader is gone, nobody can see them).
func (w *Wire) Send(ev Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = w.enc.Encode(ev)
}

type wireStep struct {
	w  *Wire
	id int
}

func (s *wireStep) Status(format string, args ...any) {
	s.w.Send(Event{Kind: EventStatus, Step: s.id, Text: sprintf(format, args...)})
}

func (s *wireStep) Done(err error) error {
	ev := Event{Kind: EventDone, Step: s.id}
	if err != nil {
		ev.Error = err.Error()
	}
	s.w.Send(ev)
	return err
}

func (s *wireStep) Skip(reason string) { s.w.Send(Event{Kind: EventSkip, Step: s.id, Text: reason}) }

// Replay reads events from r and shows the step events on rep. It calls other for every event
// of another kind and stops when other returns true, at EOF, or on a line that is not an
// event. Steps left open end as failed with "interrupted" so no spinner stays behind.
func Replay(r io.Reader, rep Reporter, other func(Event) bool) error {
	steps := map[int]Step{}
	defer func() {
		for _, s := range steps {
			s.Done(errors.New("interrupted"))
		}
	}()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("read progress event %q: %w", sc.Text(), err)
		}
		if replayOne(ev, rep, steps) {
			continue
		}
		if other != nil && other(ev) {
			return nil
		}
	}
	return sc.Err()
}

// replayOne applies a step event and reports whether ev was one.
func replayOne(ev Event, rep Reporter, steps map[int]Step) bool {
	switch ev.Kind {
	case EventBegin:
		steps[ev.Step] = rep.Begin(ev.Text)
	case EventStatus:
		if s := steps[ev.Step]; s != nil {
			s.Status("%s", ev.Text)
		}
	case EventDone:
		if s := steps[ev.Step]; s != nil {
			var err error
			if ev.Error != "" {
				err = errors.New(ev.Error)
			}
			s.Done(err)
			delete(steps, ev.Step)
		}
	case EventSkip:
		if s := steps[ev.Step]; s != nil {
			s.Skip(ev.Text)
			delete(steps, ev.Step)
		}
	default:
		return false
	}
	return true
}
