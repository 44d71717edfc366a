package twin

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestTailLines(t *testing.T) {
	data := []byte("one\ntwo\nthree\n")

	for n, want := range map[int]string{-1: "one\ntwo\nthree\n", 0: "", 1: "three\n", 2: "two\nthree\n", 3: "one\ntwo\nthree\n", 9: "one\ntwo\nthree\n"} {
		assert.Equal(t, want, string(tailLines(data, n)), "tail %d", n)
	}

	assert.Equal(t, "b", string(tailLines([]byte("a\nb"), 1)), "a last line without newline")
}
