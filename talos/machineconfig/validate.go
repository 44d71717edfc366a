package machineconfig

import (
	"fmt"

	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/configloader"
)

// NoCloudMode is the validation.RuntimeMode of a Talos node booted from the nocloud disk image.
//
// machinery exports no RuntimeMode implementation. The nocloud platform runs in cloud mode: the
// image is already on the disk, so the config need not describe an install, and it is not a
// container.
type NoCloudMode struct{}

// String names the mode in validation messages.
func (NoCloudMode) String() string { return "cloud" }

// RequiresInstall is false: the nocloud image boots from its own disk.
func (NoCloudMode) RequiresInstall() bool { return false }

// InContainer is false: the node is a VM.
func (NoCloudMode) InContainer() bool { return false }

// Validate checks cfg as a nocloud node would before using it, and returns machinery's warnings.
func Validate(cfg config.Provider) ([]string, error) {
	warnings, err := cfg.Validate(NoCloudMode{})
	if err != nil {
		return warnings, fmt.Errorf("validate config: %w", err)
	}

	return warnings, nil
}

// ValidateBytes parses a machine config and validates it as Validate does.
func ValidateBytes(data []byte) (config.Provider, []string, error) {
	cfg, err := configloader.NewFromBytes(data)
	if err != nil {
		return nil, nil, fmt.Errorf("parse config: %w", err)
	}

	warnings, err := Validate(cfg)
	if err != nil {
		return nil, warnings, err
	}

	return cfg, warnings, nil
}
