package sourcewatcher

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"strings"
	"sync"
)

// maxArtifactBytes bounds the compressed size of one downloaded source artifact.
const maxArtifactBytes = 512 << 20

// cacheSize is how many untarred source artifacts are kept in memory.
const cacheSize = 16

// fetcher downloads source artifacts, verifies their digest and keeps the last few untarred,
// keyed by digest, so rebuilding a generator whose sources did not change downloads nothing.
type fetcher struct {
	client *http.Client
	// localhost, when set, replaces the host of every artifact URL (SOURCE_CONTROLLER_LOCALHOST).
	localhost string
	mu        sync.Mutex
	trees     map[string]Tree
	order     []string
}

func newFetcher(c *http.Client, localhost string) *fetcher {
	if c == nil {
		c = http.DefaultClient
	}
	return &fetcher{client: c, localhost: localhost, trees: map[string]Tree{}}
}

// fetch returns the tree of the artifact at url whose digest is "sha256:<hex>". Trees are
// shared: callers must not change them.
func (f *fetcher) fetch(ctx context.Context, url, digest string) (Tree, error) {
	f.mu.Lock()
	t, ok := f.trees[digest]
	f.mu.Unlock()
	if ok {
		return t, nil
	}
	data, err := f.download(ctx, url)
	if err != nil {
		return nil, err
	}
	if err := verifyDigest(data, digest); err != nil {
		return nil, fmt.Errorf("verify artifact %s: %w", url, err)
	}
	t, err = Untar(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("unpack artifact %s: %w", url, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.trees[digest]; !ok {
		f.trees[digest] = t
		f.order = append(f.order, digest)
		if len(f.order) > cacheSize {
			delete(f.trees, f.order[0])
			f.order = f.order[1:]
		}
	}
	return t, nil
}

func (f *fetcher) download(ctx context.Context, url string) ([]byte, error) {
	if f.localhost != "" {
		u, err := neturl.Parse(url)
		if err != nil {
			return nil, fmt.Errorf("download artifact %s: %w", url, err)
		}
		u.Host = f.localhost
		url = u.String()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("download artifact %s: %w", url, err)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("download artifact %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("download artifact %s: HTTP %s", url, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxArtifactBytes+1))
	if err != nil {
		return nil, fmt.Errorf("download artifact %s: %w", url, err)
	}
	if len(data) > maxArtifactBytes {
		return nil, fmt.Errorf("download artifact %s: larger than %d bytes", url, maxArtifactBytes)
	}
	return data, nil
}

// verifyDigest checks data against an "sha256:<hex>" digest.
func verifyDigest(data []byte, digest string) error {
	want, ok := strings.CutPrefix(digest, "sha256:")
	if !ok {
		return fmt.Errorf("unsupported digest %q (want sha256:<hex>)", digest)
	}
	if got := sha256Hex(data); got != want {
		return fmt.Errorf("digest mismatch: got sha256:%s, want %s", got, digest)
	}
	return nil
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
