package v1alpha1

// Names shared with upstream Cozystack: charts, tooling and admission policies match on them.
const (
	// DefaultVariant is the variant of a Package whose spec.variant is empty.
	DefaultVariant = "default"
	// SystemNamespace holds the operator, the platform source and every ArtifactGenerator.
	SystemNamespace = "cozy-system"
	// ValuesSecretName is the Secret every HelmRelease takes values from.
	ValuesSecretName = "cozystack-values"

	// LabelPackage names the Package a HelmRelease belongs to.
	LabelPackage = "cozystack.io/package"
	// LabelPackageSource names the PackageSource an ArtifactGenerator belongs to.
	LabelPackageSource = "cozystack.io/packagesource"
	// LabelPrivileged marks a HelmRelease of a privileged component.
	LabelPrivileged = "cozystack.io/privileged"
	// LabelSystem marks system namespaces (those cozystack-values is replicated into).
	LabelSystem = "cozystack.io/system"
	// LabelNoDelete marks objects the platform's admission policy protects from deletion.
	LabelNoDelete = "platform.cozystack.io/no-delete"

	// AnnotationSkipValues on a PackageSource ("true") leaves cozystack-values out of valuesFrom.
	AnnotationSkipValues = "operator.cozystack.io/skip-cozystack-values"
	// AnnotationValuesFiles on a HelmRelease lists the component's values files.
	AnnotationValuesFiles = "cozyhr.cozystack.io/values-files"
	// AnnotationConfigHash on cozystack-api's pod template restarts it when definitions change.
	AnnotationConfigHash = "cozystack.io/config-hash"
	// AnnotationRecoveryAttempts and AnnotationLastRecoveryAt are the source-watcher stall
	// workaround's bookkeeping on an ArtifactGenerator.
	AnnotationRecoveryAttempts = "cozystack.io/source-watcher-recovery-attempts"
	AnnotationLastRecoveryAt   = "cozystack.io/source-watcher-last-recovery-at"
)

// Condition types.
const (
	// ConditionReady is the upstream condition on Package and PackageSource.
	ConditionReady = "Ready"
	// ConditionReleasesReady (an addition) reports whether a Package's HelmReleases are Ready.
	ConditionReleasesReady = "ReleasesReady"
)

// Package condition reasons (type Ready).
const (
	ReasonPackageSourceNotFound   = "PackageSourceNotFound"
	ReasonVariantNotFound         = "VariantNotFound"
	ReasonDependenciesNotReady    = "DependenciesNotReady"
	ReasonInvalidConfiguration    = "InvalidConfiguration"
	ReasonInternalError           = "InternalError"
	ReasonDependsOnFailed         = "DependsOnFailed"
	ReasonHelmReleaseFailed       = "HelmReleaseFailed"
	ReasonReconciliationSucceeded = "ReconciliationSucceeded"
)

// Package condition reasons of type ReleasesReady (additions to upstream).
const (
	ReasonAllReleasesReady    = "AllReleasesReady"
	ReasonReleasesProgressing = "ReleasesProgressing"
	ReasonReleaseNotReady     = "ReleaseNotReady"
	ReasonReleaseStalled      = "ReleaseStalled"
)

// PackageSource condition reasons (type Ready).
const (
	ReasonSourceRefNotSet               = "SourceRefNotSet"
	ReasonArtifactGeneratorNotFound     = "ArtifactGeneratorNotFound"
	ReasonArtifactGeneratorNotReady     = "ArtifactGeneratorNotReady"
	ReasonAwaitingSourceWatcherRecovery = "AwaitingSourceWatcherRecovery"
	ReasonSourceWatcherStalled          = "SourceWatcherStalled"
	// ReasonSourceWatcherRecoveryForced is written on the ArtifactGenerator's Ready.
	ReasonSourceWatcherRecoveryForced = "SourceWatcherRecoveryForced"
)

// PlatformVariants are the variants of the platform PackageSource the operator creates, in its
// order (operator/internal/platform holds each one's values files).
var PlatformVariants = []string{"default", "isp-full", "isp-hosted", "isp-full-generic"}
