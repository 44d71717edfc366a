package providertest

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Exclusive makes the calling test the only one of its kind on the host until it ends: go test
// runs packages in parallel, and two tests that each boot a QEMU lab (three guests of 3 GiB and
// a translation cache each, saturating a small host's cores) would starve, or run out of
// memory, side by side. It waits for the holder in another package's test binary, saying so;
// the kernel drops the lock when the holder ends, killed or not.
func Exclusive(t testing.TB, kind string) {
	t.Helper()
	path := filepath.Join(os.TempDir(), "cozylab-test-"+kind+".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatalf("open the %s test lock: %v", kind, err)
	}
	t.Cleanup(func() { _ = f.Close() }) // closing releases the lock
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
		return
	}
	t.Logf("another test runs a %s lab on this host (lock %s): waiting for it to end", kind, path)
	began := time.Now()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("take the %s test lock: %v", kind, err)
	}
	t.Logf("took the %s test lock after %s", kind, time.Since(began).Round(time.Second))
}
