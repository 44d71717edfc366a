package cozypkg

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSelectVariant(t *testing.T) {
	three := source("cozystack.net", variant("cilium"), variant("kubeovn"), variant("none"))
	one := source("cozystack.db", variant("default"))
	tests := []struct {
		name    string
		source  string
		input   string
		want    string
		invalid int
		err     string
	}{
		{name: "a number", source: "three", input: "2\n", want: "kubeovn"},
		{name: "spaces around", source: "three", input: "  3 \r\n", want: "none"},
		{name: "last line without newline", source: "three", input: "1", want: "cilium"},
		{name: "re-asks until valid", source: "three", input: "0\nfour\n\n4\n3\n", want: "none", invalid: 4},
		{name: "single variant, Enter", source: "one", input: "\n", want: "default"},
		{name: "single variant, 1", source: "one", input: "1\n", want: "default"},
		{name: "input ends", source: "three", input: "", err: "read variant of cozystack.net: input ended before an answer"},
		{name: "input ends after a bad answer", source: "three", input: "9\n", invalid: 1, err: "input ended"},
		{name: "single variant, input ends", source: "one", input: "", err: "input ended"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := &three
			if tt.source == "one" {
				ps = &one
			}
			var out bytes.Buffer
			got, err := selectVariant(bufio.NewReader(strings.NewReader(tt.input)), &out, ps)
			assert.Equal(t, tt.invalid, strings.Count(out.String(), "Invalid choice."))
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestSelectVariantPrompt(t *testing.T) {
	var out bytes.Buffer
	ps := source("cozystack.net", variant("cilium"), variant("kubeovn"))
	_, err := selectVariant(bufio.NewReader(strings.NewReader("x\n1\n")), &out, &ps)
	require.NoError(t, err)
	assert.Equal(t, "\nPackageSource: cozystack.net\nAvailable variants:\n  1. cilium\n  2. kubeovn\n"+
		"Select variant (1-2): Invalid choice. Please enter a number between 1 and 2.\nSelect variant (1-2): ", out.String())

	out.Reset()
	single := source("cozystack.db", variant("default"))
	_, err = selectVariant(bufio.NewReader(strings.NewReader("\n")), &out, &single)
	require.NoError(t, err)
	assert.True(t, strings.HasSuffix(out.String(), "Select variant [1]: "), out.String())

	empty := source("cozystack.empty")
	_, err = selectVariant(bufio.NewReader(strings.NewReader("1\n")), &out, &empty)
	require.EqualError(t, err, "PackageSource cozystack.empty has no variants")
}

func TestPromptsShareOneReader(t *testing.T) {
	in := bufio.NewReader(strings.NewReader("2\n1\n"))
	ps := source("p", variant("a"), variant("b"))
	first, err := selectVariant(in, &bytes.Buffer{}, &ps)
	require.NoError(t, err)
	second, err := selectVariant(in, &bytes.Buffer{}, &ps)
	require.NoError(t, err)
	assert.Equal(t, []string{"b", "a"}, []string{first, second}, "buffered input is not lost between prompts")
}

func TestConfirm(t *testing.T) {
	for input, want := range map[string]bool{
		"y\n": true, "Y\n": true, "yes\n": true, " YES \n": true, "yes": true,
		"n\n": false, "\n": false, "": false, "yep\n": false, "no\n": false,
	} {
		var out bytes.Buffer
		got, err := confirm(bufio.NewReader(strings.NewReader(input)), &out, "Do you want to continue? [y/N]: ")
		require.NoError(t, err, "%q", input)
		assert.Equal(t, want, got, "%q", input)
		assert.True(t, strings.HasPrefix(out.String(), "Do you want to continue? [y/N]: "))
	}
}
