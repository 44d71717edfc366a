package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kdomanski/iso9660"

	"github.com/cozylab/cozylab/talos/nocloud"
)

// seed is the NoCloud files found on Device; a missing one is nil.
type seed struct {
	Device string
	nocloud.Files
}

// findSeed scans the block devices under sysBlock for an iso9660 volume labelled cidata and reads
// it. Devices appear while drivers probe, so it looks again every half second until timeout.
func findSeed(ctx context.Context, sysBlock, devDir string, timeout time.Duration) (*seed, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	ticker := time.NewTicker(500 * time.Millisecond)
	defer ticker.Stop()

	for {
		s, err := scanSeed(sysBlock, devDir)
		if err == nil {
			return s, nil
		}

		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("find the cidata seed (attach an iso9660 volume labelled cidata): %w", err)
		case <-ticker.C:
		}
	}
}

// scanSeed looks once at every block device.
func scanSeed(sysBlock, devDir string) (*seed, error) {
	entries, err := os.ReadDir(sysBlock)
	if err != nil {
		return nil, fmt.Errorf("list block devices: %w", err)
	}

	var seen []string

	for _, e := range entries {
		dev := filepath.Join(devDir, e.Name())
		seen = append(seen, e.Name())

		s, err := readSeed(dev)
		if err == nil {
			return s, nil
		}
	}

	return nil, fmt.Errorf("no block device holds it (devices: %s)", strings.Join(seen, ", "))
}

// readSeed reads the NoCloud files from the iso9660 volume on dev, or fails if dev holds none.
func readSeed(dev string) (*seed, error) {
	f, err := os.Open(dev)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dev, err)
	}
	defer f.Close()

	img, err := iso9660.OpenImage(f)
	if err != nil {
		return nil, fmt.Errorf("read iso9660 on %s: %w", dev, err)
	}

	label, err := img.Label()
	if err != nil {
		return nil, fmt.Errorf("read label of %s: %w", dev, err)
	}

	if !strings.EqualFold(strings.TrimSpace(label), nocloud.VolumeLabel) {
		return nil, fmt.Errorf("%s is labelled %q, not %s", dev, label, nocloud.VolumeLabel)
	}

	root, err := img.RootDir()
	if err != nil {
		return nil, fmt.Errorf("read root of %s: %w", dev, err)
	}

	children, err := root.GetChildren()
	if err != nil {
		return nil, fmt.Errorf("list files of %s: %w", dev, err)
	}

	s := &seed{Device: dev}
	targets := map[string]*[]byte{
		seedName(nocloud.MetaDataFile):      &s.MetaData,
		seedName(nocloud.NetworkConfigFile): &s.NetworkConfig,
		seedName(nocloud.UserDataFile):      &s.UserData,
	}

	for _, c := range children {
		dst, ok := targets[seedName(c.Name())]
		if !ok || c.IsDir() {
			continue
		}

		if *dst, err = io.ReadAll(c.Reader()); err != nil {
			return nil, fmt.Errorf("read %s on %s: %w", c.Name(), dev, err)
		}
	}

	if s.MetaData == nil {
		return nil, fmt.Errorf("%s has no meta-data", dev)
	}

	return s, nil
}

// seedName folds a file name as plain iso9660 stores it (lower or upper case, '-' turned into
// '_' by writers without Rock Ridge) so meta-data and META_DATA match.
func seedName(name string) string {
	return strings.ReplaceAll(strings.ToLower(name), "-", "_")
}
