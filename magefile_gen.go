//go:build mage

package main

import (
	"context"

	"github.com/cozylab/cozylab/cli"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/operator/codegen"
)

// Gen regenerates every generated file: deepcopy and CRDs of operator/api, and the Flux CRDs at the versions in operator/flux.
func Gen(ctx context.Context) error {
	return cli.WithTerminal(func(term *progress.Terminal) error {
		return codegen.Generate(ctx, codegen.Options{Progress: term})
	})
}
