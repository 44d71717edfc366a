// Package gitref reads commits of the repository a checkout belongs to, with go-git: resolve a
// revision, export a commit's tree into a directory (the working tree untouched), and find the
// commit where a file started to say something (the release that introduced a version).
package gitref

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Commit is a resolved revision.
type Commit struct {
	// Rev is the revision as asked for ("v0.1.0", "HEAD~3", a hash).
	Rev  string
	Hash plumbing.Hash
	// Subject is the first line of the commit message.
	Subject string
}

// Short is the abbreviated hash.
func (c Commit) Short() string { return c.Hash.String()[:7] }

func (c Commit) String() string {
	if c.Rev == c.Hash.String() || c.Rev == "" {
		return c.Short()
	}
	return fmt.Sprintf("%s (%s)", c.Rev, c.Short())
}

// open opens the repository that holds dir (dir or a parent holds .git).
func open(dir string) (*git.Repository, error) {
	r, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	if err != nil {
		return nil, fmt.Errorf("open the git repository of %s (the upgrade lane needs a clone with its history): %w", dir, err)
	}
	return r, nil
}

// Resolve resolves rev (a branch, tag, hash or an expression such as HEAD~2) in the repository
// holding dir.
func Resolve(dir, rev string) (Commit, error) {
	r, err := open(dir)
	if err != nil {
		return Commit{}, err
	}
	return resolve(r, rev)
}

func resolve(r *git.Repository, rev string) (Commit, error) {
	h, err := r.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		return Commit{}, fmt.Errorf("resolve %q in the repository (a branch, tag or commit of its history; a shallow clone lacks old commits: fetch with --unshallow): %w", rev, err)
	}
	c, err := r.CommitObject(*h)
	if err != nil {
		return Commit{}, fmt.Errorf("read commit %s: %w", h, err)
	}
	return Commit{Rev: rev, Hash: c.Hash, Subject: firstLine(c.Message)}, nil
}

func firstLine(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	return s
}

// Export writes the tree of rev into dest, which must not exist or be empty: regular files
// with their executable bit, symlinks as symlinks; submodules are refused. Nothing of the
// working tree is read or changed.
func Export(dir, rev, dest string) (Commit, error) {
	r, err := open(dir)
	if err != nil {
		return Commit{}, err
	}
	c, err := resolve(r, rev)
	if err != nil {
		return Commit{}, err
	}
	if entries, err := os.ReadDir(dest); err == nil && len(entries) > 0 {
		return Commit{}, fmt.Errorf("export %s into %s: the directory is not empty", c, dest)
	}
	commit, err := r.CommitObject(c.Hash)
	if err != nil {
		return Commit{}, fmt.Errorf("read commit %s: %w", c, err)
	}
	tree, err := commit.Tree()
	if err != nil {
		return Commit{}, fmt.Errorf("read the tree of %s: %w", c, err)
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return Commit{}, err
	}
	err = tree.Files().ForEach(func(f *object.File) error { return writeFile(dest, f) })
	if err != nil {
		return Commit{}, fmt.Errorf("export %s into %s: %w", c, dest, err)
	}
	return c, nil
}

func writeFile(dest string, f *object.File) error {
	path := filepath.Join(dest, filepath.FromSlash(f.Name))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	switch f.Mode {
	case filemode.Symlink:
		target, err := f.Contents()
		if err != nil {
			return fmt.Errorf("read %s: %w", f.Name, err)
		}
		return os.Symlink(target, path)
	case filemode.Submodule:
		return fmt.Errorf("%s is a submodule, which cannot be exported", f.Name)
	}
	perm := os.FileMode(0o644)
	if f.Mode == filemode.Executable {
		perm = 0o755
	}
	rd, err := f.Reader()
	if err != nil {
		return fmt.Errorf("read %s: %w", f.Name, err)
	}
	defer rd.Close()
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, rd)
	return errors.Join(err, out.Close())
}

// ReadFile reads path (slash-separated, from the repository root) at rev.
func ReadFile(dir, rev, path string) ([]byte, error) {
	r, err := open(dir)
	if err != nil {
		return nil, err
	}
	c, err := resolve(r, rev)
	if err != nil {
		return nil, err
	}
	return readAt(r, c.Hash, path)
}

func readAt(r *git.Repository, h plumbing.Hash, path string) ([]byte, error) {
	commit, err := r.CommitObject(h)
	if err != nil {
		return nil, err
	}
	f, err := commit.File(path)
	if err != nil {
		return nil, err
	}
	s, err := f.Contents()
	return []byte(s), err
}

// Introduced walks the first-parent history back from HEAD and returns the oldest commit of the
// run, starting at the newest commit where match holds for path's content, in which it held
// throughout: the commit that introduced what match looks for (a release's version line), as
// long as it was not removed and added again since. It fails when no commit matches.
func Introduced(dir, path string, match func([]byte) bool) (Commit, error) {
	r, err := open(dir)
	if err != nil {
		return Commit{}, err
	}
	head, err := r.Head()
	if err != nil {
		return Commit{}, fmt.Errorf("read HEAD: %w", err)
	}
	h := head.Hash()
	var found *object.Commit
	for {
		c, err := r.CommitObject(h)
		if err != nil {
			return Commit{}, fmt.Errorf("read commit %s: %w", h, err)
		}
		data, err := readAt(r, h, path)
		ok := err == nil && match(data)
		if ok {
			found = c
		} else if found != nil {
			break
		}
		if c.NumParents() == 0 {
			break
		}
		h = c.ParentHashes[0]
	}
	if found == nil {
		return Commit{}, fmt.Errorf("no commit of the history has the wanted %s", path)
	}
	return Commit{Rev: found.Hash.String(), Hash: found.Hash, Subject: firstLine(found.Message)}, nil
}
