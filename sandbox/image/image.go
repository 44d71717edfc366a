package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/cozylab/cozylab/internal/atomicfile"
	"github.com/cozylab/cozylab/internal/command"
	"github.com/cozylab/cozylab/internal/debian"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/registry"
)

// Where things are in the sandbox image.
const (
	// BinDir holds the lab's programs and the binaries cache's executables; the image's
	// COZYLAB_PREBUILT, so the lab builds nothing in the pod.
	BinDir = "/opt/cozylab/bin"
	// SrcDir holds the platform tree the e2e installs (packages/, release.json): the pod's
	// working directory and its RepoRoot.
	SrcDir = "/opt/cozylab/src"
	// Home is the pod's HOME, where the PersistentVolumeClaim is mounted: the lab's state and
	// caches live there, so a new pod finds the same lab.
	Home = "/var/lib/cozylab"
	// Entrypoint is the program the pod runs.
	Entrypoint = BinDir + "/cozylab"
)

// Shell is the Debian package that gives the image its shell and everyday tools: one static
// binary (busybox) and a link per applet.
const Shell = "busybox-static"

// Options say what goes into the sandbox image.
type Options struct {
	// Programs maps each executable's name in BinDir to its file on this machine: the lab's
	// programs (cozylab, cozylab-lab, the operator …) and the binaries cache's tools. Each is
	// its own layer, so a rebuild pushes only the programs that changed.
	Programs map[string]string
	// RepoRoot is the checkout whose Tree goes to SrcDir.
	RepoRoot string
	// Tree lists the files and folders (relative to RepoRoot) the pod's e2e needs.
	Tree []string
	// Packages are Debian packages installed into the image with everything they depend on
	// (Closure), one layer per package: the real node's containerd, runc, CNI plugins.
	Packages []string
	// Links are symbolic links made after the packages (path in the image → target), what
	// the packages' maintainer scripts would have made (update-alternatives).
	Links map[string]string
	// Debs is where fetched .debs and their layers are kept (a cache directory).
	Debs string
	// Env is added to the image's environment ("KEY=value").
	Env []string
}

// Build assembles the sandbox image without Docker: busybox from Debian's package (with its
// applet links), one layer per program, the platform tree, and a config that runs
// `cozylab sandbox pod` as root with HOME on the lab's volume. Layers go from the least to the
// most often changed, each built from content only, so the same inputs give the same digest.
func Build(ctx context.Context, o Options, step progress.Step) (v1.Image, error) {
	var layers []v1.Layer
	step.Status("fetching %s with apt", Shell)
	shellDeb, err := debian.Resolve(ctx, Shell)
	if err != nil {
		return nil, err
	}
	shell, data, err := debLayer(ctx, o.Debs, shellDeb[0], true)
	if err != nil {
		return nil, err
	}
	links, err := appletLinks(ctx, data)
	if err != nil {
		return nil, err
	}
	base, err := baseLayer()
	if err != nil {
		return nil, err
	}
	layers = append(layers, base, shell, links)
	if len(o.Packages) > 0 {
		pkgs, err := debian.Closure(ctx, o.Packages...)
		if err != nil {
			return nil, err
		}
		debs, err := debian.Resolve(ctx, pkgs...)
		if err != nil {
			return nil, err
		}
		slices.SortFunc(debs, func(a, b debian.Deb) int { return strings.Compare(a.File, b.File) })
		for i, d := range debs {
			step.Status("Debian packages: %d/%d (%s)", i+1, len(debs), d.File)
			l, _, err := debLayer(ctx, o.Debs, d, false)
			if err != nil {
				return nil, err
			}
			layers = append(layers, l)
		}
	}
	if len(o.Links) > 0 {
		l, err := linkLayer(o.Links)
		if err != nil {
			return nil, err
		}
		layers = append(layers, l)
	}
	names := make([]string, 0, len(o.Programs))
	for n := range o.Programs {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		step.Status("program layers: %d/%d (%s)", i+1, len(names), n)
		raw, err := os.ReadFile(o.Programs[n])
		if err != nil {
			return nil, fmt.Errorf("sandbox image: read program %s: %w", n, err)
		}
		l, err := registry.BinaryLayer(path.Join(BinDir, n), raw, types.OCILayer)
		if err != nil {
			return nil, fmt.Errorf("sandbox image: layer of %s: %w", n, err)
		}
		layers = append(layers, l)
	}
	step.Status("platform tree layer")
	tree, err := treeLayer(o.RepoRoot, o.Tree)
	if err != nil {
		return nil, err
	}
	layers = append(layers, tree)
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	if img, err = mutate.AppendLayers(img, layers...); err != nil {
		return nil, fmt.Errorf("sandbox image: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", "amd64"
	cfg.Created = v1.Time{Time: debian.LayerTime}
	cfg.Config.Entrypoint = []string{Entrypoint}
	cfg.Config.Cmd = []string{"sandbox", "pod"}
	cfg.Config.WorkingDir = SrcDir
	cfg.Config.User = "0"
	cfg.Config.Env = append([]string{
		"PATH=" + BinDir + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + Home,
		"COZYLAB_PREBUILT=" + BinDir,
		"SHELL=/bin/sh",
	}, o.Env...)
	return mutate.ConfigFile(img, cfg)
}

// debLayer is the layer of a Debian package, and its data archive: the .deb fetched into
// dir (checked against apt's SHA-256), its compressed layer kept beside it, so a rebuild
// compresses nothing it compressed before. The data archive is read only when wantData.
func debLayer(ctx context.Context, dir string, deb debian.Deb, wantData bool) (v1.Layer, []byte, error) {
	path, err := debian.Fetch(ctx, dir, deb)
	if err != nil {
		return nil, nil, err
	}
	cached := path + ".layer-v1.tar.gz"
	if _, err := os.Stat(cached); err == nil && !wantData {
		l, err := tarball.LayerFromFile(cached, tarball.WithMediaType(types.OCILayer))
		return l, nil, err
	}
	data, err := debian.DataTar(path)
	if err != nil {
		return nil, nil, err
	}
	if _, err := os.Stat(cached); err == nil {
		l, err := tarball.LayerFromFile(cached, tarball.WithMediaType(types.OCILayer))
		return l, data, err
	}
	l, err := debian.Layer(data)
	if err != nil {
		return nil, nil, err
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, nil, err
	}
	blob, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, nil, err
	}
	if err := atomicfile.WriteFile(cached, blob, 0o644); err != nil {
		return nil, nil, err
	}
	l, err = tarball.LayerFromFile(cached, tarball.WithMediaType(types.OCILayer))
	return l, data, err
}

// appletLinks is a layer of a link per busybox applet (bin/sh → busybox …), as Debian's busybox
// package leaves to its postinst: the list comes from the binary itself (busybox --list-full),
// run here from the package's data.
func appletLinks(ctx context.Context, data []byte) (v1.Layer, error) {
	bin, err := extract(data, "bin/busybox")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "cozylab-busybox-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	exe := filepath.Join(dir, "busybox")
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		return nil, err
	}
	out, err := command.Run(exec.CommandContext(ctx, exe, "--list-full"))
	if err != nil {
		return nil, fmt.Errorf("list busybox applets: %w", err)
	}
	files, err := debian.Files(data)
	if err != nil {
		return nil, err
	}
	links := map[string]string{}
	for _, a := range strings.Fields(string(out)) {
		if _, shipped := files[a]; !shipped && a != "bin/busybox" {
			links["/"+a] = "/bin/busybox"
		}
	}
	return linkLayer(links)
}

// baseLayer holds what a Debian system has before any package: the users and groups files
// (the kubelet reads /etc/passwd), /tmp (mode 1777), /root and /run.
func baseLayer() (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []struct {
		name string
		mode int64
	}{{"etc/", 0o755}, {"root/", 0o700}, {"run/", 0o755}, {"tmp/", 0o1777}, {"var/", 0o755}, {"var/tmp/", 0o1777}} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d.name, Mode: d.mode, ModTime: debian.LayerTime, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
	}
	for _, f := range []struct{ name, body string }{
		{"etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"},
		{"etc/group", "root:x:0:\nnogroup:x:65534:\n"},
		{"etc/nsswitch.conf", "passwd: files\ngroup: files\nhosts: files dns\n"},
	} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o644, Size: int64(len(f.body)),
			ModTime: debian.LayerTime, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
		if _, err := tw.Write([]byte(f.body)); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return rawLayer(buf.Bytes())
}

// linkLayer is a layer of symbolic links (absolute path → target) and their directories.
func linkLayer(links map[string]string) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, p := range slices.Sorted(maps.Keys(links)) {
		name := strings.TrimPrefix(path.Clean(p), "/")
		if d := path.Dir(name); !dirs[d] && d != "." {
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: debian.LayerTime, Format: tar.FormatPAX}); err != nil {
				return nil, err
			}
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: links[p], Mode: 0o777,
			ModTime: debian.LayerTime, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return rawLayer(buf.Bytes())
}

// extract returns the regular file name ("bin/busybox") of a data archive.
func extract(data []byte, name string) ([]byte, error) {
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("the package has no %s", name)
		}
		if err != nil {
			return nil, err
		}
		if strings.TrimPrefix(strings.TrimPrefix(h.Name, "."), "/") == name && h.Typeflag == tar.TypeReg {
			return io.ReadAll(tr)
		}
	}
}

// treeLayer is a layer of the named files and folders under root at SrcDir: regular files
// only (0644, or 0755 when executable), in lexical order, owned by root at a fixed time.
func treeLayer(root string, entries []string) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	seen := map[string]bool{}
	dir := func(p string) error {
		var parents []string
		for d := p; d != "." && d != "/" && !seen[d]; d = path.Dir(d) {
			parents = append(parents, d)
		}
		for i := len(parents) - 1; i >= 0; i-- {
			seen[parents[i]] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: parents[i] + "/", Mode: 0o755, ModTime: debian.LayerTime, Format: tar.FormatPAX}); err != nil {
				return err
			}
		}
		return nil
	}
	prefix := strings.TrimPrefix(SrcDir, "/")
	for _, e := range slices.Sorted(slices.Values(entries)) {
		err := filepath.WalkDir(filepath.Join(root, e), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			name := path.Join(prefix, filepath.ToSlash(rel))
			if d.IsDir() {
				return dir(name)
			}
			if !d.Type().IsRegular() {
				return nil // links and sockets are not part of a platform tree
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			if err := dir(path.Dir(name)); err != nil {
				return err
			}
			mode := int64(0o644)
			if info.Mode()&0o111 != 0 {
				mode = 0o755
			}
			raw, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(raw)),
				ModTime: debian.LayerTime, Format: tar.FormatPAX}); err != nil {
				return err
			}
			_, err = tw.Write(raw)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("sandbox image: platform tree %s: %w", e, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return rawLayer(buf.Bytes())
}

// rawLayer is a gzip layer of an uncompressed tar held in memory.
func rawLayer(raw []byte) (v1.Layer, error) {
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil },
		tarball.WithMediaType(types.OCILayer))
}

// Push writes img to ref ("<registry>/<repo>:<tag>"), with the credentials of the user's
// Docker config, and plain HTTP where insecure says so (the lab registry). Layers the registry
// already holds are not sent again. It reports how many of the image's bytes went over the wire.
func Push(ctx context.Context, img v1.Image, ref string, insecure bool, step progress.Step) error {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	tag, err := name.NewTag(ref, opts...)
	if err != nil {
		return fmt.Errorf("image reference %q: %w", ref, err)
	}
	updates := make(chan v1.Update, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for u := range updates {
			if u.Total > 0 {
				step.Status("pushing %s: %d of %d MB", ref, u.Complete>>20, u.Total>>20)
			}
		}
	}()
	err = remote.Write(tag, img, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain), remote.WithProgress(updates))
	<-done
	if err != nil {
		return fmt.Errorf("push the sandbox image to %s (can this machine write to that registry? docker login, or SANDBOX_REGISTRY): %w", ref, err)
	}
	return nil
}
