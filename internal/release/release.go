// Package release is the repository's release record and the step that makes a release:
// release.json at the repository root names the last released version, and the commit that
// introduced that version there is where the upgrade lane (e2e:upgrade) starts by default.
//
// Prepare stamps a new version everywhere it is written — release.json, the installer and
// platform chart versions and the operator's version — editing only those bytes; committing is
// the releaser's step, and that commit becomes the next upgrade lane's starting point.
package release

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/cozylab/cozylab/internal/atomicfile"
	"github.com/cozylab/cozylab/internal/gitref"
)

// File is the release record, relative to the repository root.
const File = "release.json"

// Record is release.json.
type Record struct {
	// Version is the last released version, "v" and semver ("v0.1.0").
	Version string `json:"version"`
	// Note says what the file is for, for whoever opens it.
	Note string `json:"note,omitempty"`
}

const note = "The last release, written by `go run mage.go release:prepare VERSION`. The upgrade lane (go run mage.go e2e:upgrade) starts by default from the commit that introduced this version here."

// Load reads the release record of the repository at root.
func Load(root string) (Record, error) {
	return parse(filepath.Join(root, File), func() ([]byte, error) { return os.ReadFile(filepath.Join(root, File)) })
}

// LoadAt reads the release record of the repository at root as it was at rev.
func LoadAt(root, rev string) (Record, error) {
	return parse(File+" at "+rev, func() ([]byte, error) { return gitref.ReadFile(root, rev, File) })
}

func parse(what string, read func() ([]byte, error)) (Record, error) {
	raw, err := read()
	if err != nil {
		return Record{}, fmt.Errorf("read the release record %s: %w", what, err)
	}
	var r Record
	if err := json.Unmarshal(raw, &r); err != nil {
		return Record{}, fmt.Errorf("parse the release record %s: %w", what, err)
	}
	if _, err := Parse(r.Version); err != nil {
		return Record{}, fmt.Errorf("the release record %s: %w", what, err)
	}
	return r, nil
}

// Parse parses a release version: "v" followed by semver.
func Parse(v string) (*semver.Version, error) {
	if !strings.HasPrefix(v, "v") {
		return nil, fmt.Errorf("version %q: want v and a semantic version, such as v0.2.0", v)
	}
	sv, err := semver.StrictNewVersion(strings.TrimPrefix(v, "v"))
	if err != nil {
		return nil, fmt.Errorf("version %q: want v and a semantic version, such as v0.2.0: %w", v, err)
	}
	return sv, nil
}

// Commit is the commit that introduced the current record's version in release.json: the
// release itself.
func Commit(root string) (Record, gitref.Commit, error) {
	r, err := Load(root)
	if err != nil {
		return Record{}, gitref.Commit{}, err
	}
	c, err := gitref.Introduced(root, File, func(b []byte) bool {
		var at Record
		return json.Unmarshal(b, &at) == nil && at.Version == r.Version
	})
	if err != nil {
		return Record{}, gitref.Commit{}, fmt.Errorf("find the commit of release %s: %w (commit release.json after release:prepare)", r.Version, err)
	}
	c.Rev = r.Version
	return r, c, nil
}

// stamp is one place a version is written: a file and the pattern of its line, whose first
// group is kept and whose value is replaced.
type stamp struct {
	path string
	re   *regexp.Regexp
	// value turns the release version into what the file holds.
	value func(v string) string
}

func bare(v string) string   { return strings.TrimPrefix(v, "v") }
func quoted(v string) string { return `"` + bare(v) + `"` }
func goString(v string) string {
	return `"` + v + `"`
}

// Stamps are every place Prepare writes the version.
var stamps = []stamp{
	{"packages/core/installer/Chart.yaml", regexp.MustCompile(`(?m)^(version: ).*$`), bare},
	{"packages/core/installer/Chart.yaml", regexp.MustCompile(`(?m)^(appVersion: ).*$`), quoted},
	{"packages/core/platform/Chart.yaml", regexp.MustCompile(`(?m)^(version: ).*$`), bare},
	{"packages/core/platform/Chart.yaml", regexp.MustCompile(`(?m)^(appVersion: ).*$`), quoted},
	{"operator/version/version.go", regexp.MustCompile(`(?m)^(const Version = ).*$`), goString},
}

// Stamped is what Prepare changed: each file and its new line.
type Stamped struct{ Path, Line string }

// Prepare stamps version into the repository at root. It refuses a version that is not newer
// than the last release, and changes nothing unless every place can be stamped.
func Prepare(root, version string) ([]Stamped, error) {
	next, err := Parse(version)
	if err != nil {
		return nil, err
	}
	if last, err := Load(root); err == nil {
		prev, _ := Parse(last.Version)
		if !next.GreaterThan(prev) {
			return nil, fmt.Errorf("release %s is not newer than the last release %s (release.json)", version, last.Version)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	files := map[string][]byte{}
	var out []Stamped
	for _, s := range stamps {
		data, ok := files[s.path]
		if !ok {
			if data, err = os.ReadFile(filepath.Join(root, s.path)); err != nil {
				return nil, fmt.Errorf("stamp the version: %w", err)
			}
		}
		loc := s.re.FindSubmatchIndex(data)
		if loc == nil {
			return nil, fmt.Errorf("stamp the version: %s has no line matching %s", s.path, s.re)
		}
		line := string(data[loc[2]:loc[3]]) + s.value(version)
		data = append(append(bytes.Clone(data[:loc[0]]), line...), data[loc[1]:]...)
		files[s.path] = data
		out = append(out, Stamped{Path: s.path, Line: line})
	}
	rec, err := json.MarshalIndent(Record{Version: version, Note: note}, "", "  ")
	if err != nil {
		return nil, err
	}
	files[File] = append(rec, '\n')
	out = append(out, Stamped{Path: File, Line: `"version": "` + version + `"`})
	for path, data := range files {
		if err := atomicfile.WriteFile(filepath.Join(root, path), data, 0o644); err != nil {
			return nil, fmt.Errorf("stamp the version: %w", err)
		}
	}
	return out, nil
}
