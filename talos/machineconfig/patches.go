package machineconfig

import (
	"fmt"

	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/configpatcher"
)

// loadPatches parses the caller's patches, refusing anything but strategic merge.
//
// machinery would accept a JSON6902 patch here and fail later, on every node, with a message
// that does not say which patch is at fault; refusing it early names the patch and the fix.
func loadPatches(raw [][]byte) ([]configpatcher.Patch, error) {
	out := make([]configpatcher.Patch, 0, len(raw))

	for i, b := range raw {
		p, err := configpatcher.LoadPatch(b)
		if err != nil {
			return nil, fmt.Errorf("load patch %d: %w", i, err)
		}

		if _, ok := p.(configpatcher.StrategicMergePatch); !ok {
			return nil, fmt.Errorf("load patch %d: it is a JSON6902 patch (a list of operations), "+
				"which Talos 1.13 cannot apply to its multi-document configs; "+
				"write it as a strategic-merge patch (a partial machine config document)", i)
		}

		out = append(out, p)
	}

	return out, nil
}

// applyPatches applies patches to cfg in order.
func applyPatches(cfg config.Provider, patches []configpatcher.Patch) (config.Provider, error) {
	out, err := configpatcher.Apply(configpatcher.WithConfig(cfg), patches)
	if err != nil {
		return nil, err
	}

	return out.Config()
}
