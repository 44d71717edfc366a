package sandbox

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDetachedRun runs the scripts sandbox:test uses in the pod with this machine's sh: a run
// started detached is followed to its end, from the start or from any byte (a dropped stream
// resumed), its exit code kept; a second start while it runs is refused; a run whose files are
// gone is reported as lost (exit code 3), not followed forever.
func TestDetachedRun(t *testing.T) {
	dir := t.TempDir()
	s := runScripts(dir)
	sh := func(script string, args ...string) (string, int) {
		out, err := exec.Command("/bin/sh", append([]string{"-c", script, "sh"}, args...)...).CombinedOutput()
		var exit *exec.ExitError
		if err != nil {
			require.ErrorAs(t, err, &exit, "%s", out)
			return string(out), exit.ExitCode()
		}
		return string(out), 0
	}
	gate := filepath.Join(dir, "gate")
	_, code := sh(s.start, "/bin/sh", "-c", `echo first; while [ ! -f "$1" ]; do sleep 0.1; done; echo second; exit 7`, "run", gate)
	require.Equal(t, 0, code)
	out, code := sh(s.start, "/bin/true")
	assert.Equal(t, 2, code, "a second run is refused while the first goes: %s", out)
	assert.Contains(t, out, "an e2e run is going in the pod already")
	require.NoError(t, exec.Command("touch", gate).Run())
	out, code = sh(s.follow, "0")
	require.Equal(t, 0, code, out)
	assert.Equal(t, "first\nsecond\n", out)
	out, code = sh(s.follow, "6")
	require.Equal(t, 0, code, out)
	assert.Equal(t, "second\n", out, "followed again from where a dropped stream stopped")
	rc, err := exec.Command("cat", filepath.Join(dir, runRC)).Output()
	require.NoError(t, err)
	assert.Equal(t, "7", strings.TrimSpace(string(rc)))

	require.NoError(t, exec.Command("rm", "-rf", filepath.Join(dir, "_out")).Run())
	_, code = sh(s.follow, "0")
	assert.Equal(t, 3, code, "a run whose files are gone is lost")
}
