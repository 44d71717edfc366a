package machineconfig

import (
	"fmt"
	"net/url"

	"github.com/siderolabs/talos/pkg/machinery/config/config"
	"github.com/siderolabs/talos/pkg/machinery/config/configpatcher"
	"github.com/siderolabs/talos/pkg/machinery/config/container"
	"github.com/siderolabs/talos/pkg/machinery/config/types/cri"
	"github.com/siderolabs/talos/pkg/machinery/config/types/meta"
)

// registriesPatch builds one RegistryMirrorConfig per HTTP registry, with the registry itself
// as its only endpoint over http://, then one per registry mirror. It uses the 1.13 document
// rather than the v1alpha1 machine.registries field, which machinery marks deprecated (and
// whose entries a document of the same name replaces). Nil when there are none.
func registriesPatch(o Options) (configpatcher.Patch, error) {
	if len(o.HTTPRegistries) == 0 && len(o.RegistryMirrors) == 0 {
		return nil, nil
	}

	docs := make([]config.Document, 0, len(o.HTTPRegistries)+len(o.RegistryMirrors))

	for _, r := range o.HTTPRegistries {
		mirror := cri.NewRegistryMirrorConfigV1Alpha1(r)
		mirror.RegistryEndpoints = []cri.RegistryEndpoint{{EndpointURL: meta.URL{URL: &url.URL{Scheme: "http", Host: r}}}}
		docs = append(docs, mirror)
	}

	for _, m := range o.RegistryMirrors {
		mirror := cri.NewRegistryMirrorConfigV1Alpha1(m.Host)

		for _, e := range m.Endpoints {
			u, err := url.Parse(e) // validated already
			if err != nil {
				return nil, fmt.Errorf("registry mirror %s: %w", m.Host, err)
			}

			mirror.RegistryEndpoints = append(mirror.RegistryEndpoints, cri.RegistryEndpoint{EndpointURL: meta.URL{URL: u}})
		}

		if m.SkipFallback {
			mirror.RegistrySkipFallback = new(true)
		}

		docs = append(docs, mirror)
	}

	c, err := container.New(docs...)
	if err != nil {
		return nil, fmt.Errorf("assemble registry mirror documents: %w", err)
	}

	return configpatcher.NewStrategicMergePatch(c), nil
}
