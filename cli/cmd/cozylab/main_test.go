package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestExitCodes(t *testing.T) {
	assert.Equal(t, 0, run(t.Context(), []string{"--help"}))
	assert.Equal(t, 0, run(t.Context(), []string{"lab", "--help"}))
	assert.Equal(t, 1, run(t.Context(), []string{"release", "prepare", "1.0"}), "a bad version is refused by the library")
	assert.Equal(t, 1, run(t.Context(), []string{"lab", "console"}), "a missing argument")
	assert.Equal(t, 1, run(t.Context(), []string{"no-such-verb"}))
}
