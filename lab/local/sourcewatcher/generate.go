package sourcewatcher

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/fluxcd/pkg/apis/meta"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	sw "github.com/fluxcd/source-watcher/api/v2/v1beta1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Reasons of the generator's Ready condition besides upstream's (sw.SourceFetchFailedReason,
// sw.ValidationFailedReason).
const (
	// SucceededReason: every output artifact is built, served and published.
	SucceededReason = "Succeeded"
	// BuildFailedReason: a copy operation failed, for example because its "from" matched nothing.
	BuildFailedReason = "BuildFailed"
)

// readyType is the Ready condition type.
const readyType = "Ready"

// source is one resolved source of a generator.
type source struct {
	tree     Tree
	observed sw.ObservedSource
}

// output is one built output artifact, ready to publish.
type output struct {
	name     string
	hex      string
	artifact meta.Artifact
}

// generate builds and publishes the artifacts of ag and sets its status. It returns an error
// only when the run should be retried.
func (r *Reconciler) generate(ctx context.Context, ag *sw.ArtifactGenerator) error {
	sources, err := r.resolve(ctx, ag)
	var fail *failure
	if errors.As(err, &fail) {
		setReady(ag, metav1.ConditionFalse, fail.reason, fail.Error())
		return fail.retry
	}
	if err != nil {
		return err
	}
	outputs, err := r.build(ag, sources)
	if errors.As(err, &fail) {
		setReady(ag, metav1.ConditionFalse, fail.reason, fail.Error())
		return fail.retry
	}
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	inventory := make([]sw.ExternalArtifactReference, 0, len(outputs))
	for _, o := range outputs {
		if err := r.publish(ctx, ag, o); err != nil {
			return err
		}
		keep[o.name] = true
		inventory = append(inventory, sw.ExternalArtifactReference{Name: o.name, Namespace: ag.Namespace, Digest: o.artifact.Digest, Filename: o.hex + ".tar.gz"})
	}
	if err := r.removeStale(ctx, ag, keep); err != nil {
		return err
	}
	if err := r.store.prune(ag.Namespace, ag.Name, keep); err != nil {
		return err
	}
	observed := make(map[string]sw.ObservedSource, len(sources))
	for alias, s := range sources {
		observed[alias] = s.observed
	}
	ag.Status.Inventory = inventory
	ag.Status.ObservedSourcesDigest = sw.HashObservedSources(observed)
	setReady(ag, metav1.ConditionTrue, SucceededReason, fmt.Sprintf("reconciliation succeeded, generated %d artifact(s)", len(outputs)))
	return nil
}

// failure is a run that ends with Ready=False; retry, when set, is returned so the run is retried.
type failure struct {
	reason string
	err    error
	retry  error
}

func (f *failure) Error() string { return f.err.Error() }

func setReady(ag *sw.ArtifactGenerator, status metav1.ConditionStatus, reason, message string) {
	apimeta.SetStatusCondition(&ag.Status.Conditions, metav1.Condition{
		Type: readyType, Status: status, Reason: reason, Message: message, ObservedGeneration: ag.Generation,
	})
}

// resolve reads every source's artifact and fetches it.
func (r *Reconciler) resolve(ctx context.Context, ag *sw.ArtifactGenerator) (map[string]source, error) {
	out := make(map[string]source, len(ag.Spec.Sources))
	for _, ref := range ag.Spec.Sources {
		if _, dup := out[ref.Alias]; dup {
			return nil, &failure{reason: sw.ValidationFailedReason, err: fmt.Errorf("source alias %q is used twice", ref.Alias)}
		}
		key := client.ObjectKey{Namespace: sourceNamespace(ag, ref), Name: ref.Name}
		art, err := r.sourceArtifact(ctx, ref.Kind, key)
		if err != nil {
			return nil, err
		}
		tree, err := r.fetcher.fetch(ctx, art.URL, art.Digest)
		if err != nil {
			err = fmt.Errorf("source %s %s: %w", ref.Kind, key, err)
			return nil, &failure{reason: sw.SourceFetchFailedReason, err: err, retry: err}
		}
		out[ref.Alias] = source{tree: tree, observed: sw.ObservedSource{
			Digest: art.Digest, Revision: art.Revision, URL: art.URL, OriginRevision: art.Metadata[sw.ArtifactOriginRevisionAnnotation],
		}}
	}
	return out, nil
}

// sourceArtifact gets the artifact of a source; a missing source or artifact is a failure
// without retry: the source watch triggers the next run.
func (r *Reconciler) sourceArtifact(ctx context.Context, kind string, key client.ObjectKey) (*meta.Artifact, error) {
	var obj interface {
		client.Object
		artifactHolder
	}
	switch kind {
	case sourcev1.OCIRepositoryKind:
		obj = &sourcev1.OCIRepository{}
	case sourcev1.GitRepositoryKind:
		obj = &sourcev1.GitRepository{}
	case sourcev1.BucketKind:
		obj = &sourcev1.Bucket{}
	default:
		return nil, &failure{reason: sw.ValidationFailedReason, err: fmt.Errorf("source %s: unsupported kind %q", key, kind)}
	}
	if err := r.client.Get(ctx, key, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &failure{reason: sw.SourceFetchFailedReason, err: fmt.Errorf("source %s %s not found", kind, key)}
		}
		return nil, fmt.Errorf("get %s %s: %w", kind, key, err)
	}
	art := obj.GetArtifact()
	if art == nil || art.URL == "" || art.Digest == "" {
		return nil, &failure{reason: sw.SourceFetchFailedReason, err: fmt.Errorf("source %s %s has no artifact yet", kind, key)}
	}
	return art, nil
}

// build runs the copy operations of every output artifact, builds and stores its tarball.
func (r *Reconciler) build(ag *sw.ArtifactGenerator, sources map[string]source) ([]output, error) {
	trees := make(map[string]Tree, len(sources))
	for alias, s := range sources {
		trees[alias] = s.tree
	}
	seen := map[string]bool{}
	outputs := make([]output, 0, len(ag.Spec.OutputArtifacts))
	for _, oa := range ag.Spec.OutputArtifacts {
		if seen[oa.Name] {
			return nil, &failure{reason: sw.ValidationFailedReason, err: fmt.Errorf("artifact name %q is used twice", oa.Name)}
		}
		seen[oa.Name] = true
		tree, err := Build(oa.Copy, trees)
		if err != nil {
			return nil, &failure{reason: BuildFailedReason, err: fmt.Errorf("artifact %s: %w", oa.Name, err)}
		}
		data, err := Tarball(tree)
		if err != nil {
			return nil, &failure{reason: BuildFailedReason, err: fmt.Errorf("artifact %s: %w", oa.Name, err)}
		}
		hex := sha256Hex(data)
		digest := "sha256:" + hex
		revision, origin, err := revisions(oa, sources, digest)
		if err != nil {
			return nil, &failure{reason: sw.ValidationFailedReason, err: fmt.Errorf("artifact %s: %w", oa.Name, err)}
		}
		rel := relPath(ag.Namespace, ag.Name, oa.Name, hex)
		if err := r.store.put(rel, data); err != nil {
			return nil, err
		}
		size := int64(len(data))
		art := meta.Artifact{Path: rel, URL: r.URL() + "/" + rel, Revision: revision, Digest: digest, Size: &size}
		if origin != "" {
			art.Metadata = map[string]string{sw.ArtifactOriginRevisionAnnotation: origin}
		}
		outputs = append(outputs, output{name: oa.Name, hex: hex, artifact: art})
	}
	sort.Slice(outputs, func(i, j int) bool { return outputs[i].name < outputs[j].name })
	return outputs, nil
}

// revisions resolves an output's revision ("@alias": that source's; else latest@<digest>) and
// origin revision.
func revisions(oa sw.OutputArtifact, sources map[string]source, digest string) (revision, origin string, err error) {
	revision = "latest@" + digest
	if oa.Revision != "" {
		s, ok := sources[strings.TrimPrefix(oa.Revision, "@")]
		if !strings.HasPrefix(oa.Revision, "@") || !ok {
			return "", "", fmt.Errorf("revision %q must name a source as @<alias>", oa.Revision)
		}
		revision = s.observed.Revision
	}
	if oa.OriginRevision != "" {
		s, ok := sources[strings.TrimPrefix(oa.OriginRevision, "@")]
		if !strings.HasPrefix(oa.OriginRevision, "@") || !ok {
			return "", "", fmt.Errorf("originRevision %q must name a source as @<alias>", oa.OriginRevision)
		}
		origin = s.observed.OriginRevision
	}
	return revision, origin, nil
}
