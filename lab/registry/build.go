package registry

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/cozylab/cozylab/internal/command"
)

// OperatorPackage is the import path of the operator's main package.
const OperatorPackage = "github.com/cozylab/cozylab/operator/cmd/cozystack-operator"

// BuildOperatorBinary builds the operator as a static linux/amd64 binary at out (CGO off,
// -trimpath, stripped), from the module checked out at repoRoot, with the go command on PATH.
// A failed build returns a *command.Error carrying the compiler's output.
func BuildOperatorBinary(ctx context.Context, repoRoot, out string) error {
	abs, err := filepath.Abs(out)
	if err != nil {
		return fmt.Errorf("resolve output path %s: %w", out, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}
	cmd := exec.CommandContext(ctx, "go", BuildArgs(abs)...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if _, err := command.Run(cmd); err != nil {
		return fmt.Errorf("build operator binary: %w", err)
	}
	return nil
}

// BuildArgs is the argv after "go" that BuildOperatorBinary runs.
func BuildArgs(out string) []string {
	return []string{"build", "-trimpath", "-ldflags", "-s -w", "-o", out, OperatorPackage}
}
