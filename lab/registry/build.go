package registry

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cozylab/cozylab/internal/command"
	"github.com/cozylab/cozylab/internal/prebuilt"
)

// OperatorPackage is the import path of the operator's main package.
const OperatorPackage = "github.com/cozylab/cozylab/operator/cmd/cozystack-operator"

// BuildOperatorBinary puts the operator at out: the prebuilt one when there is one
// (prebuilt.Path), else built from the module checked out at repoRoot with the go command on
// PATH as a static linux/amd64 binary (CGO off, -trimpath, no VCS stamp, stripped), with the
// arguments prebuilt.Build and lab/images use. A failed build returns a *command.Error carrying
// the compiler's output.
func BuildOperatorBinary(ctx context.Context, repoRoot, out string) error {
	abs, err := filepath.Abs(out)
	if err != nil {
		return fmt.Errorf("resolve output path %s: %w", out, err)
	}
	if ok, err := prebuilt.Install(prebuilt.Operator, abs); ok || err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}
	cmd, err := prebuilt.GoCommand(ctx, prebuilt.Operator, BuildArgs(abs)...)
	if err != nil {
		return fmt.Errorf("build operator binary: %w", err)
	}
	// The image PushBinaryImage makes by default is linux/amd64 (on amd64, this machine's).
	cmd.Dir, cmd.Env = repoRoot, prebuilt.StaticEnv("amd64")
	if _, err := command.Run(cmd); err != nil {
		return fmt.Errorf("build operator binary: %w", err)
	}
	return nil
}

// BuildArgs is the argv after "go" that BuildOperatorBinary runs: an image's binary's
// (prebuilt.ImageArgs), the arguments of prebuilt's operator.
func BuildArgs(out string) []string { return prebuilt.ImageArgs(out, OperatorPackage) }
