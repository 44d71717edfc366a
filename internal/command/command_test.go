package command

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunSuccessReturnsOutput(t *testing.T) {
	out, err := Run(exec.Command("sh", "-c", "echo hello; echo world >&2"))
	require.NoError(t, err)
	assert.Equal(t, "hello\nworld\n", string(out))
}

func TestRunFailureCarriesArgvExitCodeAndTail(t *testing.T) {
	script := "for i in $(seq 1 50); do echo line$i; done; exit 7"
	_, err := Run(exec.Command("sh", "-c", script))
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, []string{"sh", "-c", script}, e.Argv)
	assert.Equal(t, 7, e.ExitCode)
	lines := strings.Split(e.Tail, "\n")
	assert.Len(t, lines, TailLines)
	assert.Equal(t, "line50", lines[len(lines)-1])
	assert.Equal(t, "line21", lines[0])
	assert.Contains(t, err.Error(), "exit status 7\n    line21\n")
}

func TestRunMissingProgram(t *testing.T) {
	_, err := Run(exec.Command("/nonexistent/program", "--flag"))
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, -1, e.ExitCode)
	assert.True(t, errors.Is(err, e.Err))
	assert.Contains(t, err.Error(), "run /nonexistent/program --flag: ")
	assert.Contains(t, err.Error(), "no such file or directory")
}

func TestTail(t *testing.T) {
	assert.Equal(t, "b\nc", Tail("a\nb\nc\n", 2))
	assert.Equal(t, "a", Tail("a", 5))
}
