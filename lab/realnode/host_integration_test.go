//go:build integration

package realnode

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/lab/qemu/network"
)

// snapshotHost is Snapshot, failing the test on an error.
func snapshotHost(t *testing.T, root string, labs ...string) HostState {
	t.Helper()
	s, err := Snapshot(root, labs...)
	require.NoError(t, err)
	return s
}

// assertHostAsBefore compares two snapshots; the shared part only when both have it.
func assertHostAsBefore(t *testing.T, before, after HostState) {
	t.Helper()
	b, a, shared := Comparable(before, after)
	if !shared {
		t.Logf("another real node ran on this host meanwhile: its fixed paths and sysctls were not compared")
	}
	assert.Equal(t, b, a, "the host after Clean is as before")
}

func TestQEMUTablePrefixIsQEMUs(t *testing.T) {
	assert.Equal(t, network.TablePrefix, QEMUTablePrefix)
}
