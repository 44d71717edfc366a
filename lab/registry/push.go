package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Pushed describes an image or artifact written to a registry.
type Pushed struct {
	// Ref is the reference pushed to, "<registry>/<repo>:<tag>".
	Ref string
	// Digest is the manifest digest, "sha256:<hex>".
	Digest string
	// Revision is what source-controller reports in an OCIRepository's status.artifact.revision
	// for this tag: "<tag>@sha256:<hex>".
	Revision string
}

// DigestRef is the by-digest reference "<registry>/<repo>@sha256:<hex>", which never moves.
func (p Pushed) DigestRef() (string, error) {
	tag, err := parseTag(p.Ref)
	if err != nil {
		return "", err
	}
	return tag.Context().Digest(p.Digest).String(), nil
}

// parseTag parses a "<registry>/<repo>:<tag>" reference to the lab's plain-HTTP registry.
func parseTag(ref string) (name.Tag, error) {
	tag, err := name.NewTag(ref, name.Insecure, name.StrictValidation)
	if err != nil {
		return name.Tag{}, fmt.Errorf("parse reference %q (want <host:port>/<repo>:<tag>): %w", ref, err)
	}
	return tag, nil
}

// write pushes img to ref over plain HTTP and describes the result.
func write(ctx context.Context, ref string, img v1.Image) (Pushed, error) {
	tag, err := parseTag(ref)
	if err != nil {
		return Pushed{}, err
	}
	digest, err := img.Digest()
	if err != nil {
		return Pushed{}, fmt.Errorf("compute manifest digest of %s: %w", ref, err)
	}
	if err := remote.Write(tag, img, remote.WithContext(ctx)); err != nil {
		return Pushed{}, fmt.Errorf("push %s: %w", ref, err)
	}
	return Pushed{Ref: tag.String(), Digest: digest.String(), Revision: tag.TagStr() + "@" + digest.String()}, nil
}

// Holds reports whether ref is in its registry (plain HTTP) and, unless digest is zero, names
// that digest; a missing tag or repository is not an error.
func Holds(ctx context.Context, ref name.Reference, digest v1.Hash) (bool, error) {
	desc, err := remote.Head(ref, remote.WithContext(ctx))
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return digest == (v1.Hash{}) || desc.Digest == digest, nil
}
