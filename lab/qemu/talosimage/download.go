package talosimage

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/ulikunitz/xz"

	"github.com/cozylab/cozylab/internal/progress"
)

const mib = 1 << 20

// download streams o's image into path: HTTP body → SHA-256 and byte count → xz decoder →
// temporary file → rename. The digest is checked against the pin before the rename and
// recorded next to path. On any failure nothing new is left in the cache.
func download(ctx context.Context, o Options, path string, step progress.Step) (sum string, err error) {
	url := o.URL()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("create image cache %s: %w", filepath.Dir(path), err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("download Talos image %s: %w", url, err)
	}
	step.Status("connecting to %s", url)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("download Talos image %s: %w (check the network, or LAB_TALOS_VERSION and LAB_TALOS_SCHEMATIC)", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("download Talos image %s: HTTP %s (check LAB_TALOS_VERSION and LAB_TALOS_SCHEMATIC)", url, resp.Status)
	}

	tmp, err := os.CreateTemp(filepath.Dir(path), ".download-*")
	if err != nil {
		return "", fmt.Errorf("create temporary image in %s: %w", filepath.Dir(path), err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, removeTemp(tmp.Name()))
		}
	}()
	body := &countingReader{r: resp.Body, h: sha256.New(), total: resp.ContentLength, step: step}
	err = decompress(body, fileWriter{tmp}, url)
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("write temporary image %s: %w", tmp.Name(), cerr)
	}
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("download Talos image %s: %w", url, context.Cause(ctx))
	}
	if err != nil {
		return "", err
	}
	sum = hex.EncodeToString(body.h.Sum(nil))
	if o.SHA256 != "" && o.SHA256 != sum {
		return "", fmt.Errorf("download Talos image %s: its SHA-256 is %s, but %s pins %s: the image on the server changed or the download is corrupt; check the pin and run again",
			url, sum, PinEnv, o.SHA256)
	}
	return sum, install(tmp.Name(), path, sum)
}

// decompress copies the xz stream in body to out and then reads body to its end, so the
// digest covers every byte and a short body is caught. A body cut short is reported as such
// even when the decoder noticed first.
func decompress(body *countingReader, out io.Writer, url string) error {
	xr, err := xz.NewReader(bufio.NewReaderSize(body, mib))
	if err == nil {
		_, err = io.Copy(out, xr)
	}
	if err == nil {
		_, err = io.Copy(io.Discard, body) // trailing bytes still count and hash
	}
	if terr := body.truncated(); terr != nil {
		return fmt.Errorf("download Talos image %s: %w: run again", url, terr)
	}
	var werr *writeError
	if errors.As(err, &werr) {
		return fmt.Errorf("write Talos image: %w", werr.err)
	}
	if err != nil {
		return fmt.Errorf("decompress Talos image %s: %w (the download is corrupt: run again)", url, err)
	}
	return nil
}

// install records sum next to path, then renames the finished temporary image into place:
// the image's presence marks a complete cache entry.
func install(tmp, path, sum string) error {
	sumPath := filepath.Join(filepath.Dir(path), sumName)
	if err := os.WriteFile(sumPath+".tmp", []byte(sum+"  "+remoteName+"\n"), 0o644); err != nil {
		return fmt.Errorf("record the image's SHA-256: %w", err)
	}
	if err := os.Rename(sumPath+".tmp", sumPath); err != nil {
		return fmt.Errorf("record the image's SHA-256: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("move the Talos image into the cache: %w", err)
	}
	return nil
}

func removeTemp(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove temporary image %s: %w", path, err)
	}
	return nil
}

// countingReader hashes and counts what passes through it and reports the progress.
type countingReader struct {
	r     io.Reader
	h     hash.Hash
	n     int64
	total int64 // -1 when the server sent no Content-Length
	err   error // the first read error other than io.EOF
	shown int64 // the last progress mark reported
	step  progress.Step
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	if err != nil && !errors.Is(err, io.EOF) && c.err == nil {
		c.err = err
	}
	c.report()
	return n, err
}

// report shows the progress in steps of a percent (or of 16 MiB when the size is unknown).
func (c *countingReader) report() {
	every := int64(16 * mib)
	if c.total > 0 {
		every = max(c.total/100, 1)
	}
	if c.n/every == c.shown {
		return
	}
	c.shown = c.n / every
	if c.total > 0 {
		c.step.Status("downloaded %d/%d MiB", c.n/mib, c.total/mib)
		return
	}
	c.step.Status("downloaded %d MiB", c.n/mib)
}

// truncated says whether the body ended before its Content-Length (or broke off).
func (c *countingReader) truncated() error {
	switch {
	case c.total >= 0 && c.n != c.total:
		return fmt.Errorf("got %d of %d bytes (the download was cut short)", c.n, c.total)
	case c.err != nil:
		return fmt.Errorf("read after %d bytes: %w (the download was cut short)", c.n, c.err)
	}
	return nil
}

// writeError marks an error of the destination, so it is not blamed on the download.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }

// fileWriter wraps the temporary file so its errors are told apart.
type fileWriter struct{ w io.Writer }

func (f fileWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err != nil {
		err = &writeError{err}
	}
	return n, err
}
