package cozypkg

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

func TestTruncate(t *testing.T) {
	tests := []struct {
		in    string
		width int
		want  string
	}{
		{in: "", width: 28, want: ""},
		{in: strings.Repeat("v", 28), width: 28, want: strings.Repeat("v", 28)},
		{in: strings.Repeat("v", 29), width: 28, want: strings.Repeat("v", 25) + "..."},
		{in: strings.Repeat("s", 48), width: 48, want: strings.Repeat("s", 48)},
		{in: strings.Repeat("s", 49), width: 48, want: strings.Repeat("s", 45) + "..."},
		{in: strings.Repeat("é", 30), width: 28, want: strings.Repeat("é", 25) + "..."},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, truncate(tt.in, tt.width), "%q", tt.in)
	}
}

func ready(status metav1.ConditionStatus, message string) []metav1.Condition {
	return []metav1.Condition{
		{Type: "Other", Status: metav1.ConditionFalse, Message: "not this one"},
		{Type: v1alpha1.ConditionReady, Status: status, Message: message},
	}
}

func TestReadyColumns(t *testing.T) {
	r, s := readyColumns(nil)
	assert.Equal(t, []string{"Unknown", ""}, []string{r, s})
	r, s = readyColumns(ready(metav1.ConditionFalse, "line one\n\tline two"))
	assert.Equal(t, []string{"False", "line one line two"}, []string{r, s}, "tabs and newlines would break the columns")
}

func withComponents(v v1alpha1.Variant, names ...string) v1alpha1.Variant {
	for _, n := range names {
		v.Components = append(v.Components, v1alpha1.Component{Name: n, Path: n})
	}
	return v
}

func TestPackageSourceTable(t *testing.T) {
	long := source("cozystack.long",
		variant("first-variant-name"), variant("second-variant-name"), variant("third"))
	long.Status.Conditions = ready(metav1.ConditionTrue, strings.Repeat("m", 60))
	net := source("cozystack.networking",
		withComponents(variant("cilium"), "cilium", "cilium-networkpolicy"), withComponents(variant("kubeovn"), "kubeovn"))
	net.Status.Conditions = ready(metav1.ConditionFalse, "artifact not ready")
	items := []v1alpha1.PackageSource{long, net, source("x")}

	var plain bytes.Buffer
	require.NoError(t, writeTable(&plain, sourceRows(items, false)))
	assert.Equal(t, ""+
		"NAME                   VARIANTS                       READY     STATUS\n"+
		"cozystack.long         first-variant-name,second...   True      mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm...\n"+
		"cozystack.networking   cilium,kubeovn                 False     artifact not ready\n"+
		"x                                                     Unknown\n", plain.String())

	var comps bytes.Buffer
	require.NoError(t, writeTable(&comps, sourceRows(items[1:], true)))
	assert.Equal(t, ""+
		"NAME                                          VARIANTS         READY     STATUS\n"+
		"cozystack.networking                          cilium,kubeovn   False     artifact not ready\n"+
		"  cozystack.networking.cilium                 cilium\n"+
		"  cozystack.networking.cilium-networkpolicy   cilium\n"+
		"  cozystack.networking.kubeovn                kubeovn\n"+
		"x                                                              Unknown\n", comps.String())
}

func TestPackageTable(t *testing.T) {
	net := source("cozystack.networking",
		withComponents(variant("cilium"), "cilium"), withComponents(variant("default"), "kubeovn", "ovn-webhook"))
	pkgs := []v1alpha1.Package{
		{ObjectMeta: metav1.ObjectMeta{Name: "cozystack.networking"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "cozystack.nosource"}, Spec: v1alpha1.PackageSpec{Variant: "big"}},
	}
	pkgs[0].Status.Conditions = ready(metav1.ConditionTrue, "reconciliation succeeded, generated 2 helmrelease(s)")
	sources := sourceMap([]v1alpha1.PackageSource{net})

	var out bytes.Buffer
	require.NoError(t, writeTable(&out, packageRows(pkgs, sources, true)))
	assert.Equal(t, ""+
		"NAME                                 VARIANT   READY     STATUS\n"+
		"cozystack.networking                 default   True      reconciliation succeeded, generated 2 helmrel...\n"+
		"  cozystack.networking.kubeovn       default\n"+
		"  cozystack.networking.ovn-webhook   default\n"+
		"cozystack.nosource                   big       Unknown\n", out.String(),
		"an empty variant is default; components of that variant only; no source, no components")
}
