package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestExitCodes(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--help"}, 0, "-platform-source-url"},
		{[]string{"--helmrelease-interval=0s"}, 2, `cozystack-operator: --helmrelease-interval="0s": want a positive duration`},
		{[]string{"--platform-source-url=ftp://x"}, 2, "unsupported scheme"},
		{[]string{"--bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"migrate", "--help"}, 0, "Usage: cozystack-operator migrate"},
		{[]string{"migrate", "extra"}, 1, `unexpected argument "extra"`},
		{[]string{"--kubeconfig=/nonexistent/kubeconfig"}, 1, "load kubeconfig"},
	} {
		var stderr bytes.Buffer
		code := run(context.Background(), tt.args, &stderr)
		assert.Equal(t, tt.code, code, tt.args)
		assert.Contains(t, stderr.String(), tt.want, tt.args)
	}
}
