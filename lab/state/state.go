// Package state keeps a lab's state on disk: one versioned JSON file in the lab's own
// directory, rewritten atomically (0600: it names secrets' paths and endpoints) after every
// step that succeeds, so an interrupted `lab:up` resumes where it stopped and `lab:down` works
// from the file alone, even after a partial failure.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"
)

// Version is the state file format; a file of another version is refused with what to do.
const Version = 1

// FileName is the state file inside the lab directory.
const FileName = "state.json"

var validName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$`)

// Lab is the persisted state of one lab.
type Lab struct {
	Version  int       `json:"version"`
	Name     string    `json:"name"`
	Provider string    `json:"provider"`
	Created  time.Time `json:"created"`
	// Steps records each finished step and when it finished.
	Steps map[string]time.Time `json:"steps,omitempty"`
	// Values are provider-specific facts (ports, pids, subnet, kubeconfig path), by key.
	Values map[string]string `json:"values,omitempty"`
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

// Open loads the lab named name under root, or starts a new state for provider when there is
// none. A lab that exists with another provider is refused, naming the command that removes it.
func Open(root, name, provider string) (*Store, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	s := &Store{dir: filepath.Join(root, name)}
	raw, err := os.ReadFile(s.path())
	switch {
	case errors.Is(err, os.ErrNotExist):
		s.lab = Lab{Version: Version, Name: name, Provider: provider, Created: time.Now().UTC()}
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("read lab state %s: %w", s.path(), err)
	}
	if err := json.Unmarshal(raw, &s.lab); err != nil {
		return nil, fmt.Errorf("read lab state %s: %w (remove the directory %s to start over)", s.path(), err, s.dir)
	}
	if s.lab.Version != Version {
		return nil, fmt.Errorf("lab %s has state version %d, this cozylab reads %d: run `go run mage.go lab:down` with the cozylab that created it, or remove %s",
			name, s.lab.Version, Version, s.dir)
	}
	if provider != "" && s.lab.Provider != provider {
		return nil, fmt.Errorf("lab %s exists with provider %s, not %s: run `LAB_NAME=%s go run mage.go lab:down` first", name, s.lab.Provider, provider, name)
	}
	return s, nil
}

// Dir is the lab's directory (logs, credentials, data).
func (s *Store) Dir() string { return s.dir }

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
	l.Values = clone(s.lab.Values)
	return l
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

// Undo forgets step (its effect was torn down) and saves.
func (s *Store) Undo(step string) error {
	return s.update(func(l *Lab) { delete(l.Steps, step) })
}

// Value returns a provider fact.
func (s *Store) Value(key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lab.Values[key]
}

// Set records provider facts and saves.
func (s *Store) Set(kv map[string]string) error {
	return s.update(func(l *Lab) {
		if l.Values == nil {
			l.Values = map[string]string{}
		}
		for k, v := range kv {
			l.Values[k] = v
		}
	})
}

func (s *Store) update(fn func(*Lab)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(&s.lab)
	return s.save()
}

// save writes the state atomically: a temporary file, then a rename.
func (s *Store) save() error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("create lab directory %s: %w", s.dir, err)
	}
	raw, err := json.MarshalIndent(s.lab, "", "  ")
	if err != nil {
		return fmt.Errorf("encode lab state: %w", err)
	}
	tmp := s.path() + ".tmp"
	if err := os.WriteFile(tmp, append(raw, '\n'), 0o600); err != nil {
		return fmt.Errorf("write lab state %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, s.path()); err != nil {
		return errors.Join(fmt.Errorf("write lab state %s: %w", s.path(), err), os.Remove(tmp))
	}
	return nil
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
