package talosimage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ulikunitz/xz"

	"github.com/cozylab/cozylab/internal/progress"
)

const testVersion = "v1.13.6"

// rawImage is a small stand-in for a disk image: data, a long run of zeros, more data.
func rawImage() []byte {
	var b bytes.Buffer
	b.WriteString("TALOS-GPT-HEADER")
	b.Write(make([]byte, 3<<20))
	b.WriteString("TALOS-STATE")
	return b.Bytes()
}

func compress(t *testing.T, data []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := xz.NewWriter(&out)
	require.NoError(t, err)
	_, err = w.Write(data)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return out.Bytes()
}

func sum(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// factory serves handler for the image path of testVersion and the empty schematic, 404 for
// anything else, and counts the image requests.
func factory(t *testing.T, handler http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	path := "/image/" + EmptySchematic + "/" + testVersion + "/nocloud-amd64.raw.xz"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			http.NotFound(w, r)
			return
		}
		calls.Add(1)
		handler(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func serve(body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	}
}

// cacheFiles lists every file under dir (relative paths).
func cacheFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files = append(files, rel)
		return nil
	})
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	return files
}

func TestEnsureDownloadsOnceThenUsesTheCache(t *testing.T) {
	raw := rawImage()
	compressed := compress(t, raw)
	srv, calls := factory(t, serve(compressed))
	cache := t.TempDir()
	rec := &progress.Recorder{}
	o := Options{Version: testVersion, BaseURL: srv.URL, CacheDir: cache, Progress: rec}

	img, err := Ensure(context.Background(), o)
	require.NoError(t, err)
	assert.False(t, img.Cached)
	assert.Equal(t, filepath.Join(cache, testVersion, EmptySchematic, "nocloud-amd64.raw"), img.Path)
	assert.Equal(t, srv.URL+"/image/"+EmptySchematic+"/"+testVersion+"/nocloud-amd64.raw.xz", img.URL)
	assert.Equal(t, sum(compressed), img.SHA256, "the digest of the download, not of the image")
	got, err := os.ReadFile(img.Path)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(raw, got), "the decompressed image")
	recorded, err := os.ReadFile(filepath.Join(filepath.Dir(img.Path), "nocloud-amd64.raw.xz.sha256"))
	require.NoError(t, err)
	assert.Equal(t, sum(compressed)+"  nocloud-amd64.raw.xz\n", string(recorded))
	assert.ElementsMatch(t, []string{
		filepath.Join(testVersion, EmptySchematic, "nocloud-amd64.raw"),
		filepath.Join(testVersion, EmptySchematic, "nocloud-amd64.raw.xz.sha256"),
	}, cacheFiles(t, cache), "no temporary file left")
	recs := rec.Records()
	require.Len(t, recs, 2)
	assert.Equal(t, progress.Succeeded, recs[0].Outcome)
	assert.Equal(t, "Recorded the image's SHA-256 "+img.SHA256, recs[1].Title)
	assert.Contains(t, recs[1].Note, "LAB_TALOS_IMAGE_SHA256="+img.SHA256)

	rec2 := &progress.Recorder{}
	o.Progress, o.SHA256 = rec2, strings.ToUpper(img.SHA256) // a pin in capitals still matches
	again, err := Ensure(context.Background(), o)
	require.NoError(t, err)
	assert.True(t, again.Cached)
	assert.Equal(t, img.Path, again.Path)
	assert.Equal(t, img.SHA256, again.SHA256)
	assert.Equal(t, int32(1), calls.Load(), "the second Ensure does not call the server")
	require.Len(t, rec2.Records(), 1)
	assert.Equal(t, progress.Skipped, rec2.Records()[0].Outcome)
	assert.Contains(t, rec2.Records()[0].Note, "cached")
}

func TestEnsureReportsDownloadProgress(t *testing.T) {
	compressed := compress(t, rawImage())
	srv, _ := factory(t, serve(compressed))
	rec := &progress.Recorder{}
	_, err := Ensure(context.Background(), Options{Version: testVersion, BaseURL: srv.URL, CacheDir: t.TempDir(), Progress: rec})
	require.NoError(t, err)
	statuses := rec.Statuses(rec.Records()[0].Title)
	require.NotEmpty(t, statuses)
	assert.Equal(t, "downloaded 0/0 MiB", statuses[len(statuses)-1], "bytes of the total (a small test file)")
}

func TestEnsureFailuresLeaveNothingInTheCache(t *testing.T) {
	compressed := compress(t, rawImage())
	tests := []struct {
		name    string
		handler http.HandlerFunc
		version string
		pin     string
		want    []string
	}{
		{
			name:    "bad status",
			handler: serve(compressed),
			version: "v1.99.0", // the factory answers 404
			want: []string{"download Talos image ", "/image/" + EmptySchematic + "/v1.99.0/nocloud-amd64.raw.xz: HTTP 404 Not Found",
				"check LAB_TALOS_VERSION and LAB_TALOS_SCHEMATIC"},
		},
		{
			name: "truncated",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Length", strconv.Itoa(len(compressed)))
				_, _ = w.Write(compressed[:len(compressed)/2])
			},
			want: []string{"got " + strconv.Itoa(len(compressed)/2) + " of " + strconv.Itoa(len(compressed)) + " bytes (the download was cut short): run again"},
		},
		{
			name:    "checksum mismatch",
			handler: serve(compressed),
			pin:     strings.Repeat("ab", 32),
			want: []string{"its SHA-256 is " + sum(compressed) + ", but LAB_TALOS_IMAGE_SHA256 pins " + strings.Repeat("ab", 32),
				"check the pin and run again"},
		},
		{
			name:    "corrupt xz",
			handler: serve([]byte("this is not an xz stream at all, just bytes")),
			want:    []string{"decompress Talos image ", "(the download is corrupt: run again)"},
		},
		{
			name:    "corrupt xz block",
			handler: serve(flipByte(compressed, len(compressed)/2)),
			want:    []string{"decompress Talos image ", "(the download is corrupt: run again)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := factory(t, tt.handler)
			cache := t.TempDir()
			version := testVersion
			if tt.version != "" {
				version = tt.version
			}
			_, err := Ensure(context.Background(), Options{Version: version, BaseURL: srv.URL, CacheDir: cache, SHA256: tt.pin})
			require.Error(t, err)
			assert.NotContains(t, err.Error(), "\n", "one line")
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Empty(t, cacheFiles(t, cache), "no partial file in the cache")
		})
	}
}

func flipByte(data []byte, i int) []byte {
	out := bytes.Clone(data)
	out[i] ^= 0xff
	return out
}

func TestEnsureRefusesACachedImageThatDiffersFromThePin(t *testing.T) {
	compressed := compress(t, rawImage())
	srv, _ := factory(t, serve(compressed))
	o := Options{Version: testVersion, BaseURL: srv.URL, CacheDir: t.TempDir()}
	_, err := Ensure(context.Background(), o)
	require.NoError(t, err)

	o.SHA256 = strings.Repeat("0", 64)
	_, err = Ensure(context.Background(), o)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "was downloaded with SHA-256 "+sum(compressed)+", but LAB_TALOS_IMAGE_SHA256 pins "+o.SHA256)
	assert.Contains(t, err.Error(), "remove "+filepath.Join(o.CacheDir, testVersion, EmptySchematic))
}

func TestEnsureRejectsBadOptionsBeforeDownloading(t *testing.T) {
	srv, calls := factory(t, serve(nil))
	_, err := Ensure(context.Background(), Options{Version: "1.13", Schematic: "default", SHA256: "xyz", BaseURL: srv.URL, CacheDir: t.TempDir()})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `Talos version "1.13" is not a release such as v1.13.6 (LAB_TALOS_VERSION)`)
	assert.Contains(t, err.Error(), `schematic "default" is not an Image Factory ID of 64 hex digits (LAB_TALOS_SCHEMATIC)`)
	assert.Contains(t, err.Error(), `pinned SHA-256 "xyz" is not 64 hex digits (LAB_TALOS_IMAGE_SHA256)`)
	assert.Zero(t, calls.Load())
}

func TestDefaultsNameTheFactoryAndTheUserCache(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/tmp/xdg-cache")
	o, err := Options{}.WithDefaults()
	require.NoError(t, err)
	assert.Equal(t, "https://factory.talos.dev/image/376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba/v1.13.6/nocloud-amd64.raw.xz", o.URL())
	assert.Equal(t, "/tmp/xdg-cache/cozylab/images/talos/v1.13.6/"+EmptySchematic, o.dir())
}

// The default Talos release is the machinery version the configs are generated with.
func TestDefaultVersionMatchesMachinery(t *testing.T) {
	mod, err := os.ReadFile("../../../go.mod")
	require.NoError(t, err)
	assert.Contains(t, string(mod), "github.com/siderolabs/talos/pkg/machinery "+DefaultVersion+"\n")
}
