package main

import (
	"bytes"
	"flag"
	"io"
	"io/fs"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/cozylab/cozylab/packages"
)

// fluxArgs returns the args the platform's Flux Deployment (packages/core/flux-aio, generated
// from operator/flux) gives the source-watcher container, with $(RUNTIME_NAMESPACE) expanded
// as the kubelet does.
func fluxArgs(t *testing.T) []string {
	t.Helper()
	raw, err := fs.ReadFile(packages.FS, "core/flux-aio/templates/flux.yaml")
	require.NoError(t, err)
	for _, doc := range bytes.Split(raw, []byte("\n---\n")) {
		var d appsv1.Deployment
		if yaml.Unmarshal(doc, &d) != nil || d.Kind != "Deployment" {
			continue
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			if c.Name == "source-watcher" {
				args := make([]string, len(c.Args))
				for i, a := range c.Args {
					args[i] = strings.ReplaceAll(a, "$(RUNTIME_NAMESPACE)", "cozy-fluxcd")
				}
				return args
			}
		}
	}
	t.Fatal("no source-watcher container in core/flux-aio/templates/flux.yaml")
	return nil
}

func parse(args []string, namespace string) (config, error) {
	fs := flag.NewFlagSet("source-watcher", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return parseFlags(fs, args, namespace)
}

func TestParseFlagsAcceptsTheFluxDeploymentArgs(t *testing.T) {
	args := fluxArgs(t)
	require.NotEmpty(t, args)
	cfg, err := parse(args, "cozy-fluxcd")
	require.NoError(t, err, "every flag operator/flux passes must be accepted: %q", args)
	assert.Equal(t, "127.0.0.1:9691", cfg.storageAddr, "an empty host listens on loopback only")
	assert.Equal(t, "/data", cfg.storagePath)
	assert.Equal(t, "source-watcher.cozy-fluxcd.svc", cfg.storageAdvAddr, "the artifact URLs name the Service, as helm-controller expects")
	assert.Equal(t, ":9442", cfg.healthAddr)
	assert.Equal(t, ":8082", cfg.metricsAddr)
	assert.False(t, cfg.leaderElection)
	assert.True(t, cfg.watchAllNamespaces)
}

func TestParseFlagsRejectsBadInput(t *testing.T) {
	for name, tc := range map[string]struct {
		args      []string
		namespace string
		want      string
	}{
		"unknown flag":              {[]string{"--no-such-flag"}, "ns", "no-such-flag"},
		"log encoding":              {[]string{"--log-encoding=xml"}, "ns", "want json or console"},
		"log level":                 {[]string{"--log-level=loud"}, "ns", "want debug, info or error"},
		"storage address":           {[]string{"--storage-addr=9691"}, "ns", "want [127.0.0.1]:<port>"},
		"own namespace, none known": {[]string{"--watch-all-namespaces=false"}, "", "RUNTIME_NAMESPACE"},
		"positional argument":       {[]string{"serve"}, "ns", "takes flags only"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parse(tc.args, tc.namespace)
			assert.ErrorContains(t, err, tc.want)
		})
	}
}
