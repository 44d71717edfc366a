//go:build integration

package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/internal/command"
	"github.com/cozylab/cozylab/internal/controlplane/cptest"
)

// freeAddr returns a loopback address with a port nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// withAddrs replaces the listen addresses of the Flux Deployment's args with free ones: the pod
// runs on the host network, and other tests or a lab may hold its ports here.
func withAddrs(args []string, metrics, health, storage string) []string {
	out := make([]string, 0, len(args))
	for _, a := range args {
		switch {
		case strings.HasPrefix(a, "--metrics-addr="):
			a = "--metrics-addr=" + metrics
		case strings.HasPrefix(a, "--health-addr="):
			a = "--health-addr=" + health
		case strings.HasPrefix(a, "--storage-addr="):
			a = "--storage-addr=" + storage
		}
		out = append(out, a)
	}
	return out
}

// status is the HTTP status of a GET of url, or 0 when nothing answered within a second.
func status(url string) int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestBinaryRunsWithTheFluxDeploymentArgs runs the built command as the Flux pod would — its
// args from the platform's Flux Deployment — against a real API server with the Flux CRDs, and
// checks it becomes ready, serves artifacts on loopback and stops cleanly on SIGTERM.
func TestBinaryRunsWithTheFluxDeploymentArgs(t *testing.T) {
	cp := cptest.Start(t)
	cptest.InstallCRDFiles(t, cp.RESTConfig(), "../../../packages/core/flux-aio/crds/*.yaml")

	dir := t.TempDir()
	bin := filepath.Join(dir, "source-watcher")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	_, err := command.Run(build)
	require.NoError(t, err)

	metrics, health, storage := freeAddr(t), freeAddr(t), freeAddr(t)
	args := append(withAddrs(fluxArgs(t), metrics, health, storage),
		"--storage-path="+filepath.Join(dir, "storage"), "--kubeconfig="+cp.Kubeconfig)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "RUNTIME_NAMESPACE=cozy-fluxcd")
	logFile, err := os.Create(filepath.Join(dir, "source-watcher.log"))
	require.NoError(t, err)
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill() // the test failed before stopping it; it may be gone already
			<-exited
		}
		if log, err := os.ReadFile(logFile.Name()); t.Failed() && err == nil {
			t.Logf("source-watcher log:\n%s", log)
		}
	})

	require.Eventually(t, func() bool { return status("http://"+health+"/readyz") == http.StatusOK },
		30*time.Second, 100*time.Millisecond, "source-watcher /readyz on %s", health)
	assert.Equal(t, http.StatusOK, status("http://"+health+"/healthz"))
	// The artifact server is a manager runnable: it serves once the manager's caches synced.
	require.Eventually(t, func() bool { return status("http://"+storage+"/cozy-fluxcd/none/none/0.tar.gz") == http.StatusNotFound },
		30*time.Second, 100*time.Millisecond, "the artifact server on %s answers, and only for stored artifacts", storage)

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	select {
	case err := <-exited:
		require.NoError(t, err, "source-watcher exits 0 on SIGTERM")
	case <-ctx.Done():
		t.Fatal("source-watcher did not exit within 30s of SIGTERM")
	}
}
