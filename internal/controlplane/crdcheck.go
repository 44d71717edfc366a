package controlplane

import (
	"context"
	"fmt"
	"io/fs"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// CRDsEstablished checks, without changing anything, that every CRD of the files InstallCRDs
// would apply exists and is Established: a lab that resumes on the same etcd data skips the
// install this way. The error names the first one missing.
func CRDsEstablished(ctx context.Context, cfg *rest.Config, fsys fs.FS, patterns []string) error {
	cs, err := apiextensions.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("create apiextensions client: %w", err)
	}
	for _, p := range patterns {
		files, err := fs.Glob(fsys, p)
		if err != nil || len(files) == 0 {
			return fmt.Errorf("find CRDs %s: none found (%v)", p, err)
		}
		for _, f := range files {
			want, err := readCRD(fsys, f)
			if err != nil {
				return err
			}
			got, err := cs.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, want.Name, metav1.GetOptions{})
			if err != nil {
				return fmt.Errorf("check CRD %s: %w", want.Name, err)
			}
			if !established(got) {
				return fmt.Errorf("CRD %s is not Established", want.Name)
			}
		}
	}
	return nil
}

func established(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
			return true
		}
	}
	return false
}
