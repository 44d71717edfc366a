package sourcewatcher

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFetchFromLocalhost: with a localhost set (SOURCE_CONTROLLER_LOCALHOST in the Flux pod), an
// artifact whose URL names the source-controller Service is downloaded from the localhost
// address, path kept; without it the URL's own host is used.
func TestFetchFromLocalhost(t *testing.T) {
	data, err := Tarball(Tree{"chart/Chart.yaml": {Data: []byte("name: demo\n")}})
	require.NoError(t, err)
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.Path)
		_, _ = w.Write(data)
	}))
	defer srv.Close()
	local := strings.TrimPrefix(srv.URL, "http://")

	f := newFetcher(srv.Client(), local)
	tree, err := f.fetch(t.Context(), "http://flux.cozy-fluxcd.svc./ocirepository/ns/packages/x.tar.gz", "sha256:"+sha256Hex(data))
	require.NoError(t, err)
	assert.Equal(t, "name: demo\n", string(tree["chart/Chart.yaml"].Data))
	assert.Equal(t, []string{"/ocirepository/ns/packages/x.tar.gz"}, paths)

	_, err = newFetcher(srv.Client(), "").fetch(t.Context(), "http://flux.cozy-fluxcd.svc.invalid./x.tar.gz", "sha256:"+sha256Hex(data))
	require.Error(t, err, "without a localhost the URL's host is asked, and it does not exist")
	assert.Contains(t, err.Error(), "flux.cozy-fluxcd.svc.invalid")
}

// TestURLAdvertised: the artifact URLs name the advertised address (--storage-adv-addr) when one
// is set, so helm-controller recognises a source-watcher artifact by its host.
func TestURLAdvertised(t *testing.T) {
	assert.Equal(t, "http://source-watcher.cozy-fluxcd.svc", New(Options{AdvertiseAddr: "source-watcher.cozy-fluxcd.svc"}).URL())
	assert.Empty(t, New(Options{Addr: "127.0.0.1:0"}).URL(), "the listen address is known once listening")
}
