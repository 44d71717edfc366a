package registry

import (
	"context"
	"fmt"
	"io/fs"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Flux artifact media types, as github.com/fluxcd/pkg/oci (what `flux push artifact` and
// source-controller use) defines them.
const (
	FluxConfigMediaType  types.MediaType = "application/vnd.cncf.flux.config.v1+json"
	FluxContentMediaType types.MediaType = "application/vnd.cncf.flux.content.v1.tar+gzip"
)

// OCI annotation keys Flux writes on an artifact's manifest and source-controller copies into
// status.artifact.metadata.
const (
	AnnotationCreated  = "org.opencontainers.image.created"
	AnnotationSource   = "org.opencontainers.image.source"
	AnnotationRevision = "org.opencontainers.image.revision"
)

// ArtifactMeta is the provenance written on an artifact's manifest. Every field is optional and
// part of the manifest digest: pass fixed values (a commit and its time, not time.Now) to keep
// pushes of the same tree reproducible.
type ArtifactMeta struct {
	// Created becomes org.opencontainers.image.created (RFC 3339, UTC); omitted when zero.
	Created time.Time
	// Source becomes org.opencontainers.image.source, such as a repository URL.
	Source string
	// Revision becomes org.opencontainers.image.revision, such as "main@sha1:<commit>".
	Revision string
}

// annotations returns the manifest annotations for m, leaving out empty fields.
func (m ArtifactMeta) annotations() map[string]string {
	a := map[string]string{}
	if !m.Created.IsZero() {
		a[AnnotationCreated] = m.Created.UTC().Format(time.RFC3339)
	}
	if m.Source != "" {
		a[AnnotationSource] = m.Source
	}
	if m.Revision != "" {
		a[AnnotationRevision] = m.Revision
	}
	return a
}

// PushDirectory pushes the tree fsys (os.DirFS(dir), packages.FS, or an fs.Sub of either) to
// ref ("<registry>/<repo>:<tag>") as a Flux artifact: an OCI manifest whose config has the Flux
// config media type and go-containerregistry's empty config, and one Flux content layer, a gzip
// tar of the tree with relative paths. The same tree and meta always give the same digest.
func PushDirectory(ctx context.Context, fsys fs.FS, ref string, meta ArtifactMeta) (Pushed, error) {
	img, err := FluxArtifact(fsys, meta)
	if err != nil {
		return Pushed{}, err
	}
	return write(ctx, ref, img)
}

// FluxArtifact builds, without pushing, the image PushDirectory pushes.
func FluxArtifact(fsys fs.FS, meta ArtifactMeta) (v1.Image, error) {
	data, err := tarGzipFS(fsys)
	if err != nil {
		return nil, fmt.Errorf("archive artifact content: %w", err)
	}
	layer, err := tarball.LayerFromOpener(gzipLayerOpener(data), tarball.WithMediaType(FluxContentMediaType))
	if err != nil {
		return nil, fmt.Errorf("make artifact layer: %w", err)
	}
	// The order and calls are those of fluxcd/pkg/oci Client.Push, so the artifact is shaped
	// exactly like one made by `flux push artifact`.
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, FluxConfigMediaType)
	if a := meta.annotations(); len(a) > 0 {
		img = mutate.Annotations(img, a).(v1.Image)
	}
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer})
	if err != nil {
		return nil, fmt.Errorf("append artifact layer: %w", err)
	}
	return img, nil
}
