package main

import (
	"github.com/spf13/cobra"

	"github.com/cozylab/cozylab/operator/internal/cozypkg"
)

const (
	kubeconfigUsage = "Path to kubeconfig file (defaults to ~/.kube/config or KUBECONFIG env var)"
	fileUsage       = "Read packages from file or directory (can be specified multiple times)"
)

// env connects to the cluster of kubeconfig and binds the command's streams.
func env(cmd *cobra.Command, kubeconfig string) (*cozypkg.Env, error) {
	c, err := cozypkg.NewClient(kubeconfig)
	if err != nil {
		return nil, err
	}
	return &cozypkg.Env{Client: c, In: cmd.InOrStdin(), Out: cmd.OutOrStdout(), Err: cmd.ErrOrStderr()}, nil
}

func newListCommand() *cobra.Command {
	var opts cozypkg.ListOptions
	var kubeconfig string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List PackageSource or Package resources",
		Long: `List PackageSource or Package resources in table format.

By default, lists PackageSource resources. Use --installed flag to list installed Package resources.
Use --components flag to show components on separate lines.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := env(cmd, kubeconfig)
			if err != nil {
				return err
			}
			return e.List(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Installed, "installed", "i", false, "list installed Package resources instead of PackageSource resources")
	cmd.Flags().BoolVar(&opts.Components, "components", false, "show components on separate lines")
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", kubeconfigUsage)
	return cmd
}

func newAddCommand() *cobra.Command {
	var sel cozypkg.Selection
	var kubeconfig string
	cmd := &cobra.Command{
		Use:   "add [package]...",
		Short: "Install PackageSource and its dependencies interactively",
		Long: `Install PackageSource and its dependencies interactively.

You can specify packages as arguments or use -f flag to read from files.
Multiple -f flags can be specified, and they can point to files or directories.
A Package found in a file is created as written; otherwise a variant is asked
for the package and for each dependency that is not installed yet.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := env(cmd, kubeconfig)
			if err != nil {
				return err
			}
			sel.Names = args
			return e.Add(cmd.Context(), sel)
		},
	}
	cmd.Flags().StringArrayVarP(&sel.Files, "file", "f", nil, fileUsage)
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", kubeconfigUsage)
	return cmd
}

func newDelCommand() *cobra.Command {
	var sel cozypkg.Selection
	var kubeconfig string
	cmd := &cobra.Command{
		Use:   "del [package]...",
		Short: "Delete Package resources",
		Long: `Delete Package resources.

You can specify packages as arguments or use -f flag to read from files.
Multiple -f flags can be specified, and they can point to files or directories.
Installed packages that depend on them are deleted too, first, after a confirmation.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := env(cmd, kubeconfig)
			if err != nil {
				return err
			}
			sel.Names = args
			return e.Delete(cmd.Context(), sel)
		},
	}
	cmd.Flags().StringArrayVarP(&sel.Files, "file", "f", nil, fileUsage)
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", kubeconfigUsage)
	return cmd
}

func newDotCommand() *cobra.Command {
	var opts cozypkg.DotOptions
	var kubeconfig string
	cmd := &cobra.Command{
		Use:   "dot [package]...",
		Short: "Generate dependency graph as graphviz DOT format",
		Long: `Generate dependency graph as graphviz DOT format.

Pipe the output through the "dot" program (part of graphviz package) to render the graph:

    cozypkg dot | dot -Tpng > graph.png

By default, shows dependencies for all PackageSource resources.
Use --installed to show only installed Package resources.
Specify packages as arguments or use -f flag to read from files.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := env(cmd, kubeconfig)
			if err != nil {
				return err
			}
			opts.Names = args
			return e.Dot(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Installed, "installed", "i", false, "show dependencies only for installed Package resources")
	cmd.Flags().BoolVar(&opts.Components, "components", false, "show component-level dependencies")
	cmd.Flags().StringArrayVarP(&opts.Files, "file", "f", nil, fileUsage)
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", kubeconfigUsage)
	return cmd
}
