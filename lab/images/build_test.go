package images

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/cozylab/cozylab/internal/progress"
)

func TestGoBuildArgs(t *testing.T) {
	assert.Equal(t, []string{"build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", "/bin/pause", "example.com/cmd/pause"},
		GoBuildArgs("/bin/pause", "example.com/cmd/pause"))
}

func TestBuildRejectsBadOptions(t *testing.T) {
	ctx := context.Background()
	for name, tc := range map[string]struct {
		opts Options
		want string
	}{
		"no registry":   {Options{Names: []string{Pause}}, "set Options.Registry"},
		"unknown image": {Options{Registry: "127.0.0.1:1", Names: []string{"nginx"}}, `unknown image "nginx"`},
		"no checkout":   {Options{Registry: "127.0.0.1:1", Names: []string{Pause}, BinDir: t.TempDir()}, "image pause: build github.com/cozylab/cozylab/lab/cmd/pause: no repository root"},
	} {
		t.Run(name, func(t *testing.T) {
			rec := &progress.Recorder{}
			tc.opts.Progress = rec
			_, err := Build(ctx, tc.opts)
			assert.ErrorContains(t, err, tc.want)
			for _, r := range rec.Records() {
				assert.Equal(t, progress.Failed, r.Outcome, "a failed image's step ends with ✗")
			}
		})
	}
}
