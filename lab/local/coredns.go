package local

import (
	"context"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/internal/condition"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/clusterdns"
	"github.com/cozylab/cozylab/lab/images"
	"github.com/cozylab/cozylab/lab/realnode"
)

// startDNS applies CoreDNS (lab/clusterdns, server-side, so a resumed lab converges), pinned to
// the real node, the only one that runs pods, and waits until its Deployment is Available.
func (l *lab) startDNS(ctx context.Context, step progress.Step) error {
	img, err := images.Lookup(images.CoreDNS)
	if err != nil {
		return err
	}
	c, err := client.New(l.cluster.RESTConfig(), client.Options{})
	if err != nil {
		return err
	}
	if err := clusterdns.Apply(ctx, c, clusterdns.Options{Image: img.Upstream, ServiceIP: ClusterDNS, Place: realnode.Placement}); err != nil {
		return err
	}
	step.Status("%s/%s at %s, image %s", clusterdns.Namespace, clusterdns.ServiceName, ClusterDNS, img.Upstream)
	return condition.Wait(ctx, clusterdns.Available(c),
		condition.Poll{Interval: 200 * time.Millisecond, Timeout: 3 * time.Minute}, condition.StepReporter(step))
}

// applyObject server-side applies o as the lab.
func applyObject(ctx context.Context, c client.Client, o client.Object) error {
	return clusterdns.ApplyObject(ctx, c, o)
}
