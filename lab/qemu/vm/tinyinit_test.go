package vm

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/cavaliergopher/cpio"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tiny init runs on the host as well: it prints the marker and pauses until killed.
func TestTinyInitPrintsMarkerAndStaysAlive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "init")
	require.NoError(t, os.WriteFile(path, TinyInit(), 0o755))
	cmd := exec.Command(path)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, UserspaceMarker+"\n", line)
	assert.Nil(t, cmd.ProcessState, "still running after printing")
	require.NoError(t, cmd.Process.Kill())
	err = cmd.Wait()
	var exitErr *exec.ExitError
	require.ErrorAs(t, err, &exitErr)
	assert.False(t, exitErr.Exited(), "ended by our signal, not by itself")
}

func TestTinyInitramfsHoldsExecutableInit(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteTinyInitramfs(&buf))
	r := cpio.NewReader(&buf)
	hdr, err := r.Next()
	require.NoError(t, err)
	assert.Equal(t, "init", hdr.Name)
	assert.Equal(t, cpio.FileMode(0o755), hdr.Mode.Perm())
	assert.True(t, hdr.Mode.IsRegular())
	body, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Equal(t, TinyInit(), body)
	_, err = r.Next()
	assert.ErrorIs(t, err, io.EOF)
}
