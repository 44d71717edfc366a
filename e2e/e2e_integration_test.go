//go:build integration

package e2e

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/internal/process"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/local"
	"github.com/cozylab/cozylab/lab/login"
	"github.com/cozylab/cozylab/lab/provider/providertest"
	"github.com/cozylab/cozylab/lab/realnode"
	"github.com/cozylab/cozylab/lab/state"
	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

// TestLocalE2E runs the whole pipeline on the local provider (the README's main command),
// again on the running lab (everything done is skipped or unchanged), then with a deliberately
// broken chart, which must fail naming its HelmRelease long before the overall timeout; then
// lab down must leave nothing.
func TestLocalE2E(t *testing.T) {
	ctx := context.Background()
	repo, err := filepath.Abs("..")
	require.NoError(t, err)
	root := t.TempDir()
	lab := local.New(root, state.Request{Name: "e2e", Provider: local.ProviderName, RepoRoot: repo})
	host, err := realnode.Snapshot(root, "e2e")
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, lab.Down(context.WithoutCancel(ctx), progress.Discard))
		assertNothingLeft(t, lab.Dir())
		after, err := realnode.Snapshot(root, "e2e")
		require.NoError(t, err)
		b, a, _ := realnode.Comparable(host, after)
		assert.Equal(t, b, a, "after lab:down the host is as before")
	})
	reports := t.TempDir()
	rec := &progress.Recorder{}
	res, err := Run(ctx, Options{RepoRoot: "..", Lab: lab, ReportDir: reports, Progress: rec})
	require.NoError(t, err, "diagnostics: %s", res.Diagnostics)
	assert.GreaterOrEqual(t, res.Releases, 6, "isp-full installs the platform and five packages")
	assert.Empty(t, res.Diagnostics, "no bundle on success")
	assert.True(t, slices.ContainsFunc(res.RealNodePods, func(p string) bool { return strings.HasPrefix(p, "cozy-system/cozystack-operator-") }),
		"the operator runs as a pod on the real node: %v", res.RealNodePods)
	assert.True(t, slices.ContainsFunc(res.RealNodePods, func(p string) bool { return strings.HasPrefix(p, "kube-system/coredns-") }),
		"CoreDNS runs on the real node: %v", res.RealNodePods)
	assert.True(t, slices.ContainsFunc(res.RealNodePods, func(p string) bool { return strings.HasPrefix(p, "cozy-fluxcd/flux-") }),
		"Flux, as the operator installs it, runs as a pod on the real node: %v", res.RealNodePods)
	running, err := realnode.Snapshot(root, "e2e")
	require.NoError(t, err)
	assert.NotEmpty(t, running.Links, "the snapshot sees the lab's real node (so the comparison after lab:down means something)")
	assert.NotEmpty(t, res.EchoPages, "the echo app runs on the real node, its page fetched by its Service's name from another pod")
	suite := readJUnit(t, filepath.Join(reports, "junit.xml"))
	assert.Equal(t, len(stages), suite.Tests)
	assert.Zero(t, suite.Failures)

	t.Run("the proxy reaches the echo Service by name and by address", func(t *testing.T) {
		require.NotEmpty(t, res.EchoPages)
		dial, err := lab.Dialer()
		require.NoError(t, err)
		px := providertest.ServeProxy(t, dial)

		c, err := client.New(mustConfig(t, lab), client.Options{Scheme: scheme()})
		require.NoError(t, err)
		svc := &corev1.Service{}
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: "cozy-e2e-echo", Name: "echo"}, svc))
		port := svc.Spec.Ports[0].Port
		for how, hc := range px.Clients {
			for _, host := range []string{"echo.cozy-e2e-echo.svc", "echo.cozy-e2e-echo.svc.cluster.local", svc.Spec.ClusterIP} {
				resp, err := hc.Get(fmt.Sprintf("http://%s:%d/", host, port))
				require.NoError(t, err, "%s to %s", how, host)
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				assert.True(t, strings.HasPrefix(string(body), "echo from "), "%s to %s: %q", how, host, body)
			}
		}

		// A real browser, as a user opens the lab's pages: Debian's chromium, headless,
		// through the SOCKS5 proxy (Chromium resolves names through a SOCKS5 proxy).
		chromium, err := exec.LookPath("chromium")
		require.NoError(t, err, "install Chromium with: apt-get install chromium")
		cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
			"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--user-data-dir="+t.TempDir(), "--proxy-server=socks5://"+px.Addr, "--dump-dom",
			fmt.Sprintf("http://echo.cozy-e2e-echo.svc:%d/", port))
		out, err := cmd.Output()
		require.NoError(t, err, "chromium: %s", out)
		assert.Contains(t, string(out), "echo from ", "the page Chromium loaded through the proxy")

		// The lab page, served by the lab daemon on the lab's network, through the proxy.
		page, err := lab.PageURL()
		require.NoError(t, err)
		resp, err := px.Clients["HTTP"].Get(page)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Contains(t, string(body), "<h1>Lab e2e</h1>")
		assert.Contains(t, string(body), "cozy-system/cozystack-platform", "the page lists the platform's releases")
		assert.Contains(t, string(body), "node1", "and the nodes")
	})

	t.Run("login runs a shell whose clients reach the lab through the proxy", func(t *testing.T) {
		dial, err := lab.Dialer()
		require.NoError(t, err)
		var out strings.Builder
		// The API server by the name only the lab's DNS knows: reached through the proxy or
		// not at all. The client is this test binary (see TestMain), as kubectl would be.
		code, err := login.Run(ctx, login.Options{
			Lab: "e2e", Kubeconfig: lab.Kubeconfig(), Server: "https://kubernetes.default.svc", Dial: dial, Shell: "/bin/sh",
			Command: `echo "kubeconfig $KUBECONFIG mode $(stat -c %a "$KUBECONFIG")"; ` + providertest.LoginClientEnv + `=1 ` + os.Args[0],
			Stdout:  &out, Stderr: &out,
		})
		require.NoError(t, err)
		require.Equal(t, 0, code, out.String())
		assert.Contains(t, out.String(), "mode 600", "the login kubeconfig is private")
		assert.Contains(t, out.String(), "nodes: node1 srv1 srv2 srv3", "the shell's client listed the lab's nodes")
		var kubeconfig string
		for _, line := range strings.Split(out.String(), "\n") {
			if rest, ok := strings.CutPrefix(line, "kubeconfig "); ok {
				kubeconfig, _, _ = strings.Cut(rest, " ")
			}
		}
		require.NotEmpty(t, kubeconfig)
		assert.NoDirExists(t, filepath.Dir(kubeconfig), "the login directory is removed when the shell exits")

		code, err = login.Run(ctx, login.Options{Lab: "e2e", Kubeconfig: lab.Kubeconfig(), Dial: dial, Shell: "/bin/sh", Command: "exit 7"})
		require.NoError(t, err)
		assert.Equal(t, 7, code, "the shell's exit code is login's")
	})

	t.Run("a re-run finds everything done", func(t *testing.T) {
		rec := &progress.Recorder{}
		_, err := Run(ctx, Options{RepoRoot: "..", Lab: lab, ReportDir: t.TempDir(), Progress: rec})
		require.NoError(t, err)
		skipped := false
		for _, r := range rec.Records() {
			if r.Outcome == progress.Skipped && strings.Contains(r.Note, "already up") {
				skipped = true
			}
		}
		assert.True(t, skipped, "the lab was up and is not started again: %v", rec.Records())
	})

	t.Run("another tree: a copy of packages/ as users keep theirs gives the same result", func(t *testing.T) {
		tree := copyTree(t, filepath.Join("..", "packages"))
		chart := filepath.Join(tree, platformChart)
		raw, err := os.ReadFile(chart)
		require.NoError(t, err)
		v, ok := findVersion(raw)
		require.True(t, ok)
		raw = append(append(raw[:v.end:v.end], " # set by the release"...), raw[v.end:]...)
		require.NoError(t, os.WriteFile(chart, raw, 0o644))
		// A library chart linked into an app, as upstream trees do: flux push artifact leaves it out.
		require.NoError(t, os.MkdirAll(filepath.Join(tree, "apps", "echo", "charts"), 0o755))
		require.NoError(t, os.Symlink("../../../system/echo", filepath.Join(tree, "apps", "echo", "charts", "linked")))

		again, err := Run(ctx, Options{RepoRoot: "..", Packages: tree, Installer: InstallerTree, Lab: lab, ReportDir: t.TempDir(), Progress: progress.Discard})
		require.NoError(t, err, "diagnostics: %s", again.Diagnostics)
		assert.Equal(t, res.Releases, again.Releases, "the same platform, the same releases")

		// The per-package loop inside such a tree: its Makefiles name the release and include
		// their own package.mk; ours is given with -f and reads NAME and NAMESPACE from them.
		chartDir := filepath.Join(tree, "system", "widget-operator")
		require.NoError(t, os.WriteFile(filepath.Join(chartDir, "Makefile"),
			[]byte("export NAME=widget-operator\nexport NAMESPACE=cozy-$(NAME)\n\ninclude ../../../scripts/package.mk\n"), 0o644))
		make := exec.CommandContext(ctx, "make", "--no-print-directory", "-f", filepath.Join(repo, "packages", "package.mk"), "show")
		make.Dir = chartDir
		make.Env = append(os.Environ(), "KUBECONFIG="+lab.Kubeconfig())
		out, err := make.CombinedOutput()
		require.NoError(t, err, "make show in a foreign tree's chart (install make with: apt-get install make): %s", out)
		assert.Contains(t, string(out), "kind: Deployment", "the chart rendered with the live release's values")
		assert.Contains(t, string(out), "namespace: cozy-widget-operator", "the release's namespace, from the tree's Makefile")
	})

	t.Run("keep-going lists every blocker by class", func(t *testing.T) {
		reports := t.TempDir()
		overlay := maps.Clone(brokenChart)
		maps.Copy(overlay, webhookCharts)
		out, err := Run(ctx, Options{
			RepoRoot: "..", Lab: lab, ReportDir: reports, Progress: progress.Discard, KeepGoing: true,
			Overlay: overlay, ExtraObjects: append(brokenPackage(), webhookPackage()...), FailAfter: 20 * time.Second, ReleaseTimeout: 10 * time.Minute,
		})
		require.Error(t, err)
		summary, rerr := os.ReadFile(filepath.Join(out.Diagnostics, "summary.txt"))
		require.NoError(t, rerr)
		sections := summarySections(string(summary))
		assert.Contains(t, sections["Failed"], "- HelmRelease cozy-system/broken:", "a chart the API server refuses failed by itself")
		assert.Contains(t, sections["Blocked by a lab limit"], "- HelmRelease cozy-system/hooked [webhook]:", "a webhook only a simulated pod serves")
		assert.Contains(t, sections["Waiting on a dependency"], "- HelmRelease cozy-system/after:", "a release behind the blocked one")
		assert.Contains(t, string(summary), "First blocker: HelmRelease cozy-system/broken")
		suite := readJUnit(t, filepath.Join(reports, "junit.xml"))
		cases := map[string]string{} // HelmRelease → failure message ("" when it passed)
		for _, c := range suite.Cases {
			if strings.HasPrefix(c.Name, "HelmRelease ") {
				cases[c.Name] = ""
				if c.Failure != nil {
					cases[c.Name] = c.Failure.Message
				}
			}
		}
		assert.True(t, strings.HasPrefix(cases["HelmRelease cozy-system/hooked"], "LabLimit (webhook)"), cases["HelmRelease cozy-system/hooked"])
		assert.True(t, strings.HasPrefix(cases["HelmRelease cozy-system/broken"], "Failed"), cases["HelmRelease cozy-system/broken"])
		assert.True(t, strings.HasPrefix(cases["HelmRelease cozy-system/after"], "WaitingOnDependency"), cases["HelmRelease cozy-system/after"])
		ready := 0
		for _, msg := range cases {
			if msg == "" {
				ready++
			}
		}
		assert.Equal(t, res.Releases+1, ready, "every release of the first run and the webhook's own is Ready: a passing test case each")

		c, cerr := client.New(mustConfig(t, lab), client.Options{Scheme: scheme()})
		require.NoError(t, cerr)
		for _, o := range append(brokenPackage(), webhookPackage()...) {
			require.NoError(t, client.IgnoreNotFound(c.Delete(ctx, o)))
		}
	})

	t.Run("a broken chart fails naming its HelmRelease", func(t *testing.T) {
		reports := t.TempDir()
		start := time.Now()
		res, err := Run(ctx, Options{
			RepoRoot: "..", Lab: lab, ReportDir: reports, Progress: progress.Discard,
			Overlay: brokenChart, ExtraObjects: brokenPackage(), FailAfter: 45 * time.Second, ReleaseTimeout: 10 * time.Minute,
		})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "HelmRelease cozy-system/broken failing for", "the failure, not the overall timeout, ends the wait")
		assert.Less(t, time.Since(start), 5*time.Minute, "well before the 10m release timeout")
		summary, rerr := os.ReadFile(filepath.Join(res.Diagnostics, "summary.txt"))
		require.NoError(t, rerr)
		assert.Contains(t, string(summary), "First blocker: HelmRelease cozy-system/broken: ")
		assert.Contains(t, string(summary), "ConfigMap in version \"v1\" cannot be handled", "the API server's refusal is quoted")
		for _, f := range []string{"helmreleases.yaml", "packages.yaml", "ocirepositories.yaml", "events.yaml", "logs/kube-apiserver.log", "logs/kubelet.log"} {
			assert.FileExists(t, filepath.Join(res.Diagnostics, f))
		}
		helmLogs, _ := filepath.Glob(filepath.Join(res.Diagnostics, "pods", "cozy-fluxcd_flux-*_helm-controller.log"))
		assert.Len(t, helmLogs, 1, "helm-controller's log, from the Flux pod through the API server")
		operatorLogs, _ := filepath.Glob(filepath.Join(res.Diagnostics, "pods", "cozy-system_cozystack-operator-*_cozystack-operator.log"))
		assert.Len(t, operatorLogs, 1, "the operator pod's log, read through the API server")
		assert.FileExists(t, res.Archive)
		suite := readJUnit(t, filepath.Join(reports, "junit.xml"))
		assert.Equal(t, 1, suite.Failures)

		c, cerr := client.New(mustConfig(t, lab), client.Options{Scheme: scheme()})
		require.NoError(t, cerr)
		for _, o := range brokenPackage() {
			require.NoError(t, client.IgnoreNotFound(c.Delete(ctx, o)))
		}
	})

	t.Run("an image the lab does not have is named in the diagnostics", func(t *testing.T) { testMissingImage(t, lab) })

	t.Run("a single-release variant finishes once its release is Ready", func(t *testing.T) {
		// The default variant enables no bundle: the platform's own release is all it declares.
		// A wait that wanted a minimum count of releases would run into its timeout here.
		one, err := Run(ctx, Options{RepoRoot: "..", Lab: lab, Variant: "default", ReportDir: t.TempDir(), Progress: progress.Discard,
			ReleaseTimeout: 5 * time.Minute})
		require.NoError(t, err, "diagnostics: %s", one.Diagnostics)
	})
}

// TestLocalE2ESimulatedWebhooksIgnored: on a lab made with LAB_SIMULATED_WEBHOOKS=ignore, a
// release behind a webhook whose only pod kwok simulates (blocked on a default lab, see the
// keep-going case) installs, and the run names the webhook it relaxed. A single-release variant
// keeps the run short.
func TestLocalE2ESimulatedWebhooksIgnored(t *testing.T) {
	ctx := context.Background()
	repo, err := filepath.Abs("..")
	require.NoError(t, err)
	lab := local.New(t.TempDir(), state.Request{Name: "e2e-relaxed", Provider: local.ProviderName, RepoRoot: repo, IgnoreSimulatedWebhooks: true})
	t.Cleanup(func() {
		require.NoError(t, lab.Down(context.WithoutCancel(ctx), progress.Discard))
		assertNothingLeft(t, lab.Dir())
	})
	rec := &progress.Recorder{}
	res, err := Run(ctx, Options{RepoRoot: "..", Lab: lab, Variant: "default", ReportDir: t.TempDir(), Progress: rec,
		Overlay: webhookCharts, ExtraObjects: webhookPackage(), ReleaseTimeout: 10 * time.Minute})
	require.NoError(t, err, "diagnostics: %s", res.Diagnostics)
	assert.Equal(t, []string{"ValidatingWebhookConfiguration cozylab-e2e-hook: hook.cozylab.io"}, res.RelaxedWebhooks)
	assert.Contains(t, rec.Statuses("check Packages, HelmReleases, Deployments"),
		"webhook set to failurePolicy Ignore by the lab (its pods are simulated): ValidatingWebhookConfiguration cozylab-e2e-hook: hook.cozylab.io",
		"the output names the relaxed webhook")
	assert.Equal(t, 4, res.Releases, "the platform's release and hook, hooked, after")
}

// testMissingImage: a pod on the real node whose image the lab does not have fails the run,
// and the diagnostics name the pod and the image.
func testMissingImage(t *testing.T, lab *local.Provider) {
	const image = "ghcr.io/cozylab/not-built-here:v0"
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "needs-missing-image", Namespace: "default"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
	}
	realnode.Placement(&pod.Spec)
	reports := t.TempDir()
	res, err := Run(t.Context(), Options{RepoRoot: "..", Lab: lab, Variant: "default", ReportDir: reports, Progress: progress.Discard,
		ExtraObjects: []client.Object{pod}, ReleaseTimeout: 5 * time.Minute})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Pod default/needs-missing-image on node1: container app:")
	assert.Contains(t, err.Error(), "image "+image)
	summary, rerr := os.ReadFile(filepath.Join(res.Diagnostics, "summary.txt"))
	require.NoError(t, rerr)
	assert.Contains(t, string(summary), image, "the summary names the image the lab does not have")
	assert.Contains(t, string(summary), "First blocker: Pod default/needs-missing-image on node1: container app:",
		"a stuck pod on the real node is the first thing to look at")
	for _, f := range []string{"logs/kubelet.log", "logs/containerd.log", "pods.yaml", "events.yaml"} {
		assert.FileExists(t, filepath.Join(res.Diagnostics, f))
	}
	logs, _ := filepath.Glob(filepath.Join(res.Diagnostics, "pods", "kube-system_coredns-*_coredns.log"))
	assert.Len(t, logs, 1, "the real node's pods' logs, read through the API server")
	c, cerr := client.New(mustConfig(t, lab), client.Options{Scheme: scheme()})
	require.NoError(t, cerr)
	require.NoError(t, c.Delete(t.Context(), pod))
}

// brokenChart is a chart whose ConfigMap the API server refuses (data values must be strings).
var brokenChart = map[string][]byte{
	"extra/broken/Chart.yaml":               []byte("apiVersion: v2\nname: broken\nversion: 0.1.0\n"),
	"extra/broken/values.yaml":              []byte("{}\n"),
	"extra/broken/templates/configmap.yaml": []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\ndata:\n  answer: 42\n"),
}

// webhookCharts: hook installs an admission webhook for labelled ConfigMaps whose Service only a
// simulated pod serves; hooked creates such a ConfigMap, which
// the API server cannot have admitted; after depends on hooked.
var webhookCharts = map[string][]byte{
	"extra/hook/Chart.yaml":  []byte("apiVersion: v2\nname: hook\nversion: 0.1.0\n"),
	"extra/hook/values.yaml": []byte("{}\n"),
	"extra/hook/templates/hook.yaml": []byte(`apiVersion: v1
kind: Service
metadata:
  name: hook
spec:
  ports: [{port: 443, targetPort: 8443}]
  selector: {app: hook}
---
# The webhook's server: on a local lab a pod kwok simulates, so the Service's only endpoint is
# on a simulated node and no call reaches it.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: hook
spec:
  selector: {matchLabels: {app: hook}}
  template:
    metadata: {labels: {app: hook}}
    spec:
      containers: [{name: server, image: registry.example/hook:1.0, ports: [{containerPort: 8443}]}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: cozylab-e2e-hook
webhooks:
  - name: hook.cozylab.io
    clientConfig:
      service: {name: hook, namespace: {{ .Release.Namespace }}, path: /validate}
    rules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [configmaps]}]
    objectSelector: {matchLabels: {cozylab.io/hooked: "true"}}
    failurePolicy: Fail
    sideEffects: None
    admissionReviewVersions: [v1]
    timeoutSeconds: 1
`),
	"extra/hooked/Chart.yaml":               []byte("apiVersion: v2\nname: hooked\nversion: 0.1.0\n"),
	"extra/hooked/values.yaml":              []byte("{}\n"),
	"extra/hooked/templates/configmap.yaml": []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hooked\n  labels: {cozylab.io/hooked: \"true\"}\ndata: {a: b}\n"),
	"extra/after/Chart.yaml":                []byte("apiVersion: v2\nname: after\nversion: 0.1.0\n"),
	"extra/after/values.yaml":               []byte("{}\n"),
	"extra/after/templates/configmap.yaml":  []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: after\ndata: {a: b}\n"),
}

// webhookPackage installs webhookCharts in order: hook, then hooked, then after.
func webhookPackage() []client.Object {
	component := func(name string, dependsOn ...string) v1alpha1.Component {
		return v1alpha1.Component{Name: name, Path: "extra/" + name,
			Install: &v1alpha1.ComponentInstall{Namespace: InstallerNS, ReleaseName: name, DependsOn: dependsOn}}
	}
	src := &v1alpha1.PackageSource{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "PackageSource"},
		ObjectMeta: metav1.ObjectMeta{Name: "cozystack.hook"},
		Spec: v1alpha1.PackageSourceSpec{
			SourceRef: &v1alpha1.PackageSourceRef{Kind: "OCIRepository", Name: "cozystack-packages", Namespace: InstallerNS, Path: "/"},
			Variants: []v1alpha1.Variant{{Name: "default", Components: []v1alpha1.Component{
				component("hook"), component("hooked", "hook"), component("after", "hooked"),
			}}},
		},
	}
	pkg := &v1alpha1.Package{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "Package"},
		ObjectMeta: metav1.ObjectMeta{Name: "cozystack.hook"},
		Spec:       v1alpha1.PackageSpec{Variant: "default"},
	}
	return []client.Object{src, pkg}
}

// summarySections splits a diagnostics summary into its blocker sections, by title ("Failed").
func summarySections(summary string) map[string]string {
	out := map[string]string{}
	for _, part := range strings.Split(summary, "\n\n") {
		title, body, ok := strings.Cut(part, ":\n")
		if i := strings.LastIndex(title, " ("); ok && i > 0 {
			out[title[:i]] = body
		}
	}
	return out
}

func brokenPackage() []client.Object {
	src := &v1alpha1.PackageSource{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "PackageSource"},
		ObjectMeta: metav1.ObjectMeta{Name: "cozystack.broken"},
		Spec: v1alpha1.PackageSourceSpec{
			SourceRef: &v1alpha1.PackageSourceRef{Kind: "OCIRepository", Name: "cozystack-packages", Namespace: InstallerNS, Path: "/"},
			Variants: []v1alpha1.Variant{{Name: "default", Components: []v1alpha1.Component{{
				Name: "broken", Path: "extra/broken", Install: &v1alpha1.ComponentInstall{Namespace: InstallerNS, ReleaseName: "broken"},
			}}}},
		},
	}
	pkg := &v1alpha1.Package{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "Package"},
		ObjectMeta: metav1.ObjectMeta{Name: "cozystack.broken"},
		Spec:       v1alpha1.PackageSpec{Variant: "default"},
	}
	return []client.Object{src, pkg}
}

// copyTree copies the regular files under dir into a new temporary directory.
func copyTree(t *testing.T, dir string) string {
	t.Helper()
	out := t.TempDir()
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(out, filepath.Dir(rel)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(out, rel), raw, 0o644)
	}))
	return out
}

func readJUnit(t *testing.T, path string) junitSuite {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var s junitSuite
	require.NoError(t, xml.Unmarshal(raw, &s))
	return s
}

func mustConfig(t *testing.T, lab *local.Provider) *rest.Config {
	t.Helper()
	e := &env{o: Options{Lab: lab}}
	require.NoError(t, e.connect())
	return e.cfg
}

// assertNothingLeft checks no process runs from or for the lab directory, and that it is gone.
func assertNothingLeft(t *testing.T, dir string) {
	t.Helper()
	require.Eventually(t, func() bool { return len(labProcesses(t, dir)) == 0 }, 30*time.Second, 100*time.Millisecond,
		"processes of the lab still run: %v", labProcesses(t, dir))
	assert.NoDirExists(t, dir)
}

// labProcesses lists live processes whose executable or arguments name dir.
func labProcesses(t *testing.T, dir string) []process.Running {
	t.Helper()
	out, err := process.FindMentioning(dir)
	require.NoError(t, err)
	return out
}

// TestMain runs the tests, or — with COZYLAB_LOGIN_HELPER set, as the login test starts this
// binary inside its shell — is that shell's client: it lists the lab's nodes with the
// kubeconfig login wrote, as kubectl would, and exits.
func TestMain(m *testing.M) {
	if providertest.IsLoginClient() {
		os.Exit(providertest.ListNodes())
	}
	os.Exit(m.Run())
}
