package installer_test

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/cozylab/cozylab/packages/internal/charttest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.yaml from the current render")

// variants are the golden renders: the values each variant needs on top of values.yaml.
var variants = map[string]map[string]any{
	"talos":   nil,
	"generic": {"cozystackOperator": map[string]any{"variant": "generic"}, "cozystack": map[string]any{"apiServerHost": "192.168.123.11"}},
	"hosted": {"cozystackOperator": map[string]any{
		"variant": "hosted", "platformVersion": "v1.6.0", "disableTelemetry": true,
		"helmReleaseInterval": "30s", "helmReleaseRetryInterval": "1m", "helmReleaseInstallTimeout": "1h30m",
		"helmReleaseUpgradeTimeout": "15m", "helmReleaseMaxHistory": 0, "platformSourceSecret": "packages-pull",
		"platformSourceInsecure": true, "fluxRequeueDependency": "5s",
		"leaderElectLeaseDuration": "60s", "leaderElectRenewDeadline": "40s", "leaderElectRetryPeriod": "10s",
	}},
}

func render(values map[string]any) (string, error) {
	return charttest.Manifest(".", charttest.Options{ReleaseName: "installer", Namespace: "cozy-system", Values: values})
}

// chartLabel is the chart's version label, which every release changes (release:prepare): the
// goldens hold it as cozy-installer-VERSION.
var chartLabel = regexp.MustCompile(`helm\.sh/chart: cozy-installer-[^\s]+`)

func TestGoldenRender(t *testing.T) {
	for name, values := range variants {
		t.Run(name, func(t *testing.T) {
			got, err := render(values)
			require.NoError(t, err)
			got = chartLabel.ReplaceAllString(got, "helm.sh/chart: cozy-installer-VERSION")
			golden := filepath.Join("testdata", name+".golden.yaml")
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test ./packages/core/installer -update to create it")
			assert.Equal(t, string(want), got)
		})
	}
}

// TestSchemaRefuses checks values.schema.json: each bad value fails rendering with Helm's
// schema error naming the offending field.
func TestSchemaRefuses(t *testing.T) {
	op := func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return map[string]any{"cozystackOperator": m}
	}
	cases := map[string]struct {
		values map[string]any
		field  string
	}{
		"unknown variant":             {op("variant", "kind"), "/cozystackOperator/variant"},
		"generic without host":        {op("variant", "generic"), "/cozystack/apiServerHost"},
		"host with scheme":            {map[string]any{"cozystack": map[string]any{"apiServerHost": "https://10.0.0.1"}}, "/cozystack/apiServerHost"},
		"duration without unit":       {op("helmReleaseInterval", "5"), "/cozystackOperator/helmReleaseInterval"},
		"duration with bad unit":      {op("helmReleaseRetryInterval", "30sec"), "/cozystackOperator/helmReleaseRetryInterval"},
		"Flux requeue not a duration": {op("fluxRequeueDependency", "soon"), "/cozystackOperator/fluxRequeueDependency"},
		"lease not a duration":        {op("leaderElectLeaseDuration", "1 minute"), "/cozystackOperator/leaderElectLeaseDuration"},
		"duration as words":           {op("helmReleaseInstallTimeout", "ten minutes"), "/cozystackOperator/helmReleaseInstallTimeout"},
		"negative duration":           {op("helmReleaseUpgradeTimeout", "-1m"), "/cozystackOperator/helmReleaseUpgradeTimeout"},
		"negative max history":        {op("helmReleaseMaxHistory", -1), "/cozystackOperator/helmReleaseMaxHistory"},
		"image tagged latest":         {op("image", "ghcr.io/cozystack/cozystack/cozystack-operator:latest"), "/cozystackOperator/image"},
		"image without tag":           {op("image", "ghcr.io/cozystack/cozystack/cozystack-operator"), "/cozystackOperator/image"},
		"source url without proto":    {op("platformSourceUrl", "ghcr.io/x/y"), "/cozystackOperator/platformSourceUrl"},
		"unknown key":                 {op("replicas", 2), "/cozystackOperator"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := render(c.values)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "values don't meet the specifications of the schema")
			assert.Contains(t, err.Error(), "'"+c.field+"'")
		})
	}
}

func TestSchemaAccepts(t *testing.T) {
	for _, d := range []string{"30s", "5m", "1h30m", "1.5h", "250ms", ""} {
		_, err := render(map[string]any{"cozystackOperator": map[string]any{"helmReleaseInterval": d}})
		assert.NoError(t, err, d)
	}
}

// TestAPIEndpointPerVariant pins what each variant tells the operator about the API server.
func TestAPIEndpointPerVariant(t *testing.T) {
	want := map[string][]corev1.EnvVar{
		"talos":   {{Name: "KUBERNETES_SERVICE_HOST", Value: "localhost"}, {Name: "KUBERNETES_SERVICE_PORT", Value: "7445"}},
		"generic": {{Name: "KUBERNETES_SERVICE_HOST", Value: "192.168.123.11"}, {Name: "KUBERNETES_SERVICE_PORT", Value: "6443"}},
		"hosted":  {{Name: "COZYSTACK_VERSION", Value: "v1.6.0"}},
	}
	for name, env := range want {
		t.Run(name, func(t *testing.T) {
			d := deployment(t, variants[name])
			c := d.Spec.Template.Spec.Containers[0]
			assert.Equal(t, env, c.Env)
			assert.True(t, d.Spec.Template.Spec.HostNetwork)
			assert.Empty(t, c.Ports, "a surge pod on the host network would collide on a port")
			assert.Nil(t, c.LivenessProbe)
			assert.Nil(t, c.ReadinessProbe)
			assert.Subset(t, c.Args, []string{"--leader-elect=true", "--install-flux=true", "--install-crds=true",
				"--metrics-bind-address=0", "--health-probe-bind-address=0"})
			assert.Equal(t, 1, d.Spec.Strategy.RollingUpdate.MaxSurge.IntValue())
			assert.Equal(t, 0, d.Spec.Strategy.RollingUpdate.MaxUnavailable.IntValue())
		})
	}
}

func TestMaxHistoryZeroIsPassed(t *testing.T) {
	d := deployment(t, map[string]any{"cozystackOperator": map[string]any{"helmReleaseMaxHistory": 0}})
	assert.Contains(t, d.Spec.Template.Spec.Containers[0].Args, "--helmrelease-max-history=0")
	d = deployment(t, nil)
	for _, a := range d.Spec.Template.Spec.Containers[0].Args {
		assert.NotContains(t, a, "--helmrelease-", "an empty knob leaves the operator's default")
	}
}

func deployment(t *testing.T, values map[string]any) *appsv1.Deployment {
	t.Helper()
	objs, err := charttest.Render(".", charttest.Options{ReleaseName: "installer", Namespace: "cozy-system", Values: values})
	require.NoError(t, err)
	for _, o := range objs {
		if o.GetKind() == "Deployment" {
			d := &appsv1.Deployment{}
			require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, d))
			return d
		}
	}
	t.Fatal("the chart renders no Deployment")
	return nil
}
