package registry

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// OperatorBinaryPath is where the operator binary lives inside its image.
const OperatorBinaryPath = "/usr/bin/cozystack-operator"

// NonRootUser is the numeric user the operator image runs as (distroless "nonroot"); numeric,
// so the image needs no /etc/passwd.
const NonRootUser = "65532"

// MediaTypes chooses the manifest, config and layer media types of an image.
type MediaTypes int

// Media type families.
const (
	// OCIMediaTypes: application/vnd.oci.image.manifest.v1+json and friends.
	OCIMediaTypes MediaTypes = iota
	// DockerMediaTypes: application/vnd.docker.distribution.manifest.v2+json and friends.
	DockerMediaTypes
)

// ImageOptions configure PushBinaryImage. The zero value builds an OCI linux/amd64 image of the
// operator.
type ImageOptions struct {
	// Path is the binary's absolute path in the image and the entrypoint; OperatorBinaryPath
	// when empty.
	Path string
	// Args are appended to the entrypoint as the image's Cmd.
	Args []string
	// User is the image's user; NonRootUser when empty.
	User string
	// Arch is the image's architecture; "amd64" when empty. It must match the binary's.
	Arch string
	// MediaTypes selects OCI (default) or Docker media types.
	MediaTypes MediaTypes
	// Uncompressed stores the layer as a plain tar instead of gzip: for nodes that unpack it
	// under emulation (twins under TCG), where gunzip costs several times the transfer.
	Uncompressed bool
}

func (o ImageOptions) withDefaults() ImageOptions {
	if o.Path == "" {
		o.Path = OperatorBinaryPath
	}
	if o.User == "" {
		o.User = NonRootUser
	}
	if o.Arch == "" {
		o.Arch = "amd64"
	}
	return o
}

// PushBinaryImage pushes to ref an image holding only the static binary at binaryPath, mode
// 0755 at opts.Path, on an empty base: a single-platform image (no index), built without
// Docker. The same binary and options always give the same digest.
func PushBinaryImage(ctx context.Context, binaryPath, ref string, opts ImageOptions) (Pushed, error) {
	img, err := BinaryImage(binaryPath, opts)
	if err != nil {
		return Pushed{}, err
	}
	return write(ctx, ref, img)
}

// BinaryImage builds, without pushing, the image PushBinaryImage pushes.
func BinaryImage(binaryPath string, opts ImageOptions) (v1.Image, error) {
	opts = opts.withDefaults()
	if !path.IsAbs(opts.Path) || path.Clean(opts.Path) != opts.Path || opts.Path == "/" {
		return nil, fmt.Errorf("place binary at %q: want a clean absolute file path such as %s", opts.Path, OperatorBinaryPath)
	}
	data, err := os.ReadFile(binaryPath)
	if err != nil {
		return nil, fmt.Errorf("read binary: %w", err)
	}
	manifestType, configType, layerType := types.OCIManifestSchema1, types.OCIConfigJSON, types.OCILayer
	if opts.MediaTypes == DockerMediaTypes {
		manifestType, configType, layerType = types.DockerManifestSchema2, types.DockerConfigJSON, types.DockerLayer
	}
	var layer v1.Layer
	if opts.Uncompressed {
		layer, err = uncompressedBinaryLayer(opts.Path, data, opts.MediaTypes)
	} else {
		layer, err = BinaryLayer(opts.Path, data, layerType)
	}
	if err != nil {
		return nil, fmt.Errorf("archive binary %s: %w", binaryPath, err)
	}
	img := mutate.MediaType(empty.Image, manifestType)
	img = mutate.ConfigMediaType(img, configType)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: epoch}, CreatedBy: "cozylab: add " + opts.Path,
	}})
	if err != nil {
		return nil, fmt.Errorf("append binary layer: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read image config: %w", err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", opts.Arch
	cfg.Created = v1.Time{Time: epoch}
	cfg.Config.Entrypoint = []string{opts.Path}
	cfg.Config.Cmd = opts.Args
	cfg.Config.User = opts.User
	cfg.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, fmt.Errorf("set image config: %w", err)
	}
	return img, nil
}

// BinaryLayer is the layer holding data at the absolute path file (mode 0755, its parent
// directories 0755, owned by root, at a fixed time), its compressed bytes taken from the layer
// cache when an earlier build made them: the same binary always gives the same layer.
func BinaryLayer(file string, data []byte, mediaType types.MediaType) (v1.Layer, error) {
	blob, err := cachedBinaryLayer(file, data, func() ([]byte, error) {
		return tarGzip(func(tw *tar.Writer) error { return writeBinaryTree(tw, file, data) })
	})
	if err != nil {
		return nil, err
	}
	return tarball.LayerFromOpener(gzipLayerOpener(blob), tarball.WithMediaType(mediaType))
}

// uncompressedBinaryLayer is BinaryLayer as a plain tar: its digest is its diff ID.
func uncompressedBinaryLayer(file string, data []byte, family MediaTypes) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := writeBinaryTree(tw, file, data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("close tar: %w", err)
	}
	mediaType := types.OCIUncompressedLayer
	if family == DockerMediaTypes {
		mediaType = types.DockerUncompressedLayer
	}
	return static.NewLayer(buf.Bytes(), mediaType), nil
}

// writeBinaryTree writes the parent directories of file (0755) and then file itself (0755).
func writeBinaryTree(tw *tar.Writer, file string, data []byte) error {
	rel := strings.TrimPrefix(file, "/")
	parts := strings.Split(rel, "/")
	for i := 1; i < len(parts); i++ {
		if err := writeHeader(tw, strings.Join(parts[:i], "/")+"/", tar.TypeDir, dirMode, 0); err != nil {
			return err
		}
	}
	return writeFile(tw, rel, 0o755, data)
}
