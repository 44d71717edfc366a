// Package talosimage provides the Talos nocloud disk image a QEMU lab node boots from, and the
// disks made from it.
//
// The image comes from the Talos Image Factory by version and schematic
// (<BaseURL>/image/<schematic>/<version>/nocloud-amd64.raw.xz). It is streamed once through a
// SHA-256 hasher, a byte counter and an xz decoder in Go into a temporary file in the cache,
// and renamed into place only when every check passed, so the cache never holds half an image:
// <cache>/<version>/<schematic>/nocloud-amd64.raw. The factory publishes no checksums, so the
// SHA-256 of the first download is recorded next to the image and reported; a user pins it
// (LAB_TALOS_IMAGE_SHA256) to make every later download prove it got the same bytes.
//
// Each node then gets its own system disk, a sparse copy of the cached image grown to
// SystemDiskSize (Talos grows its partitions to fill it), and a sparse data disk of
// DataDiskSize.
package talosimage
