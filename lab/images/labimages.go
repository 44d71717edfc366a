package images

import "slices"

// labImages are the images a lab whose nodes really run pods runs itself: the pod sandbox, the
// cluster DNS and the Flux controllers of the operator's Flux pod.
var labImages = []string{Pause, CoreDNS, SourceController, HelmController,
	SourceWatcher, KustomizeController, NotificationController}

// LabImages names the images every lab with real nodes builds into its registry before its
// nodes run pods (the local lab's real node, the QEMU lab's twins). The operator's own image is
// not among them: it is the platform's, and the e2e pushes it, built from the tree it tests.
func LabImages() []string { return slices.Clone(labImages) }
