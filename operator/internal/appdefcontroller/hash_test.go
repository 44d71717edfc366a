package appdefcontroller

import (
	"regexp"
	"testing"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

func definition(name, kind string) v1alpha1.ApplicationDefinition {
	return v1alpha1.ApplicationDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.ApplicationDefinitionSpec{
			Application: v1alpha1.ApplicationDefinitionApplication{Kind: kind, OpenAPISchema: "{}", Plural: "xs", Singular: "x"},
			Release: v1alpha1.ApplicationDefinitionRelease{
				ChartRef: &helmv2.CrossNamespaceSourceReference{Kind: "ExternalArtifact", Name: name},
				Prefix:   name + "-",
			},
		},
	}
}

func mustHash(t *testing.T, defs ...v1alpha1.ApplicationDefinition) string {
	t.Helper()
	h, err := ConfigHash(defs)
	require.NoError(t, err)
	return h
}

func TestConfigHashFormat(t *testing.T) {
	h := mustHash(t, definition("vm-disk", "VMDisk"))
	assert.Regexp(t, regexp.MustCompile(`^[0-9a-f]{64}$`), h)
	// The SHA-256 of "[]": an empty set has a hash too, so cozystack-api restarts when the last
	// definition goes.
	assert.Equal(t, "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945", mustHash(t))
}

func TestConfigHash(t *testing.T) {
	a, b, c := definition("a-db", "ADB"), definition("b-cache", "BCache"), definition("c-disk", "CDisk")
	base := mustHash(t, a, b, c)

	relabelled := b
	relabelled.Labels = map[string]string{"team": "x"}
	relabelled.Annotations = map[string]string{"note": "y"}
	relabelled.ResourceVersion, relabelled.Generation, relabelled.UID = "42", 7, "uid"

	respec := b
	respec.Spec.Application.OpenAPISchema = `{"type":"object"}`
	renamed := b
	renamed.Name = "b-cache2"

	for _, tc := range []struct {
		name string
		defs []v1alpha1.ApplicationDefinition
		same bool
	}{
		{name: "another order", defs: []v1alpha1.ApplicationDefinition{c, a, b}, same: true},
		{name: "reversed order", defs: []v1alpha1.ApplicationDefinition{c, b, a}, same: true},
		{name: "labels, annotations and other metadata", defs: []v1alpha1.ApplicationDefinition{a, relabelled, c}, same: true},
		{name: "a spec change", defs: []v1alpha1.ApplicationDefinition{a, respec, c}},
		{name: "a rename", defs: []v1alpha1.ApplicationDefinition{a, renamed, c}},
		{name: "a definition removed", defs: []v1alpha1.ApplicationDefinition{a, c}},
		{name: "a definition added", defs: []v1alpha1.ApplicationDefinition{a, b, c, definition("d", "D")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := mustHash(t, tc.defs...)
			if tc.same {
				assert.Equal(t, base, got)
			} else {
				assert.NotEqual(t, base, got)
			}
		})
	}
}

func TestConfigHashLeavesItsInputAlone(t *testing.T) {
	defs := []v1alpha1.ApplicationDefinition{definition("b", "B"), definition("a", "A")}
	mustHash(t, defs...)
	assert.Equal(t, "b", defs[0].Name)
}
