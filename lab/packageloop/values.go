package packageloop

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/strvals"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

// defaultValuesKey is the key read from a valuesFrom ConfigMap or Secret when none is named.
const defaultValuesKey = "values.yaml"

// ValuesFiles lists the chart values files recorded on hr by the operator (annotation
// cozyhr.cozystack.io/values-files, comma-separated), or spec.chart.spec.valuesFiles.
func ValuesFiles(hr *helmv2.HelmRelease) []string {
	var files []string
	if list := hr.Annotations[v1alpha1.AnnotationValuesFiles]; list != "" {
		for _, f := range strings.Split(list, ",") {
			if f = strings.TrimSpace(f); f != "" {
				files = append(files, f)
			}
		}
		return files
	}
	if hr.Spec.Chart != nil {
		return hr.Spec.Chart.Spec.ValuesFiles
	}
	return nil
}

// ApplyValuesFiles makes the values files, read from the chart directory dir, the chart's
// defaults as the operator's artifact does: the first replaces values.yaml, the rest are merged
// over it in order.
func ApplyValuesFiles(ch *chart.Chart, dir string, files []string) error {
	for i, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return fmt.Errorf("read values file %s: %w", f, err)
		}
		var layer map[string]any
		if err := yaml.Unmarshal(data, &layer); err != nil {
			return fmt.Errorf("parse values file %s: %w", f, err)
		}
		if i == 0 || ch.Values == nil {
			ch.Values = map[string]any{}
		}
		ch.Values = mergeMaps(ch.Values, layer)
	}
	return nil
}

// Compose builds the values helm-controller hands to Helm for hr (Helm then coalesces them over
// the chart defaults): each spec.valuesFrom reference in order, then spec.values on top.
// References are read from hr's namespace through c; a missing object or key is skipped when
// the reference is optional and an error otherwise.
func Compose(ctx context.Context, c client.Reader, hr *helmv2.HelmRelease) (map[string]any, error) {
	result := map[string]any{}
	for _, ref := range hr.Spec.ValuesFrom {
		raw, found, err := referencedValues(ctx, c, hr.Namespace, ref.Kind, ref.Name, ref.GetValuesKey())
		if err != nil {
			return nil, err
		}
		if !found {
			if ref.Optional {
				continue
			}
			return nil, fmt.Errorf("read values from %s %s/%s key %s: not found (create it, or mark the reference optional)",
				ref.Kind, hr.Namespace, ref.Name, ref.GetValuesKey())
		}
		if ref.TargetPath != "" {
			if err := setPath(result, ref.TargetPath, raw); err != nil {
				return nil, fmt.Errorf("set %s from %s %s/%s: %w", ref.TargetPath, ref.Kind, hr.Namespace, ref.Name, err)
			}
			continue
		}
		var layer map[string]any
		if err := yaml.Unmarshal([]byte(raw), &layer); err != nil {
			return nil, fmt.Errorf("parse values from %s %s/%s key %s: %w", ref.Kind, hr.Namespace, ref.Name, ref.GetValuesKey(), err)
		}
		result = mergeMaps(result, layer)
	}
	return mergeMaps(result, hr.GetValues()), nil
}

// referencedValues reads key of the ConfigMap or Secret name in namespace; found is false when
// the object or the key does not exist.
func referencedValues(ctx context.Context, c client.Reader, namespace, kind, name, key string) (string, bool, error) {
	ref := client.ObjectKey{Namespace: namespace, Name: name}
	switch kind {
	case "ConfigMap":
		var cm corev1.ConfigMap
		if err := c.Get(ctx, ref, &cm); err != nil {
			if apierrors.IsNotFound(err) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("get ConfigMap %s: %w", ref, err)
		}
		v, ok := cm.Data[key]
		return v, ok, nil
	case "Secret":
		var s corev1.Secret
		if err := c.Get(ctx, ref, &s); err != nil {
			if apierrors.IsNotFound(err) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("get Secret %s: %w", ref, err)
		}
		v, ok := s.Data[key]
		return string(v), ok, nil
	default:
		return "", false, fmt.Errorf("read values from %s %s: unsupported kind (use ConfigMap or Secret)", kind, ref)
	}
}

// setPath sets value at path in --set syntax, as helm-controller does for a targetPath: a value
// wrapped in single or double quotes is stored as a string without its quotes, any other value
// is typed by Helm's --set rules.
func setPath(values map[string]any, path, value string) error {
	quoted := len(value) >= 2 &&
		((strings.HasPrefix(value, `"`) && strings.HasSuffix(value, `"`)) ||
			(strings.HasPrefix(value, "'") && strings.HasSuffix(value, "'")))
	if quoted {
		return strvals.ParseIntoString(path+"="+strings.Trim(value, `"'`), values)
	}
	return strvals.ParseInto(path+"="+value, values)
}

// mergeMaps deep-merges b over a into a new map: nested maps merge, anything else in b wins.
func mergeMaps(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if bm, ok := v.(map[string]any); ok {
			if am, ok := out[k].(map[string]any); ok {
				out[k] = mergeMaps(am, bm)
				continue
			}
		}
		out[k] = v
	}
	return out
}
