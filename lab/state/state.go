// Package state keeps a lab's state on disk: one versioned JSON file in the lab's own
// directory, rewritten atomically (0600: it names secrets' paths and endpoints) after every
// action that succeeds. It holds the lab's Request (decided once, at the edge), the daemon
// that runs the lab, the actions done, and the provider's own facts as typed JSON, so an
// interrupted `lab:up` resumes where it stopped and `lab:down` works from the file alone.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/cozylab/cozylab/internal/atomicfile"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"
)

// Version is the state file format; a file of another version is refused with what to do.
const Version = 2

// FileName is the state file inside the lab directory.
const FileName = "state.json"

var validName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$`)

// Lab is the persisted state of one lab.
type Lab struct {
	Version int       `json:"version"`
	Request Request   `json:"request"`
	Created time.Time `json:"created"`
	// Daemon is the process that runs the lab, once it started.
	Daemon *Daemon `json:"daemon,omitempty"`
	// Steps records each finished action and when it finished.
	Steps map[string]time.Time `json:"steps,omitempty"`
	// Facts is the provider's own record (addresses, network plan, images), typed by the
	// provider: see LoadFacts and UpdateFacts.
	Facts json.RawMessage `json:"facts,omitempty"`
}

// Daemon identifies the lab's daemon process: a pid and its start time, so a recycled pid is
// never taken for it.
type Daemon struct {
	Pid   int    `json:"pid"`
	Start uint64 `json:"start"`
}

// Store reads and writes one lab's state. It is safe for concurrent use.
type Store struct {
	dir string
	mu  sync.Mutex
	lab Lab
}

// Root is $XDG_STATE_HOME/cozylab/labs, or ~/.local/state/cozylab/labs.
func Root() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "cozylab", "labs"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the state directory (set XDG_STATE_HOME or HOME): %w", err)
	}
	return filepath.Join(home, ".local", "state", "cozylab", "labs"), nil
}

// ValidateName checks a lab name: lower-case letters, digits and dashes, at most 32 characters
// (it names network interfaces and directories).
func ValidateName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("lab name %q: use 1-32 lower-case letters, digits and dashes, starting and ending with a letter or digit", name)
	}
	return nil
}

// Open loads the lab named name under root. A lab that was never saved has a zero Request and
// Exists reports false.
func Open(root, name string) (*Store, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	if root == "" {
		return nil, errors.New("open lab state: no state root given")
	}
	s := &Store{dir: filepath.Join(root, name)}
	raw, err := os.ReadFile(s.path())
	switch {
	case errors.Is(err, os.ErrNotExist):
		s.lab = Lab{Version: Version, Request: Request{Name: name}}
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("read lab state %s: %w", s.path(), err)
	}
	var probe struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, fmt.Errorf("read lab state %s: %w (remove the directory %s to start over)", s.path(), err, s.dir)
	}
	if probe.Version != Version {
		return nil, fmt.Errorf("lab %s has state version %d, this cozylab reads %d: run `LAB_NAME=%s go run mage.go lab:down` with the cozylab that created it, or remove %s",
			name, probe.Version, Version, name, s.dir)
	}
	if err := json.Unmarshal(raw, &s.lab); err != nil {
		return nil, fmt.Errorf("read lab state %s: %w (remove the directory %s to start over)", s.path(), err, s.dir)
	}
	return s, nil
}

// Create saves a new state for req, or checks that the existing one was made for the same
// provider: a lab never changes provider (a different one is refused, naming the command that
// removes the lab). The stored request is then replaced by req, whose Name must match.
func Create(root string, req Request) (*Store, error) {
	s, err := Open(root, req.Name)
	if err != nil {
		return nil, err
	}
	if s.Exists() && s.lab.Request.Provider != req.Provider {
		return nil, fmt.Errorf("lab %s exists with provider %s, not %s: run `LAB_NAME=%s go run mage.go lab:down` first",
			req.Name, s.lab.Request.Provider, req.Provider, req.Name)
	}
	return s, s.update(func(l *Lab) {
		if l.Created.IsZero() {
			l.Created = time.Now().UTC()
		}
		l.Request = req
	})
}

// Dir is the lab's directory (logs, credentials, data).
func (s *Store) Dir() string { return s.dir }

// Root is the state root the lab's directory is in.
func (s *Store) Root() string { return filepath.Dir(s.dir) }

func (s *Store) path() string { return filepath.Join(s.dir, FileName) }

// Exists reports whether the state was ever saved.
func (s *Store) Exists() bool {
	_, err := os.Stat(s.path())
	return err == nil
}

// Lab returns a copy of the state.
func (s *Store) Lab() Lab {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.lab
	l.Steps = clone(s.lab.Steps)
	l.Facts = append(json.RawMessage(nil), s.lab.Facts...)
	if s.lab.Daemon != nil {
		d := *s.lab.Daemon
		l.Daemon = &d
	}
	return l
}

// Request is the lab's request as saved.
func (s *Store) Request() Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lab.Request
}

// Done reports whether step finished in an earlier run or this one.
func (s *Store) Done(step string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.lab.Steps[step]
	return ok
}

// MarkDone records step as finished and saves.
func (s *Store) MarkDone(step string) error {
	return s.update(func(l *Lab) {
		if l.Steps == nil {
			l.Steps = map[string]time.Time{}
		}
		l.Steps[step] = time.Now().UTC()
	})
}

// Undo forgets steps (their effect is gone or must be made again) and saves.
func (s *Store) Undo(steps ...string) error {
	return s.update(func(l *Lab) {
		for _, step := range steps {
			delete(l.Steps, step)
		}
	})
}

// SetDaemon records the lab's daemon (nil: none) and saves.
func (s *Store) SetDaemon(d *Daemon) error {
	return s.update(func(l *Lab) { l.Daemon = d })
}

// LoadFacts decodes the provider's facts into a value of type F; a lab with none gives F's
// zero value.
func LoadFacts[F any](s *Store) (F, error) {
	var f F
	s.mu.Lock()
	raw := s.lab.Facts
	s.mu.Unlock()
	if len(raw) == 0 {
		return f, nil
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return f, fmt.Errorf("read the facts of lab %s: %w", filepath.Base(s.dir), err)
	}
	return f, nil
}

// UpdateFacts changes the provider's facts with fn and saves.
func UpdateFacts[F any](s *Store, fn func(*F)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var f F
	if len(s.lab.Facts) > 0 {
		if err := json.Unmarshal(s.lab.Facts, &f); err != nil {
			return fmt.Errorf("read the facts of lab %s: %w", filepath.Base(s.dir), err)
		}
	}
	fn(&f)
	raw, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode the facts of lab %s: %w", filepath.Base(s.dir), err)
	}
	s.lab.Facts = raw
	return s.save()
}

func (s *Store) update(fn func(*Lab)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(&s.lab)
	return s.save()
}

// save writes the state atomically, so a kill mid-save leaves the previous state.
func (s *Store) save() error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("create lab directory %s: %w", s.dir, err)
	}
	raw, err := json.MarshalIndent(s.lab, "", "  ")
	if err != nil {
		return fmt.Errorf("encode lab state: %w", err)
	}
	return atomicfile.WriteFile(s.path(), append(raw, '\n'), 0o600)
}

// Remove deletes the lab directory with its state: the last step of a teardown.
func (s *Store) Remove() error {
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("remove lab directory %s: %w", s.dir, err)
	}
	return nil
}

// List returns the names of the labs under root.
func List(root string) ([]string, error) {
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("list labs in %s: %w", root, err)
	}
	var out []string
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(root, e.Name(), FileName)); e.IsDir() && err == nil {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

func clone[V any](m map[string]V) map[string]V {
	if m == nil {
		return nil
	}
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
