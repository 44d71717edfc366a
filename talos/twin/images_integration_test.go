//go:build integration

package twin_test

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
	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/cozylab/cozylab/internal/condition"
	"github.com/cozylab/cozylab/internal/nodeconfig"
	"github.com/cozylab/cozylab/talos/twin"
)

// startContainerd runs Debian's containerd with the configuration a twin gives its own, whose
// registry mirror for ghcr.io is mirror, until the test ends; it returns the CRI.
func startContainerd(t *testing.T, mirror string) twin.CRI {
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

// An image pulled through a twin's ImageService lands in its containerd's CRI, fetched through
// the node's registry mirror, and is listed there; a pull of an image the mirror lacks fails
// naming it.
func TestImageServicePullsThroughTheMirror(t *testing.T) {
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)

	host := strings.TrimPrefix(reg.URL, "http://")
	img, err := random.Image(4096, 2)
	require.NoError(t, err)
	ref, err := name.ParseReference(host + "/cozylab/probe:v1")
	require.NoError(t, err)
	require.NoError(t, remote.Write(ref, img))
	cfgDigest, err := img.ConfigName()
	require.NoError(t, err)

	cl := newCluster(t)
	_, addr := startTwin(t, imageNode{twin.NewMemoryNode("cp-1"), startContainerd(t, reg.URL)}, cl.Config)
	c := secureClient(t, cl.Talosconfig, addr)

	names, err := pullImage(t, c, criNamespace, "ghcr.io/cozylab/probe:v1")
	require.NoError(t, err)
	assert.Equal(t, []string{"ghcr.io/cozylab/probe:v1"}, names)

	stream, err := c.ImageClient.List(callCtx(t), &machine.ImageServiceListRequest{Containerd: criNamespace})
	require.NoError(t, err)
	listed, err := recvAll(stream, func(m *machine.ImageServiceListResponse) string { return m.GetName() + " " + m.GetDigest() })
	require.NoError(t, err)
	assert.Contains(t, listed, "ghcr.io/cozylab/probe:v1 "+cfgDigest.String())

	_, err = pullImage(t, c, criNamespace, "ghcr.io/cozylab/absent:v1")
	requireCode(t, codes.NotFound, err)
	assert.Contains(t, err.Error(), "ghcr.io/cozylab/absent:v1")
}
