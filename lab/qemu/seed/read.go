package seed

import (
	"fmt"
	"io"

	"github.com/kdomanski/iso9660"
	"sigs.k8s.io/yaml"
)

// Files are the raw contents of a seed image. A file the image lacks is nil.
type Files struct {
	MetaData      []byte
	NetworkConfig []byte
	UserData      []byte
}

// Read reads the three seed files from an ISO 9660 image labelled cidata (in either case).
func Read(r io.ReaderAt) (Files, error) {
	img, err := iso9660.OpenImage(r)
	if err != nil {
		return Files{}, fmt.Errorf("open seed image: %w", err)
	}
	label, err := img.Label()
	if err != nil {
		return Files{}, fmt.Errorf("read seed label: %w", err)
	}
	if label != VolumeLabel && label != "CIDATA" {
		return Files{}, fmt.Errorf("read seed: volume label is %q, want %q", label, VolumeLabel)
	}
	root, err := img.RootDir()
	if err != nil {
		return Files{}, fmt.Errorf("read seed root directory: %w", err)
	}
	children, err := root.GetChildren()
	if err != nil {
		return Files{}, fmt.Errorf("list seed root directory: %w", err)
	}
	var files Files
	for _, f := range children {
		var dst *[]byte
		switch f.Name() {
		case MetaDataFile:
			dst = &files.MetaData
		case NetworkConfigFile:
			dst = &files.NetworkConfig
		case UserDataFile:
			dst = &files.UserData
		default:
			continue
		}
		b, err := io.ReadAll(f.Reader())
		if err != nil {
			return Files{}, fmt.Errorf("read seed file %s: %w", f.Name(), err)
		}
		*dst = b
	}
	return files, nil
}

// ParseMetaData parses a meta-data file.
func ParseMetaData(b []byte) (MetaData, error) {
	var m MetaData
	if err := yaml.UnmarshalStrict(b, &m); err != nil {
		return MetaData{}, fmt.Errorf("parse meta-data: %w", err)
	}
	return m, nil
}

// ParseNetworkConfig parses a version 2 network-config file.
func ParseNetworkConfig(b []byte) (NetworkConfig, error) {
	var n NetworkConfig
	if err := yaml.UnmarshalStrict(b, &n); err != nil {
		return NetworkConfig{}, fmt.Errorf("parse network-config: %w", err)
	}
	if n.Version != 2 {
		return NetworkConfig{}, fmt.Errorf("parse network-config: version %d, want 2", n.Version)
	}
	return n, nil
}
