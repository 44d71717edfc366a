package providertest

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// LoginClientEnv, set in a login shell's command, makes a test binary that shell's client: its
// TestMain calls IsLoginClient and, if so, exits with ListNodes().
const LoginClientEnv = "COZYLAB_LOGIN_HELPER"

// IsLoginClient reports whether this process is a login test's client (LoginClientEnv).
func IsLoginClient() bool { return os.Getenv(LoginClientEnv) != "" }

// ListNodes lists the nodes of the cluster $KUBECONFIG names, as kubectl would (its proxy-url
// included), printing "nodes: <names>" sorted, or the error; it returns the exit code.
func ListNodes() int {
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	nodes, err := cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "list the nodes through %s: %v\n", cfg.Host, err)
		return 1
	}
	var names []string
	for _, n := range nodes.Items {
		names = append(names, n.Name)
	}
	slices.Sort(names)
	fmt.Printf("nodes: %s\n", strings.Join(names, " "))
	return 0
}
