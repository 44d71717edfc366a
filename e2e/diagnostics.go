package e2e

import (
	"archive/tar"
	"cmp"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/cozylab/cozylab/e2e/releasewait"
)

// collectBudget bounds the whole collection; each read has its own share of it.
const collectBudget = 90 * time.Second

// diagnosticKinds are dumped as YAML, each kind to one file.
var diagnosticKinds = []schema.GroupVersionResource{
	{Group: "helm.toolkit.fluxcd.io", Version: "v2", Resource: "helmreleases"},
	{Group: "cozystack.io", Version: "v1alpha1", Resource: "packages"},
	{Group: "cozystack.io", Version: "v1alpha1", Resource: "packagesources"},
	{Group: "source.extensions.fluxcd.io", Version: "v1beta1", Resource: "artifactgenerators"},
	{Group: "source.toolkit.fluxcd.io", Version: "v1", Resource: "externalartifacts"},
	{Group: "source.toolkit.fluxcd.io", Version: "v1", Resource: "ocirepositories"},
	{Group: "apps", Version: "v1", Resource: "deployments"},
	{Group: "", Version: "v1", Resource: "pods"},
	{Group: "", Version: "v1", Resource: "events"},
}

// collect writes the diagnostics bundle: resources, events, process logs and a summary naming
// the first blocker (and, after a keep-going wait, every blocker), then a tar.gz of it. It is written even when collection overruns its
// budget: what could not be read is listed in the summary.
func collect(ctx context.Context, e *env, failure error) (dir, archive string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), collectBudget)
	defer cancel()
	dir = filepath.Join(e.o.ReportDir, "diagnostics-"+time.Now().UTC().Format("20060102-150405"))
	var problems []string
	note := func(err error) {
		if err != nil {
			problems = append(problems, err.Error())
		}
	}
	note(os.MkdirAll(filepath.Join(dir, "logs"), 0o755))
	blocker := ""
	var podProblems []podIssue
	if e.cfg != nil {
		blocker = dumpResources(ctx, e, dir, note)
		var err error
		podProblems, err = realNodePodProblems(ctx, e)
		note(err)
	} else {
		problems = append(problems, "no cluster: the lab did not come up, so only logs were collected")
	}
	logCtx, logCancel := context.WithTimeout(ctx, 30*time.Second)
	note(e.o.Lab.CollectLogs(logCtx, filepath.Join(dir, "logs")))
	if e.cfg != nil {
		note(collectPodLogs(logCtx, e, dir))
	}
	logCancel()
	note(writeSummary(dir, failure, blocker, podProblems, problems, e.blocked))
	archive = dir + ".tar.gz"
	if err := tarGz(dir, archive); err != nil {
		archive = ""
	}
	return dir, archive
}

// dumpResources writes each kind's objects and returns the first blocker: the failing or
// longest-waiting HelmRelease, by the waiter's classification.
func dumpResources(ctx context.Context, e *env, dir string, note func(error)) string {
	dyn, err := dynamic.NewForConfig(e.cfg)
	if err != nil {
		note(err)
		return ""
	}
	blocker := ""
	for _, gvr := range diagnosticKinds {
		rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		list, err := dyn.Resource(gvr).List(rctx, metav1ListAll)
		cancel()
		if err != nil {
			note(fmt.Errorf("list %s: %w", gvr.Resource, err))
			continue
		}
		note(writeYAML(filepath.Join(dir, gvr.Resource+".yaml"), list.Items))
		if gvr.Resource == "helmreleases" {
			blocker = firstBlocker(list.Items)
		}
	}
	return blocker
}

func writeYAML(path string, items []unstructured.Unstructured) error {
	var b strings.Builder
	for _, it := range items {
		it.SetManagedFields(nil)
		raw, err := yaml.Marshal(it.Object)
		if err != nil {
			return fmt.Errorf("encode %s: %w", it.GetName(), err)
		}
		b.WriteString("---\n")
		b.Write(raw)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// firstBlocker names the HelmRelease to look at first: one that failed or stalled, else one
// not Ready that waits on nothing else, else any not Ready.
func firstBlocker(items []unstructured.Unstructured) string {
	var failing, waiting, other []string
	for _, it := range items {
		hr, err := toHelmRelease(it)
		if err != nil {
			continue
		}
		o := releasewait.Classify(hr)
		line := fmt.Sprintf("HelmRelease %s: %s: %s", o.Key(), o.Reason, o.Message)
		switch o.State {
		case releasewait.Ready:
		case releasewait.Failing, releasewait.Stalled:
			failing = append(failing, line)
		case releasewait.WaitingOnDependency:
			waiting = append(waiting, line)
		default:
			other = append(other, line)
		}
	}
	for _, group := range [][]string{failing, other, waiting} {
		if len(group) > 0 {
			sort.Strings(group)
			return group[0]
		}
	}
	return ""
}

// writeSummary writes summary.txt: the failure, the first blocker, the pods on the real node
// that do not run as they should and, when the HelmRelease wait failed in keep-going mode, every
// blocker grouped by class (see writeBlockers). A stuck pod on the real node comes before any
// HelmRelease: the platform's own controllers (operator, Flux) run there, and one that crashes
// or lacks its image blocks everything after it.
func writeSummary(dir string, failure error, blocker string, podProblems []podIssue, problems []string, blocked *releasewait.Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "e2e failed: %v\n\n", failure)
	if blocked != nil {
		blocker = cmp.Or(rootBlocker(blocked.Blockers), blocker)
	}
	if len(podProblems) > 0 && (blocker == "" || podProblems[0].Stuck) {
		blocker = podProblems[0].Line
	}
	if blocker != "" {
		fmt.Fprintf(&b, "First blocker: %s\n\n", blocker)
	}
	if len(podProblems) > 0 {
		b.WriteString("Pods on the real node not running as they should:\n")
		for _, p := range podProblems {
			fmt.Fprintf(&b, "- %s\n", p.Line)
		}
		b.WriteString("\n")
	}
	if blocked != nil {
		writeBlockers(&b, *blocked)
	}
	b.WriteString("Files: <kind>.yaml (objects), events.yaml, logs/ (operator, Flux, kube-*, kwok, containerd, kubelet, lab daemon), pods/ (logs of the pods on the real node).\n")
	if len(problems) > 0 {
		b.WriteString("\nNot collected:\n")
		for _, p := range problems {
			fmt.Fprintf(&b, "- %s\n", p)
		}
	}
	return os.WriteFile(filepath.Join(dir, "summary.txt"), []byte(b.String()), 0o644)
}

// rootBlocker names the blocker to look at first, in firstBlocker's form: one that failed by
// itself, else one blocked by a lab limit, else one waiting on a dependency.
func rootBlocker(bs []releasewait.Blocker) string {
	for _, class := range []releasewait.Class{releasewait.ClassFailed, releasewait.ClassLabLimit, releasewait.ClassWaitingOnDependency} {
		for _, bl := range bs {
			if bl.Class == class {
				return fmt.Sprintf("%s: %s: %s", bl.Ref(), bl.Reason, bl.Message)
			}
		}
	}
	return ""
}

// writeBlockers lists every blocker of a keep-going wait, grouped by class with the counts, and
// what was still progressing if the wait timed out.
func writeBlockers(b *strings.Builder, res releasewait.Result) {
	if len(res.Blockers) > 0 {
		fmt.Fprintf(b, "Blockers: %d not Ready: %s\n", res.Counts.Total(), res.Counts)
	}
	for _, g := range []struct {
		class releasewait.Class
		title string
		n     int
	}{
		{releasewait.ClassFailed, "Failed", res.Counts.Failed},
		{releasewait.ClassWaitingOnDependency, "Waiting on a dependency", res.Counts.WaitingOnDependency},
		{releasewait.ClassLabLimit, "Blocked by a lab limit", res.Counts.LabLimit},
	} {
		if g.n == 0 {
			continue
		}
		fmt.Fprintf(b, "\n%s (%d):\n", g.title, g.n)
		for _, bl := range res.Blockers {
			switch {
			case bl.Class != g.class:
			case bl.Limit != "":
				fmt.Fprintf(b, "- %s [%s]: %s\n", bl.Ref(), bl.Limit, bl.Cause())
			default:
				fmt.Fprintf(b, "- %s: %s\n", bl.Ref(), bl.Cause())
			}
		}
	}
	if len(res.Unfinished) > 0 {
		fmt.Fprintf(b, "\nStill progressing when the wait timed out (%d):\n", len(res.Unfinished))
		for _, o := range res.Unfinished {
			fmt.Fprintf(b, "- %s: %s\n", o.Ref(), o.Detail())
		}
	}
	b.WriteString("\n")
}

// tarGz archives dir as <dir>.tar.gz with paths relative to dir's parent.
func tarGz(dir, out string) (err error) {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	base := filepath.Dir(dir)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(base, p)
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		fi, err := src.Stat()
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: rel, Mode: 0o644, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
			return err
		}
		_, err = io.CopyN(tw, src, fi.Size())
		return err
	})
	return errors.Join(err, tw.Close(), gz.Close())
}

var metav1ListAll = metav1.ListOptions{}

func toHelmRelease(u unstructured.Unstructured) (*helmv2.HelmRelease, error) {
	hr := &helmv2.HelmRelease{}
	return hr, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, hr)
}
