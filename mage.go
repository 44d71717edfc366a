//go:build ignore

// Zero-install entry point: `go run mage.go <target>` behaves like `mage <target>`, with mage
// itself pinned in go.mod.
package main

import (
	"os"

	"github.com/magefile/mage/mage"
)

func main() { os.Exit(mage.Main()) }
