package local

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/cozylab/cozylab/internal/atomicfile"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/cozylab/cozylab/internal/process"
)

// Where the installer chart puts the operator.
const (
	OperatorNamespace  = "cozy-system"
	OperatorDeployment = "cozystack-operator"
)

// operatorProcess is what runs the operator's container on this provider: the binary of its
// image, pulled from the lab registry, run as a local process with the container's arguments
// and environment. The Deployment itself lands on a kwok node, where nothing runs.
type operatorProcess struct {
	Key  string // changes when the image, arguments or environment change
	Spec process.Spec
}

// operatorSpec derives the process from the Deployment: the container's image is pulled and
// its entrypoint extracted into dir; the arguments are the container's, with a kubeconfig
// (the process is outside the cluster) and leader election off (only one runs).
func operatorSpec(ctx context.Context, d *appsv1.Deployment, dir, kubeconfig string) (operatorProcess, error) {
	if len(d.Spec.Template.Spec.Containers) == 0 {
		return operatorProcess{}, errors.New("deployment has no container")
	}
	c := d.Spec.Template.Spec.Containers[0]
	key := operatorKey(c)
	bin, err := pullEntrypoint(ctx, c.Image, filepath.Join(dir, key[:12]))
	if err != nil {
		return operatorProcess{}, err
	}
	args := append(slices.Clone(c.Args), "--kubeconfig="+kubeconfig, "--leader-elect=false")
	var env []string
	for _, e := range c.Env {
		if e.ValueFrom != nil || strings.HasPrefix(e.Name, "KUBERNETES_SERVICE_") {
			continue // in-cluster endpoints: the kubeconfig replaces them
		}
		env = append(env, e.Name+"="+e.Value)
	}
	return operatorProcess{Key: key, Spec: process.Spec{Name: OperatorDeployment, Path: bin, Args: args, Env: env}}, nil
}

func operatorKey(c corev1.Container) string {
	h := sha256.New()
	fmt.Fprintln(h, c.Image)
	for _, a := range c.Args {
		fmt.Fprintln(h, "arg", a)
	}
	for _, e := range c.Env {
		fmt.Fprintln(h, "env", e.Name, e.Value)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// pullEntrypoint pulls ref over plain HTTP (the lab registry) and writes the file its
// entrypoint names into dir, executable. An image already extracted there is reused.
func pullEntrypoint(ctx context.Context, ref, dir string) (string, error) {
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return "", fmt.Errorf("parse operator image %q: %w", ref, err)
	}
	img, err := remote.Image(r, remote.WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("pull operator image %s (pushed by the e2e pipeline's push step?): %w", ref, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return "", fmt.Errorf("read config of %s: %w", ref, err)
	}
	if len(cfg.Config.Entrypoint) == 0 {
		return "", fmt.Errorf("operator image %s has no entrypoint", ref)
	}
	entry := strings.TrimPrefix(path.Clean(cfg.Config.Entrypoint[0]), "/")
	out := filepath.Join(dir, path.Base(entry))
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return "", fmt.Errorf("operator image %s has no file %s (its entrypoint)", ref, cfg.Config.Entrypoint[0])
		} else if err != nil {
			return "", fmt.Errorf("read layers of %s: %w", ref, err)
		}
		if strings.TrimPrefix(path.Clean(h.Name), "/") == entry && h.Typeflag == tar.TypeReg {
			return out, writeExecutable(out, tr)
		}
	}
}

func writeExecutable(out string, r io.Reader) error {
	return atomicfile.Write(out, 0o755, func(f *os.File) error {
		_, err := io.Copy(f, r)
		return err
	})
}
