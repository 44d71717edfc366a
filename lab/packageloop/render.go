package packageloop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// rendering is the release a command would install: the chart with its defaults, the composed
// values, and Helm's dry-run result.
type rendering struct {
	chart   *chart.Chart
	values  map[string]any
	release *release.Release
	// last is the deployed release in storage, nil when there is none.
	last *release.Release
}

// Manifest is the rendered release: its objects, then its hooks, each with a Source comment.
func (r *rendering) Manifest() string {
	var b strings.Builder
	b.WriteString(r.release.Manifest)
	for _, h := range r.release.Hooks {
		fmt.Fprintf(&b, "---\n# Source: %s (hook: %s)\n%s\n", h.Path, joinEvents(h.Events), strings.TrimSpace(h.Manifest))
	}
	return b.String()
}

func joinEvents(events []release.HookEvent) string {
	s := make([]string, len(events))
	for i, e := range events {
		s[i] = e.String()
	}
	return strings.Join(s, ",")
}

// render composes the values and runs a server-side dry-run install of the chart, so lookup
// reads the live cluster and capabilities come from it.
func (s *session) render(ctx context.Context, cfg *action.Configuration) (*rendering, error) {
	ch, vals, last, err := s.prepare(ctx, cfg)
	if err != nil {
		return nil, err
	}
	install := action.NewInstall(cfg)
	install.DryRun = true
	install.DryRunOption = "server"
	install.ReleaseName = s.target.ReleaseName
	install.Namespace = s.target.Namespace
	install.IsUpgrade = last != nil
	install.PostRenderer = labeler{labels: OriginLabels(s.hr)}
	rel, err := install.RunWithContext(ctx, ch, vals)
	if err != nil {
		return nil, fmt.Errorf("render chart %s as %s/%s: %w", s.opts.ChartDir, s.target.Namespace, s.target.ReleaseName, err)
	}
	return &rendering{chart: ch, values: vals, release: rel, last: last}, nil
}

// prepare loads the chart, composes the values from the live HelmRelease and reads the newest
// release in storage (nil when there is none): what both a render and an apply start from.
func (s *session) prepare(ctx context.Context, cfg *action.Configuration) (*chart.Chart, map[string]any, *release.Release, error) {
	ch, err := s.loadChart()
	if err != nil {
		return nil, nil, nil, err
	}
	vals, err := Compose(ctx, s.client, s.hr)
	if err != nil {
		return nil, nil, nil, err
	}
	last, err := lastRelease(cfg, s.target.ReleaseName)
	if err != nil {
		return nil, nil, nil, err
	}
	return ch, vals, last, nil
}

// lastRelease is the newest release name in storage, nil when there is none.
func lastRelease(cfg *action.Configuration, name string) (*release.Release, error) {
	rel, err := cfg.Releases.Last(name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read release %s: %w", name, err)
	}
	return rel, nil
}

// parseObjects splits a manifest into objects, dropping empty documents.
func parseObjects(manifest string) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewBufferString(manifest), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("parse manifest: %w", err)
		}
		if len(m) > 0 {
			objs = append(objs, &unstructured.Unstructured{Object: m})
		}
	}
}
