package twintest

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/internal/condition"
	"github.com/cozylab/cozylab/internal/nodeconfig"
	"github.com/cozylab/cozylab/talos/twin"
)

// Registry serves an in-memory registry until the test ends and returns its URL.
func Registry(t *testing.T) string {
	t.Helper()

	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)

	return reg.URL
}

// PushRandom pushes a small random image to the registry at url as repoTag (path:tag) and
// returns its ID (config digest), as a CRI reports it.
func PushRandom(t *testing.T, url, repoTag string) string {
	t.Helper()

	img, err := random.Image(4096, 2)
	require.NoError(t, err)
	ref, err := name.ParseReference(strings.TrimPrefix(url, "http://") + "/" + repoTag)
	require.NoError(t, err)
	require.NoError(t, remote.Write(ref, img))
	id, err := img.ConfigName()
	require.NoError(t, err)

	return id.String()
}

// Containerd runs Debian's containerd with the configuration a twin gives its own, whose
// registry mirror for ghcr.io is mirror, until the test ends; it returns the CRI.
func Containerd(t *testing.T, mirror string) twin.CRI {
	t.Helper()

	if _, err := os.Stat("/usr/bin/containerd"); err != nil {
		t.Fatalf("no containerd: install it with `apt-get install -y containerd runc`")
	}

	if os.Geteuid() != 0 {
		t.Fatalf("containerd needs root: run the tests as root")
	}

	dir, err := os.MkdirTemp("", "twcri") // short: the socket path must fit 108 bytes
	require.NoError(t, err)

	p := nodeconfig.PathsIn(dir, "/usr/lib/cni")
	cfg, err := nodeconfig.Containerd(p, nodeconfig.Node{Name: "cp-1", PauseImage: twin.PauseImage})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p.ContainerdConfig, cfg, 0o600))
	require.NoError(t, os.MkdirAll(filepath.Join(p.CertsDir, "ghcr.io"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(p.CertsDir, "ghcr.io", "hosts.toml"), nodeconfig.HostsTOML(mirror), 0o600))

	log, err := os.Create(filepath.Join(dir, "containerd.log"))
	require.NoError(t, err)

	cmd := exec.Command("/usr/bin/containerd", "--config", p.ContainerdConfig)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = log.Close()
		if t.Failed() {
			out, _ := os.ReadFile(log.Name())
			t.Logf("containerd log:\n%s", out)
		}
		assert.NoError(t, os.RemoveAll(dir))
	})

	cri := twin.CRI{Socket: p.Socket}
	answers := condition.Condition{Name: "containerd's CRI answers", Check: func(ctx context.Context) error {
		_, err := cri.ListImages(ctx)
		return err
	}}
	require.NoError(t, condition.Wait(t.Context(), answers, condition.Poll{Interval: 100 * time.Millisecond, Timeout: time.Minute, AttemptTimeout: 5 * time.Second}, nil))

	return cri
}
