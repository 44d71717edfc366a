// Package debian turns Debian packages into image layers without dpkg or Docker: apt says
// which packages a set needs (Closure) and where their .debs are (the machine's own sources and
// keys), each file is fetched and checked against apt's SHA-256 into a cache, and its data
// archive becomes a layer — the sandbox image's shell and real-node packages, and whatever
// else must carry Debian's programs with their libraries.
package debian

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/cozylab/cozylab/internal/atomicfile"
	"github.com/cozylab/cozylab/internal/command"
)

// Deb is where apt says a package's .deb is.
type Deb struct {
	// File is the .deb's file name (package_version_arch.deb).
	File   string
	URI    string
	Size   int64
	SHA256 string
}

// Resolve asks apt where the .debs of pkgs are (apt-get download --print-uris: the machine's
// sources and their signed indexes; no library speaks apt's resolution). A package apt does
// not know is an error naming it.
func Resolve(ctx context.Context, pkgs ...string) ([]Deb, error) {
	cmd := exec.CommandContext(ctx, "apt-get", append([]string{"download", "--print-uris", "-qq"}, pkgs...)...)
	out, err := command.Run(cmd)
	if err != nil {
		return nil, fmt.Errorf("ask apt for %s (is apt-get there, and `apt-get update` done?): %w", strings.Join(pkgs, " "), err)
	}
	var debs []Deb
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text()) // 'URI' file size SHA256:hex
		if len(f) != 4 || !strings.HasPrefix(f[3], "SHA256:") {
			continue
		}
		var size int64
		fmt.Sscan(f[2], &size)
		debs = append(debs, Deb{URI: strings.Trim(f[0], "'"), File: f[1], Size: size, SHA256: strings.TrimPrefix(f[3], "SHA256:")})
	}
	if len(debs) != len(pkgs) {
		return nil, fmt.Errorf("ask apt for %s: it named %d files for %d packages:\n%s", strings.Join(pkgs, " "), len(debs), len(pkgs), out)
	}
	return debs, nil
}

// Closure is pkgs and every package they depend on (apt-cache depends --recurse: Depends only,
// no recommends, suggests or pre-depends — what the programs need to run, not what dpkg needs
// to install them), sorted. A virtual package ("<name>") is left out: what provides it is named
// too.
func Closure(ctx context.Context, pkgs ...string) ([]string, error) {
	args := append([]string{"depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts", "--no-breaks",
		"--no-replaces", "--no-enhances", "--no-pre-depends"}, pkgs...)
	out, err := command.Run(exec.CommandContext(ctx, "apt-cache", args...))
	if err != nil {
		return nil, fmt.Errorf("ask apt for the dependencies of %s (is apt-get update done?): %w", strings.Join(pkgs, " "), err)
	}
	seen := map[string]bool{}
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, " ") || strings.HasPrefix(line, "<") || seen[line] {
			continue
		}
		seen[line] = true
		names = append(names, line)
	}
	slices.Sort(names)
	return names, nil
}

// Fetch downloads d into dir, unless a file of that name with the right SHA-256 is there, and
// returns its path.
func Fetch(ctx context.Context, dir string, d Deb) (string, error) {
	path := filepath.Join(dir, d.File)
	if data, err := os.ReadFile(path); err == nil && sum(data) == d.SHA256 {
		return path, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.URI, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("fetch %s: %w", d.URI, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("fetch %s: HTTP %s", d.URI, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, d.Size+1))
	if err != nil {
		return "", fmt.Errorf("fetch %s: %w", d.URI, err)
	}
	if got := sum(data); got != d.SHA256 {
		return "", fmt.Errorf("fetch %s: SHA-256 %s, apt's index says %s", d.URI, got, d.SHA256)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return path, atomicfile.WriteFile(path, data, 0o644)
}

func sum(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// DataTar returns the uncompressed data archive of the .deb at path: the files it installs.
func DataTar(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	const magic = "!<arch>\n"
	if !bytes.HasPrefix(raw, []byte(magic)) {
		return nil, fmt.Errorf("%s is not a .deb (no ar header)", path)
	}
	for off := len(magic); off+60 <= len(raw); {
		hdr := raw[off : off+60]
		name := strings.TrimRight(strings.TrimSpace(string(hdr[0:16])), "/")
		var size int
		fmt.Sscan(strings.TrimSpace(string(hdr[48:58])), &size)
		off += 60
		if off+size > len(raw) {
			return nil, fmt.Errorf("%s: member %s runs past the end", path, name)
		}
		body := raw[off : off+size]
		off += size + size%2 // members are 2-byte aligned
		if !strings.HasPrefix(name, "data.tar") {
			continue
		}
		var rd io.Reader
		switch strings.TrimPrefix(name, "data.tar") {
		case ".xz":
			if rd, err = xz.NewReader(bytes.NewReader(body)); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
		case ".gz":
			if rd, err = gzip.NewReader(bytes.NewReader(body)); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
		case ".zst":
			zr, err := zstd.NewReader(bytes.NewReader(body))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			defer zr.Close()
			rd = zr
		case "":
			rd = bytes.NewReader(body)
		default:
			return nil, fmt.Errorf("%s: data member %s has a compression this reader does not know", path, name)
		}
		return io.ReadAll(rd)
	}
	return nil, fmt.Errorf("%s has no data.tar member", path)
}

// Files lists the regular files and symlinks of a data archive as the image will hold them
// ("bin/busybox"), for checks and for callers that pick files.
func Files(data []byte) (map[string]*tar.Header, error) {
	out := map[string]*tar.Header{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		name := strings.TrimPrefix(strings.TrimPrefix(h.Name, "."), "/")
		if name != "" && (h.Typeflag == tar.TypeReg || h.Typeflag == tar.TypeSymlink) {
			out[name] = h
		}
	}
}

// Layer makes an image layer of a data archive: the same files, modes and links, owned by root,
// with a fixed time, so the same package always gives the same layer.
func Layer(data []byte) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		name := strings.TrimPrefix(strings.TrimPrefix(h.Name, "."), "/")
		if name == "" {
			continue
		}
		out := &tar.Header{Typeflag: h.Typeflag, Name: name, Linkname: h.Linkname, Mode: h.Mode, Size: h.Size,
			ModTime: LayerTime, Format: tar.FormatPAX}
		if h.Typeflag == tar.TypeLink {
			out.Linkname = strings.TrimPrefix(strings.TrimPrefix(h.Linkname, "."), "/")
		}
		if err := tw.WriteHeader(out); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := io.Copy(tw, tr); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil })
}

// LayerTime is every file's time in a layer.
var LayerTime = time.Unix(0, 0).UTC()
