package gitref

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// repo makes a repository in a temporary directory and returns it with a commit function that
// writes files (path → content; "" removes) and commits them.
func repo(t *testing.T) (string, func(msg string, files map[string]string) string) {
	dir := t.TempDir()
	r, err := git.PlainInit(dir, false)
	require.NoError(t, err)
	wt, err := r.Worktree()
	require.NoError(t, err)
	when := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return dir, func(msg string, files map[string]string) string {
		for p, content := range files {
			full := filepath.Join(dir, p)
			if content == "" {
				require.NoError(t, os.Remove(full))
				continue
			}
			require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
			mode := os.FileMode(0o644)
			if strings.HasSuffix(p, ".sh") {
				mode = 0o755
			}
			require.NoError(t, os.WriteFile(full, []byte(content), mode))
		}
		require.NoError(t, wt.AddWithOptions(&git.AddOptions{All: true}))
		when = when.Add(time.Hour)
		h, err := wt.Commit(msg, &git.CommitOptions{Author: &object.Signature{Name: "t", Email: "t@example.com", When: when}})
		require.NoError(t, err)
		return h.String()
	}
}

func TestExportWritesTheCommitsTreeAndLeavesTheWorkingTree(t *testing.T) {
	dir, commit := repo(t)
	require.NoError(t, os.Symlink("a.txt", filepath.Join(dir, "link")))
	first := commit("first", map[string]string{"a.txt": "one\n", "bin/run.sh": "#!/bin/sh\n"})
	commit("second", map[string]string{"a.txt": "two\n", "b.txt": "new\n"})

	dest := filepath.Join(t.TempDir(), "old")
	c, err := Export(dir, first, dest)
	require.NoError(t, err)
	assert.Equal(t, first, c.Hash.String())
	assert.Equal(t, "first", c.Subject)
	got, err := os.ReadFile(filepath.Join(dest, "a.txt"))
	require.NoError(t, err)
	assert.Equal(t, "one\n", string(got))
	assert.NoFileExists(t, filepath.Join(dest, "b.txt"), "a later commit's file")
	link, err := os.Readlink(filepath.Join(dest, "link"))
	require.NoError(t, err)
	assert.Equal(t, "a.txt", link, "a symlink stays a symlink")
	st, err := os.Stat(filepath.Join(dest, "bin", "run.sh"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o755), st.Mode().Perm(), "the executable bit is kept")
	now, err := os.ReadFile(filepath.Join(dir, "a.txt"))
	require.NoError(t, err)
	assert.Equal(t, "two\n", string(now), "the working tree is untouched")

	second, err := Export(dir, "HEAD", filepath.Join(t.TempDir(), "new"))
	require.NoError(t, err)
	assert.Equal(t, "second", second.Subject)

	_, err = Export(dir, "HEAD", dest)
	assert.ErrorContains(t, err, "is not empty")
	_, err = Resolve(dir, "no-such-tag")
	assert.ErrorContains(t, err, `resolve "no-such-tag"`)
}

func TestIntroducedFindsTheReleaseCommit(t *testing.T) {
	dir, commit := repo(t)
	commit("start", map[string]string{"release.json": `{"version":"v0.1.0"}`})
	release := commit("release v0.2.0", map[string]string{"release.json": `{"version":"v0.2.0"}`})
	commit("work", map[string]string{"code.go": "package x\n"})
	commit("more work", map[string]string{"code.go": "package y\n"})

	is := func(v string) func([]byte) bool {
		return func(b []byte) bool { return strings.Contains(string(b), `"version":"`+v+`"`) }
	}
	c, err := Introduced(dir, "release.json", is("v0.2.0"))
	require.NoError(t, err)
	assert.Equal(t, release, c.Hash.String(), "the commit that made the release, not a later one")
	assert.Equal(t, "release v0.2.0", c.Subject)
	_, err = Introduced(dir, "release.json", is("v9"))
	assert.ErrorContains(t, err, "no commit of the history")

	data, err := ReadFile(dir, release+"~1", "release.json")
	require.NoError(t, err)
	assert.JSONEq(t, `{"version":"v0.1.0"}`, string(data))
}
