// Command cozypkg lists, adds and deletes Cozystack packages and draws their dependencies.
// It only turns flags into options: the work is done by operator/internal/cozypkg.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// Version is the cozypkg version, set at build time with -ldflags "-X main.Version=<v>".
var Version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes cozypkg with args and returns the process exit code: 0, or 1 after printing
// the error, alone on a line, on stderr (cobra's own printing is silenced, as upstream's is).
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCommand(stdin, stdout, stderr)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

// newRootCommand builds the command tree on the given streams.
func newRootCommand(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:               "cozypkg",
		Short:             "A CLI for managing Cozystack packages",
		Version:           Version,
		SilenceErrors:     true,
		SilenceUsage:      true,
		DisableAutoGenTag: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newListCommand(), newAddCommand(), newDelCommand(), newDotCommand())
	return root
}
