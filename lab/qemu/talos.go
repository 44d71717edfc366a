package qemu

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/cozylab/cozylab/lab/qemu/talosimage"
	"github.com/cozylab/cozylab/lab/qemu/vm"
)

// talosOptions are the Talos image options Up recorded, with defaults filled in. Up checked
// them already, so an error here leaves them as recorded and Ensure reports it.
func (l *lab) talosOptions() talosimage.Options {
	o := recordedTalos(l.Store.Value)
	o.Progress = l.Progress
	if withDefaults, err := o.WithDefaults(); err == nil {
		return withDefaults
	}
	return o
}

// recordedTalos reads the Talos image request from state values.
func recordedTalos(value func(string) string) talosimage.Options {
	return talosimage.Options{
		Version: value(KeyTalosVersion), Schematic: value(KeyTalosSchematic), SHA256: value(KeyTalosPin),
	}
}

// downloadTalos makes sure the Talos image is in the cache and records which one the nodes
// boot, with its digest.
func (l *lab) downloadTalos(ctx context.Context) error {
	img, err := talosimage.Ensure(ctx, l.talosOptions())
	if err != nil {
		return err
	}
	raw, err := json.Marshal(img)
	if err != nil {
		return fmt.Errorf("encode the Talos image: %w", err)
	}
	l.talosImage = img.Path
	return l.Store.Set(map[string]string{KeyTalosImage: string(raw)})
}

// writeDisks gives every node its own system disk (a sparse copy of the image, grown) and an
// empty sparse data disk.
func (l *lab) writeDisks(context.Context) error {
	step := l.Progress.Begin(fmt.Sprintf("Writing node disks (%d nodes: %d GiB system, %d GiB data, sparse)",
		NodeCount, talosimage.SystemDiskSize>>30, talosimage.DataDiskSize>>30))
	for _, name := range NodeNames(NodeCount) {
		p := NodePaths(l.Dir, name)
		if err := os.MkdirAll(p.Dir, 0o700); err != nil {
			return step.Done(fmt.Errorf("create node directory %s: %w", p.Dir, err))
		}
		step.Status("%s: copying the image", name)
		if err := talosimage.SystemDisk(l.talosImage, p.SystemDisk, talosimage.SystemDiskSize); err != nil {
			return step.Done(err)
		}
		if err := talosimage.DataDisk(p.DataDisk, talosimage.DataDiskSize); err != nil {
			return step.Done(err)
		}
	}
	return step.Done(nil)
}

// nodeImageLine is the output line saying which image the nodes boot, and why.
func nodeImageLine(image string, talos talosimage.Options, accel vm.Accel) (string, string) {
	if image != NodeImageTalos {
		return "Node image: " + NodeImageTwin, "the default; LAB_NODE_IMAGE=talos boots real Talos on a KVM host"
	}
	title := fmt.Sprintf("Node image: talos %s (schematic %s)", talos.Version, talos.Schematic)
	if accel != vm.KVM {
		return title, "LAB_NODE_IMAGE=talos; no KVM here, so Talos boots under TCG: expect it to be very slow"
	}
	return title, "LAB_NODE_IMAGE=talos, nocloud disk image from " + talos.BaseURL
}
