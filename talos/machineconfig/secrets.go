package machineconfig

import (
	"errors"
	"fmt"
	"github.com/cozylab/cozylab/internal/atomicfile"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/generate/secrets"
	"go.yaml.in/yaml/v4"
)

// secretsFileMode keeps the bundle readable by its owner only: it holds every CA key of the cluster.
const secretsFileMode fs.FileMode = 0o600

// LoadOrCreateSecrets returns the secrets bundle stored at path, creating and saving a new one
// when the file does not exist yet.
//
// Re-using the stored bundle is what lets a re-run of the lab resume: regenerated configs keep
// the same CAs and tokens, so nodes that already run keep trusting the new talosconfig.
func LoadOrCreateSecrets(path string) (*secrets.Bundle, error) {
	bundle, err := LoadSecrets(path)
	if err == nil {
		return bundle, nil
	}

	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}

	bundle, err = secrets.NewBundle(secrets.NewFixedClock(time.Now()), config.TalosVersionCurrent)
	if err != nil {
		return nil, fmt.Errorf("generate secrets bundle: %w", err)
	}

	if err := SaveSecrets(path, bundle); err != nil {
		return nil, err
	}

	return bundle, nil
}

// LoadSecrets reads a secrets bundle in the YAML format `talosctl gen secrets` writes and
// checks that it is complete.
func LoadSecrets(path string) (*secrets.Bundle, error) {
	bundle, err := secrets.LoadBundle(path)
	if err != nil {
		return nil, fmt.Errorf("load secrets bundle %s: %w", path, err)
	}

	if err := bundle.Validate(); err != nil {
		return nil, fmt.Errorf("validate secrets bundle %s: %w (delete the file to start a new cluster)", path, err)
	}

	return bundle, nil
}

// SaveSecrets writes bundle to path with mode 0600, atomically, so an interrupted write never
// leaves a truncated bundle behind.
func SaveSecrets(path string, bundle *secrets.Bundle) error {
	data, err := yaml.Marshal(bundle)
	if err != nil {
		return fmt.Errorf("encode secrets bundle: %w", err)
	}

	return writePrivateFile(path, data)
}

// writePrivateFile writes data to path with mode 0600, atomically, creating its directory 0700.
func writePrivateFile(path string, data []byte) error {
	dir := filepath.Dir(path)

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create directory %s: %w", dir, err)
	}

	return atomicfile.WriteFile(path, data, secretsFileMode)
}
