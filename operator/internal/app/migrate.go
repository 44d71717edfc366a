package app

import (
	"context"
	"flag"
	"fmt"
	"io"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
	"github.com/cozylab/cozylab/operator/internal/migrate"
	"github.com/cozylab/cozylab/operator/internal/scheme"
)

// Migrate runs `cozystack-operator migrate`: it brings the platform version recorded in the
// cozystack-version ConfigMap to the target, one migration at a time. Progress goes to out.
func Migrate(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("cozystack-operator migrate", flag.ContinueOnError)
	fs.SetOutput(out)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file; empty: KUBECONFIG, ~/.kube/config, then in-cluster")
	namespace := fs.String("namespace", v1alpha1.SystemNamespace, "namespace of the cozystack-version ConfigMap")
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: cozystack-operator migrate [flags]\n\nRuns the platform migrations from the version in ConfigMap cozystack-version to %d.\n\n", migrate.Target)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: migrate takes only flags", fs.Arg(0))
	}
	restCfg, err := RESTConfig(*kubeconfig)
	if err != nil {
		return err
	}
	c, err := client.New(restCfg, client.Options{Scheme: scheme.Must()})
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	res, err := migrate.Run(ctx, c, migrate.Options{Namespace: *namespace, Reporter: lineReporter{out}})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "platform version %d (was %d, applied %d migrations)\n", res.To, res.From, len(res.Applied))
	return nil
}

// lineReporter prints one line per migration event.
type lineReporter struct{ w io.Writer }

func (r lineReporter) Note(msg string)           { fmt.Fprintln(r.w, " • "+msg) }
func (r lineReporter) Start(m migrate.Migration) { fmt.Fprintf(r.w, " • migration %s ...\n", m) }
func (r lineReporter) Done(m migrate.Migration, err error) {
	if err != nil {
		fmt.Fprintf(r.w, " ✗ migration %s: %v\n", m, err)
		return
	}
	fmt.Fprintf(r.w, " ✓ migration %s\n", m)
}
