package login

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

func kubeconfig(t *testing.T) string {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["lab"] = &clientcmdapi.Cluster{Server: "https://10.213.0.1:6443"}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: "secret"}
	cfg.Contexts["lab"] = &clientcmdapi.Context{Cluster: "lab", AuthInfo: "admin"}
	cfg.CurrentContext = "lab"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*cfg, path))
	return path
}

func dial(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}

// TestShellEnvironment: the shell gets a private kubeconfig whose clusters go through the
// login's proxy (at the address asked for), the proxy variables, and its exit code is
// returned; the directory is gone afterwards.
func TestShellEnvironment(t *testing.T) {
	var out strings.Builder
	code, err := Run(t.Context(), Options{
		Lab: "unit", Kubeconfig: kubeconfig(t), Server: "https://kubernetes.default.svc", Dial: dial, Shell: "/bin/sh",
		Command: `echo "dir=$(dirname "$KUBECONFIG") mode=$(stat -c %a "$KUBECONFIG") all=$ALL_PROXY https=$HTTPS_PROXY lab=$COZYLAB_LAB"; cat "$KUBECONFIG"; exit 5`,
		Stdout:  &out, Stderr: &out,
	})
	require.NoError(t, err)
	assert.Equal(t, 5, code, out.String())
	s := out.String()
	assert.Contains(t, s, "mode=600")
	assert.Regexp(t, `all=socks5h://127\.0\.0\.1:\d+ https=http://127\.0\.0\.1:\d+ lab=unit`, s)
	assert.Regexp(t, `proxy-url: socks5://127\.0\.0\.1:\d+`, s)
	assert.Contains(t, s, "server: https://kubernetes.default.svc")
	assert.Contains(t, s, "token: secret", "the credentials come along")
	dir := strings.Fields(strings.SplitN(s, "dir=", 2)[1])[0]
	assert.NoDirExists(t, dir, "removed when the shell exits")
}

// TestBashPromptNamesTheLab: an interactive bash reads the user's rc files, then the login puts
// the lab's name in front of the prompt.
func TestBashPromptNamesTheLab(t *testing.T) {
	if _, err := os.Stat("/bin/bash"); err != nil {
		t.Fatalf("bash is missing: apt-get install bash")
	}
	t.Setenv("HOME", t.TempDir())
	require.NoError(t, os.WriteFile(filepath.Join(os.Getenv("HOME"), ".bashrc"), []byte(`PS1='user> '`+"\n"), 0o644))
	var out strings.Builder
	code, err := Run(t.Context(), Options{Lab: "unit", Kubeconfig: kubeconfig(t), Dial: dial, Shell: "/bin/bash",
		Stdin: strings.NewReader("echo \"prompt=[$PS1]\"\nexit 0\n"), Stdout: &out, Stderr: &out})
	require.NoError(t, err)
	assert.Equal(t, 0, code)
	assert.Contains(t, out.String(), "prompt=[(cozylab:unit) user> ]")
}

func TestMissingKubeconfig(t *testing.T) {
	_, err := Run(t.Context(), Options{Lab: "unit", Kubeconfig: filepath.Join(t.TempDir(), "none"), Dial: dial, Shell: "/bin/sh", Command: "true"})
	assert.ErrorContains(t, err, "read the lab's kubeconfig")
}
