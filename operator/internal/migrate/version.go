package migrate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

// The version record, as upstream's platform chart and migration scripts write it.
const (
	// VersionConfigMap is the ConfigMap holding the platform version.
	VersionConfigMap = "cozystack-version"
	// VersionKey is the data key holding the version, a decimal integer.
	VersionKey = "version"
	// HistoryKey is the data key listing every migration the runner completed, one line each,
	// oldest first: "<RFC 3339 time> <N> → <N+1>". Upstream keeps no such record; with it an
	// upgrade can be checked to have run each migration exactly once.
	HistoryKey = "history"

	// annotationResourcePolicy "keep" stops `helm uninstall` of the platform deleting the record.
	annotationResourcePolicy = "helm.sh/resource-policy"
	labelNoDeleteTrue        = v1alpha1.LabelNoDelete + "=true"
)

// errVersionMoved marks a stamp refused because the stored version is not the one the runner
// migrated from: something else (another run, a migration) wrote it meanwhile.
var errVersionMoved = errors.New("the stored version moved")

// parseVersion reads the platform version from cm, naming the ConfigMap and the bad value when
// it is not a non-negative integer.
func parseVersion(cm *corev1.ConfigMap) (int, error) {
	raw, ok := cm.Data[VersionKey]
	if !ok {
		return 0, fmt.Errorf("read version from ConfigMap %s/%s: data.%s is missing; set it to the platform version the cluster runs", cm.Namespace, cm.Name, VersionKey)
	}
	v, err := strconv.Atoi(strings.TrimSpace(raw))
	if err != nil || v < 0 {
		return 0, fmt.Errorf("read version from ConfigMap %s/%s: data.%s is %q, not a non-negative integer; set it to the platform version the cluster runs", cm.Namespace, cm.Name, VersionKey, raw)
	}
	return v, nil
}

// markVersion gives cm the shape of a stamped version record: the version, the deletion-guard
// label and Helm's keep policy. Other labels and annotations are kept.
func markVersion(cm *corev1.ConfigMap, version int) {
	if cm.Labels == nil {
		cm.Labels = map[string]string{}
	}
	cm.Labels[v1alpha1.LabelNoDelete] = "true"
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	cm.Annotations[annotationResourcePolicy] = "keep"
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	cm.Data[VersionKey] = strconv.Itoa(version)
}

// versionStore reads and writes one namespace's version record.
type versionStore struct {
	c   client.Client
	key client.ObjectKey
}

func (s versionStore) name() string { return s.key.String() }

// get returns the record, or nil when it does not exist.
func (s versionStore) get(ctx context.Context) (*corev1.ConfigMap, error) {
	cm := &corev1.ConfigMap{}
	if err := s.c.Get(ctx, s.key, cm); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("get ConfigMap %s: %w", s.name(), err)
	}
	return cm, nil
}

// create writes a new record at version; it reports false, not an error, when one appeared
// since the caller looked.
func (s versionStore) create(ctx context.Context, version int) (bool, error) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: s.key.Namespace, Name: s.key.Name}}
	markVersion(cm, version)
	if err := s.c.Create(ctx, cm, client.FieldOwner(FieldOwner)); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return false, nil
		}
		return false, fmt.Errorf("create ConfigMap %s: %w", s.name(), err)
	}
	return true, nil
}

// advance moves the record from version from to version to. The write carries the
// resourceVersion it read, and the read must still say from, so two runs (or a migration that
// wrote the version itself) cannot silently skip or repeat a step.
func (s versionStore) advance(ctx context.Context, from, to int) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cm, err := s.get(ctx)
		if err != nil {
			return err
		}
		if cm == nil {
			return fmt.Errorf("stamp ConfigMap %s version %d: it was deleted during the migration", s.name(), to)
		}
		cur, err := parseVersion(cm)
		if err != nil {
			return err
		}
		if cur != from {
			return fmt.Errorf("stamp ConfigMap %s version %d: %w: expected %d, found %d (is another migration run active?)", s.name(), to, errVersionMoved, from, cur)
		}
		markVersion(cm, to)
		cm.Data[HistoryKey] += fmt.Sprintf("%s %d → %d\n", time.Now().UTC().Format(time.RFC3339), from, to)
		if err := s.c.Update(ctx, cm, client.FieldOwner(FieldOwner)); err != nil {
			return fmt.Errorf("stamp ConfigMap %s version %d: %w", s.name(), to, err)
		}
		return nil
	})
}
