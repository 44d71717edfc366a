package seed

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/cozylab/cozylab/internal/atomicfile"
	"io"
	"os"

	"github.com/kdomanski/iso9660"

	"github.com/cozylab/cozylab/talos/nocloud"
)

// Config is what one node's seed says; see nocloud.Config. It is an alias so callers describe
// a seed without importing talos/nocloud.
type Config = nocloud.Config

// Write writes files as an ISO 9660 image labelled nocloud.VolumeLabel to w.
func Write(w io.Writer, files nocloud.Files) error {
	iw, err := iso9660.NewWriter() // stages in a 0700 temporary directory
	if err != nil {
		return fmt.Errorf("create seed image writer: %w", err)
	}
	named := []struct {
		name string
		data []byte
	}{
		{nocloud.MetaDataFile, files.MetaData},
		{nocloud.NetworkConfigFile, files.NetworkConfig},
		{nocloud.UserDataFile, files.UserData},
	}
	for _, f := range named {
		if err := iw.AddFile(bytes.NewReader(f.data), f.name); err != nil {
			return errors.Join(fmt.Errorf("add %s to seed: %w", f.name, err), iw.Cleanup())
		}
	}
	if err := iw.WriteTo(w, nocloud.VolumeLabel); err != nil {
		return errors.Join(fmt.Errorf("write seed image: %w", err), iw.Cleanup())
	}
	return iw.Cleanup()
}

// WriteFile renders c and writes its seed image to path (mode 0600: user-data holds the
// cluster's secrets), replacing any file there only once the new image is complete.
func WriteFile(path string, c Config) error {
	files, err := nocloud.Render(c)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, 0o600, func(f *os.File) error { return Write(f, files) })
}
