//go:build mage

package main

import (
	"context"
	"fmt"
	"os"

	"github.com/cozylab/cozylab/lab/qemu"
)

// Console follows a QEMU lab node's serial log (srv1, srv2, srv3) like `tail -f`, until Ctrl-C.
func (Lab) Console(ctx context.Context, node string) error {
	c, err := selectLab(ctx)
	if err != nil {
		return err
	}
	p, ok := c.Provider.(*qemu.Provider)
	if !ok {
		return fmt.Errorf("lab:console follows the serial log of a QEMU node; lab %s runs on the %s provider, which has none", os.Getenv("LAB_NAME"), c.Provider.Name())
	}
	return p.Console(ctx, node, os.Stdout)
}
