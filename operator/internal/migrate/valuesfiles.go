package migrate

import (
	"context"
	"fmt"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

// legacyValuesFilesAnnotation is the name the operator gave the values-files annotation before
// the cozypkg tool was renamed cozyhr.
const legacyValuesFilesAnnotation = "cozypkg.cozystack.io/values-files"

// renameValuesFilesAnnotation is migration 2. The operator records a component's values files
// on its HelmRelease for the cozyhr dev tool, under cozyhr.cozystack.io/values-files; releases
// written before the rename carry cozypkg.cozystack.io/values-files, which cozyhr ignores and
// the operator never removes (it keeps annotations it does not set). Each Package-owned
// HelmRelease gets its legacy value under the new name, unless the operator already wrote
// the new name (its value is then current and wins), and loses the legacy key.
func renameValuesFilesAnnotation(ctx context.Context, c client.Client) error {
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(helmv2.GroupVersion.WithKind("HelmReleaseList"))
	if err := c.List(ctx, list, client.HasLabels{v1alpha1.LabelPackage}); err != nil {
		if meta.IsNoMatchError(err) {
			return nil // no HelmRelease API, so no HelmRelease to migrate
		}
		return fmt.Errorf("list HelmReleases labelled %s: %w", v1alpha1.LabelPackage, err)
	}
	for _, hr := range list.Items {
		if _, ok := hr.Annotations[legacyValuesFilesAnnotation]; !ok {
			continue
		}
		if err := moveValuesFiles(ctx, c, client.ObjectKeyFromObject(&hr)); err != nil {
			return err
		}
	}
	return nil
}

// moveValuesFiles renames the annotation on one HelmRelease, re-reading it on a conflict with
// the operator's own writes.
func moveValuesFiles(ctx context.Context, c client.Client, key client.ObjectKey) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		hr := &metav1.PartialObjectMetadata{}
		hr.SetGroupVersionKind(helmv2.GroupVersion.WithKind(helmv2.HelmReleaseKind))
		if err := c.Get(ctx, key, hr); err != nil {
			return client.IgnoreNotFound(err)
		}
		legacy, ok := hr.Annotations[legacyValuesFilesAnnotation]
		if !ok {
			return nil
		}
		base := hr.DeepCopy()
		if _, current := hr.Annotations[v1alpha1.AnnotationValuesFiles]; !current {
			hr.Annotations[v1alpha1.AnnotationValuesFiles] = legacy
		}
		delete(hr.Annotations, legacyValuesFilesAnnotation)
		patch := client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})
		return c.Patch(ctx, hr, patch, client.FieldOwner(FieldOwner))
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("move annotation %s on HelmRelease %s: %w", legacyValuesFilesAnnotation, key, err)
	}
	return nil
}
