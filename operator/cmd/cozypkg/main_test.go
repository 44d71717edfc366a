package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// runCLI runs cozypkg with args and input and returns its exit code, stdout and stderr.
func runCLI(t *testing.T, input string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, strings.NewReader(input), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestHelpDescribesEveryFlag(t *testing.T) {
	tests := []struct {
		args  []string
		flags []string
	}{
		{args: []string{"--help"}, flags: []string{"A CLI for managing Cozystack packages", "--version", "list", "add", "del", "dot"}},
		{args: []string{"list", "--help"}, flags: []string{"-i, --installed", "--components", "--kubeconfig string"}},
		{args: []string{"add", "--help"}, flags: []string{"add [package]...", "-f, --file stringArray", "--kubeconfig string"}},
		{args: []string{"del", "--help"}, flags: []string{"del [package]...", "-f, --file stringArray", "--kubeconfig string"}},
		{args: []string{"dot", "--help"}, flags: []string{"dot [package]...", "-i, --installed", "--components", "-f, --file stringArray", "--kubeconfig string", "dot -Tpng"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "", tt.args...)
			assert.Equal(t, 0, code)
			assert.Empty(t, stderr)
			for _, f := range tt.flags {
				assert.Contains(t, stdout, f)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := runCLI(t, "", "--version")
	assert.Equal(t, 0, code)
	assert.Equal(t, "cozypkg version dev\n", stdout)
}

func TestBadInvocationsExitNonZero(t *testing.T) {
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "absent"))
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	missing := filepath.Join(t.TempDir(), "missing-kubeconfig")
	tests := []struct {
		args []string
		err  string
	}{
		{args: []string{"list", "--bogus"}, err: "unknown flag: --bogus"},
		{args: []string{"dot", "-x"}, err: "unknown shorthand flag: 'x' in -x"},
		{args: []string{"list", "--installed=maybe"}, err: `invalid argument "maybe" for "-i, --installed" flag`},
		{args: []string{"add", "--file"}, err: "flag needs an argument: --file"},
		{args: []string{"list", "extra"}, err: `unknown command "extra" for "cozypkg list"`},
		{args: []string{"frobnicate"}, err: `unknown command "frobnicate" for "cozypkg"`},
		{args: []string{"list", "--kubeconfig", missing}, err: "load kubeconfig " + missing + ":"},
		{args: []string{"list"}, err: "load kubeconfig (pass --kubeconfig or set KUBECONFIG):"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "", tt.args...)
			assert.Equal(t, 1, code)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, tt.err)
			assert.Equal(t, 1, strings.Count(stderr, tt.err), "printed once: %q", stderr)
		})
	}
}
