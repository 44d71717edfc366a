package talosimage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/cozylab/cozylab/internal/progress"
)

// Defaults of Options.
const (
	// DefaultBaseURL is the Talos Image Factory.
	DefaultBaseURL = "https://factory.talos.dev"
	// DefaultVersion is the Talos release matching the machinery module the configs are
	// generated with (go.mod), so the configs and the OS agree.
	DefaultVersion = "v1.13.6"
	// EmptySchematic is the Image Factory ID of the schematic with no customisation.
	EmptySchematic = "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba"
)

// Names of the files in the cache and on the factory.
const (
	// ImageName is the decompressed image in <cache>/<version>/<schematic>/.
	ImageName = "nocloud-amd64.raw"
	// remoteName is the compressed image on the factory.
	remoteName = "nocloud-amd64.raw.xz"
	// sumName records the SHA-256 of the compressed download next to the image.
	sumName = remoteName + ".sha256"
)

// PinEnv is the environment variable users pin the image's SHA-256 with; errors and reports
// name it.
const PinEnv = "LAB_TALOS_IMAGE_SHA256"

var (
	versionPattern   = regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`)
	schematicPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)
	sha256Pattern    = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// Options say which image Ensure provides and where it keeps it.
type Options struct {
	// Version is the Talos release, such as v1.13.6; DefaultVersion when empty.
	Version string
	// Schematic is the Image Factory schematic ID; EmptySchematic when empty.
	Schematic string
	// BaseURL is the Image Factory; DefaultBaseURL when empty.
	BaseURL string
	// CacheDir holds the images; <user cache>/cozylab/images/talos when empty.
	CacheDir string
	// SHA256 optionally pins the digest of the compressed download (hex). A cached image
	// whose recorded digest differs is refused too.
	SHA256 string
	// Progress receives the download step; progress.Discard when nil.
	Progress progress.Reporter
}

// Image is a Talos disk image in the cache.
type Image struct {
	// Path is the decompressed raw image.
	Path string
	// URL is where it was (or would be) downloaded from.
	URL string
	// SHA256 is the digest of the compressed download, as recorded on the first download.
	SHA256 string
	// Version and Schematic identify the image.
	Version, Schematic string
	// Cached says the image was already in the cache; nothing was downloaded.
	Cached bool
}

// WithDefaults fills the empty fields of o and checks the rest, saying everything wrong at
// once; Ensure calls it, callers may too to refuse bad input before any work.
func (o Options) WithDefaults() (Options, error) {
	if o.Version == "" {
		o.Version = DefaultVersion
	}
	if o.Schematic == "" {
		o.Schematic = EmptySchematic
	}
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	o.BaseURL = strings.TrimRight(o.BaseURL, "/")
	o.SHA256 = strings.ToLower(strings.TrimSpace(o.SHA256))
	if o.Progress == nil {
		o.Progress = progress.Discard
	}
	if o.CacheDir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return o, fmt.Errorf("find the cache directory: %w", err)
		}
		o.CacheDir = filepath.Join(cache, "cozylab", "images", "talos")
	}
	var errs []error
	if !versionPattern.MatchString(o.Version) {
		errs = append(errs, fmt.Errorf("Talos version %q is not a release such as %s (LAB_TALOS_VERSION)", o.Version, DefaultVersion))
	}
	if !schematicPattern.MatchString(o.Schematic) {
		errs = append(errs, fmt.Errorf("schematic %q is not an Image Factory ID of 64 hex digits (LAB_TALOS_SCHEMATIC)", o.Schematic))
	}
	if o.SHA256 != "" && !sha256Pattern.MatchString(o.SHA256) {
		errs = append(errs, fmt.Errorf("pinned SHA-256 %q is not 64 hex digits (%s)", o.SHA256, PinEnv))
	}
	return o, errors.Join(errs...)
}

// URL is the factory address of the compressed image o names.
func (o Options) URL() string {
	return fmt.Sprintf("%s/image/%s/%s/%s", strings.TrimRight(o.BaseURL, "/"), o.Schematic, o.Version, remoteName)
}

// dir is the cache directory of the image o names.
func (o Options) dir() string { return filepath.Join(o.CacheDir, o.Version, o.Schematic) }

// Ensure returns the image o names, downloading it into the cache first unless it is there.
// A second call for the same version and schematic downloads nothing and says "cached".
func Ensure(ctx context.Context, o Options) (Image, error) {
	o, err := o.WithDefaults()
	if err != nil {
		return Image{}, err
	}
	img := Image{Path: filepath.Join(o.dir(), ImageName), URL: o.URL(), Version: o.Version, Schematic: o.Schematic}
	step := o.Progress.Begin(fmt.Sprintf("Talos image %s (schematic %s)", o.Version, o.Schematic[:12]))
	if _, err := os.Stat(img.Path); err == nil {
		img.Cached = true
		img.SHA256, err = readSum(filepath.Join(o.dir(), sumName))
		if err == nil && o.SHA256 != "" && o.SHA256 != img.SHA256 {
			err = fmt.Errorf("the cached image %s was downloaded with SHA-256 %s, but %s pins %s: check the pin, or remove %s to download it again",
				img.Path, img.SHA256, PinEnv, o.SHA256, o.dir())
		}
		if err != nil {
			return Image{}, step.Done(err)
		}
		step.Skip(fmt.Sprintf("cached, SHA-256 %s", img.SHA256))
		return img, nil
	}
	img.SHA256, err = download(ctx, o, img.Path, step)
	if err != nil {
		return Image{}, step.Done(err)
	}
	step.Done(nil)
	if o.SHA256 == "" {
		o.Progress.Begin("Recorded the image's SHA-256 " + img.SHA256).Skip(fmt.Sprintf("the factory publishes none; pin it with %s=%s", PinEnv, img.SHA256))
	}
	return img, nil
}

// readSum reads a recorded digest.
func readSum(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read the recorded SHA-256 of the cached image: %w (remove %s to download it again)", err, filepath.Dir(path))
	}
	sum := strings.TrimSpace(strings.Fields(string(raw) + " x")[0])
	if !sha256Pattern.MatchString(sum) {
		return "", fmt.Errorf("read the recorded SHA-256 %s: %q is not a digest (remove %s to download it again)", path, sum, filepath.Dir(path))
	}
	return sum, nil
}
