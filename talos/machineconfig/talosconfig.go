package machineconfig

import (
	"fmt"

	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"
)

// SaveTalosconfig writes cfg to path with mode 0600: it carries an admin client key.
//
// clientconfig.Config.Save is not used because it writes in place, where an interrupted write
// leaves a broken talosconfig behind.
func SaveTalosconfig(path string, cfg *clientconfig.Config) error {
	data, err := cfg.Bytes()
	if err != nil {
		return fmt.Errorf("encode talosconfig: %w", err)
	}

	return writePrivateFile(path, data)
}

// LoadTalosconfig reads a talosconfig written by SaveTalosconfig.
func LoadTalosconfig(path string) (*clientconfig.Config, error) {
	cfg, err := clientconfig.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load talosconfig %s: %w", path, err)
	}

	return cfg, nil
}
