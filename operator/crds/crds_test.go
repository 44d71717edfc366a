package crds

import (
	"io/fs"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

func load(t *testing.T, name string) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	raw, err := fs.ReadFile(FS, name)
	require.NoError(t, err)
	crd := &apiextensionsv1.CustomResourceDefinition{}
	require.NoError(t, yaml.Unmarshal(raw, crd))
	return crd
}

func enum(p apiextensionsv1.JSONSchemaProps) []string {
	var out []string
	for _, e := range p.Enum {
		out = append(out, string(e.Raw))
	}
	return out
}

func TestPackageSourceSchema(t *testing.T) {
	crd := load(t, "cozystack.io_packagesources.yaml")
	assert.Equal(t, apiextensionsv1.ClusterScoped, crd.Spec.Scope)
	assert.Equal(t, []string{"pks"}, crd.Spec.Names.ShortNames)
	spec := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
	ref := spec.Properties["sourceRef"]
	assert.ElementsMatch(t, []string{"kind", "name", "namespace"}, ref.Required)
	assert.Equal(t, []string{`"GitRepository"`, `"OCIRepository"`}, enum(ref.Properties["kind"]))
	install := spec.Properties["variants"].Items.Schema.Properties["components"].Items.Schema.Properties["install"]
	assert.Equal(t, []string{`"Skip"`, `"Create"`, `"CreateReplace"`}, enum(install.Properties["upgradeCRDs"]))
	assert.Equal(t, []string{`"poller"`, `"legacy"`}, enum(install.Properties["waitStrategy"]))
}

func TestPackageSchema(t *testing.T) {
	crd := load(t, "cozystack.io_packages.yaml")
	assert.Equal(t, []string{"pkg", "pkgs"}, crd.Spec.Names.ShortNames)
	v := crd.Spec.Versions[0]
	require.NotNil(t, v.Subresources.Status)
	var cols []string
	for _, c := range v.AdditionalPrinterColumns {
		cols = append(cols, c.Name)
	}
	assert.Equal(t, []string{"Variant", "Ready", "Releases", "Status"}, cols)
	values := v.Schema.OpenAPIV3Schema.Properties["spec"].Properties["components"].AdditionalProperties.Schema.Properties["values"]
	require.NotNil(t, values.XPreserveUnknownFields)
	assert.True(t, *values.XPreserveUnknownFields)
}

func TestApplicationDefinitionSchema(t *testing.T) {
	crd := load(t, "cozystack.io_applicationdefinitions.yaml")
	v := crd.Spec.Versions[0]
	assert.Nil(t, v.Subresources, "no status subresource, as upstream")
	spec := v.Schema.OpenAPIV3Schema.Properties["spec"]
	assert.ElementsMatch(t, []string{"application", "release"}, spec.Required)
	assert.Equal(t, "^[a-z0-9-]*$", spec.Properties["release"].Properties["prefix"].Pattern)
}

func TestOperatorListsExistingFiles(t *testing.T) {
	for _, n := range Operator {
		_, err := fs.Stat(FS, n)
		assert.NoError(t, err, n)
	}
}
