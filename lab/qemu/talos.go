package qemu

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/qemu/talosimage"
	"github.com/cozylab/cozylab/lab/qemu/vm"
	"github.com/cozylab/cozylab/lab/state"
)

// talosOptions are the Talos image options of the request, with defaults filled in. The edge
// checked them already, so an error here leaves them as requested and Ensure reports it.
func (l *lab) talosOptions() talosimage.Options {
	o := talosOptions(l.req.Talos)
	o.Progress = l.Progress
	if withDefaults, err := o.WithDefaults(); err == nil {
		return withDefaults
	}
	return o
}

// talosOptions turns a request's Talos image into talosimage options.
func talosOptions(t state.TalosImage) talosimage.Options {
	return talosimage.Options{Version: t.Version, Schematic: t.Schematic, SHA256: t.SHA256}
}

// downloadTalos makes sure the Talos image is in the cache and records which one the nodes
// boot, with its digest.
func (l *lab) downloadTalos(ctx context.Context, _ progress.Step) error {
	img, err := talosimage.Ensure(ctx, l.talosOptions())
	if err != nil {
		return err
	}
	l.talosImage = img.Path
	return state.UpdateFacts(l.store, func(f *facts) { f.TalosImage = &img })
}

// keepTalosImage resumes with the recorded image while its file is still in the cache.
func (l *lab) keepTalosImage(context.Context) error {
	f, err := state.LoadFacts[facts](l.store)
	if err != nil {
		return err
	}
	if f.TalosImage == nil {
		return errors.New("no Talos image recorded")
	}
	if _, err := os.Stat(f.TalosImage.Path); err != nil {
		return err
	}
	l.talosImage = f.TalosImage.Path
	return nil
}

// writeDisks gives every node its own system disk (a sparse copy of the image, grown) and an
// empty sparse data disk.
func (l *lab) writeDisks(_ context.Context, step progress.Step) error {
	step.Status("%d nodes: %d GiB system, %d GiB data, sparse", NodeCount, talosimage.SystemDiskSize>>30, talosimage.DataDiskSize>>30)
	for _, name := range NodeNames(NodeCount) {
		p := NodePaths(l.Dir, name)
		if err := os.MkdirAll(p.Dir, 0o700); err != nil {
			return fmt.Errorf("create node directory %s: %w", p.Dir, err)
		}
		step.Status("%s: copying the image", name)
		if err := talosimage.SystemDisk(l.talosImage, p.SystemDisk, talosimage.SystemDiskSize); err != nil {
			return err
		}
		if err := talosimage.DataDisk(p.DataDisk, talosimage.DataDiskSize); err != nil {
			return err
		}
	}
	return nil
}

// keepDisks resumes the nodes' disks (and what Talos wrote on them) while they exist.
func (l *lab) keepDisks(context.Context) error {
	for _, name := range NodeNames(NodeCount) {
		p := NodePaths(l.Dir, name)
		for _, d := range []string{p.SystemDisk, p.DataDisk} {
			if _, err := os.Stat(d); err != nil {
				return err
			}
		}
	}
	return nil
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
