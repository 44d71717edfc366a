package artifacts

import (
	"strings"

	sw "github.com/fluxcd/source-watcher/api/v2/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

// Copy strategies of source-watcher.
const (
	StrategyOverwrite = "Overwrite"
	StrategyMerge     = "Merge"
)

// ArtifactName is the name of the output artifact (and ExternalArtifact) of one component of
// one variant: "<packagesource>-<variant>-<component>" with every dot turned into a dash.
func ArtifactName(packageSource, variant, component string) string {
	dash := func(s string) string { return strings.ReplaceAll(s, ".", "-") }
	return dash(packageSource) + "-" + dash(variant) + "-" + dash(component)
}

// basePath is the folder inside the source that component paths are relative to.
func basePath(ref *v1alpha1.PackageSourceRef) string {
	if ref.Path != "" {
		return strings.Trim(ref.Path, "/")
	}
	if ref.Kind == "OCIRepository" {
		return ""
	}
	return "packages"
}

// sourcePath joins "@alias" with the non-empty parts, each trimmed of slashes.
func sourcePath(alias string, parts ...string) string {
	out := "@" + alias
	for _, p := range parts {
		if p = strings.Trim(p, "/"); p != "" {
			out += "/" + p
		}
	}
	return out
}

func lastSegment(path string) string {
	return path[strings.LastIndex(path, "/")+1:]
}

// Generator builds the ArtifactGenerator of ps. It returns false when there is nothing to
// generate: no sourceRef, or no component with a usable path.
func Generator(ps *v1alpha1.PackageSource) (*sw.ArtifactGenerator, bool) {
	ref := ps.Spec.SourceRef
	if ref == nil {
		return nil, false
	}
	alias, base := ref.Name, basePath(ref)
	var outputs []sw.OutputArtifact
	for _, v := range ps.Spec.Variants {
		libs := map[string]string{}
		for _, l := range v.Libraries {
			name := l.Name
			if name == "" {
				name = lastSegment(l.Path)
			}
			libs[name] = l.Path
		}
		for _, c := range v.Components {
			dir := lastSegment(c.Path)
			if c.Path == "" || dir == "" {
				continue
			}
			outputs = append(outputs, sw.OutputArtifact{
				Name: ArtifactName(ps.Name, v.Name, c.Name),
				Copy: copyOps(alias, base, dir, c, libs),
			})
		}
	}
	if len(outputs) == 0 {
		return nil, false
	}
	isController := true
	return &sw.ArtifactGenerator{
		TypeMeta: metav1.TypeMeta{APIVersion: sw.GroupVersion.String(), Kind: sw.ArtifactGeneratorKind},
		ObjectMeta: metav1.ObjectMeta{
			Name:      ps.Name,
			Namespace: v1alpha1.SystemNamespace,
			Labels:    map[string]string{v1alpha1.LabelPackageSource: ps.Name},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: v1alpha1.GroupVersion.String(), Kind: "PackageSource",
				Name: ps.Name, UID: ps.UID, Controller: &isController,
			}},
		},
		Spec: sw.ArtifactGeneratorSpec{
			Sources:         []sw.SourceReference{{Alias: alias, Kind: ref.Kind, Name: ref.Name, Namespace: ref.Namespace}},
			OutputArtifacts: outputs,
		},
	}, true
}

// copyOps are, in order: the chart directory, each known library into charts/<name>/, then the
// values files into values.yaml — the first overwriting the chart's, the rest merged over it.
func copyOps(alias, base, dir string, c v1alpha1.Component, libs map[string]string) []sw.CopyOperation {
	ops := []sw.CopyOperation{{From: sourcePath(alias, base, c.Path, "**"), To: "@artifact/" + dir + "/"}}
	for _, name := range c.Libraries {
		path, ok := libs[name]
		if !ok {
			continue // upstream drops unknown library names silently; the Package reports nothing either
		}
		ops = append(ops, sw.CopyOperation{From: sourcePath(alias, base, path, "**"), To: "@artifact/" + dir + "/charts/" + name + "/"})
	}
	for i, f := range c.ValuesFiles {
		strategy := StrategyMerge
		if i == 0 {
			strategy = StrategyOverwrite
		}
		ops = append(ops, sw.CopyOperation{From: sourcePath(alias, base, c.Path, f), To: "@artifact/" + dir + "/values.yaml", Strategy: strategy})
	}
	return ops
}
