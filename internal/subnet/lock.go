package subnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// lockName is the abstract unix socket that is the lock: the kernel releases it when its
// holder closes it or dies, and it leaves no file behind.
var lockName = "@cozylab-subnet-lock"

// Lock takes the host-wide lock that makes choosing a free network and creating what claims it
// (a bridge, a link with its address) one step: two labs starting at once would otherwise pick
// the same /24. Hold it from Used/FirstFree until the address is on a link; the returned
// function releases it.
func Lock(ctx context.Context) (unlock func(), err error) {
	for {
		l, err := net.Listen("unix", lockName)
		if err == nil {
			return func() { l.Close() }, nil
		}
		if !errors.Is(err, unix.EADDRINUSE) {
			return nil, fmt.Errorf("take the subnet lock: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for another lab choosing its network: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
