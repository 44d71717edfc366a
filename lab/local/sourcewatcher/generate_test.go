package sourcewatcher

import (
	"testing"

	sw "github.com/fluxcd/source-watcher/api/v2/v1beta1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRevisions(t *testing.T) {
	sources := map[string]source{"pkgs": {observed: sw.ObservedSource{Revision: "v1.2.0@sha256:abc", OriginRevision: "main@sha1:def"}}}

	rev, origin, err := revisions(sw.OutputArtifact{}, sources, "sha256:123")
	require.NoError(t, err)
	assert.Equal(t, "latest@sha256:123", rev)
	assert.Empty(t, origin)

	rev, origin, err = revisions(sw.OutputArtifact{Revision: "@pkgs", OriginRevision: "@pkgs"}, sources, "sha256:123")
	require.NoError(t, err)
	assert.Equal(t, "v1.2.0@sha256:abc", rev)
	assert.Equal(t, "main@sha1:def", origin)

	_, _, err = revisions(sw.OutputArtifact{Revision: "@nope"}, sources, "sha256:123")
	assert.ErrorContains(t, err, `revision "@nope" must name a source`)
	_, _, err = revisions(sw.OutputArtifact{OriginRevision: "pkgs"}, sources, "sha256:123")
	assert.ErrorContains(t, err, `originRevision "pkgs" must name a source`)
}
