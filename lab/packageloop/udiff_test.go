package packageloop

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestUnifiedDiff(t *testing.T) {
	a := "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n16\n"
	b := strings.Replace(strings.Replace(a, "2\n", "two\n", 1), "15\n", "", 1)
	want := `--- a
+++ b
@@ -1,5 +1,5 @@
 1
-2
+two
 3
 4
 5
@@ -12,5 +12,4 @@
 12
 13
 14
-15
 16
`
	assert.Equal(t, want, unifiedDiff("a", "b", a, b))
	assert.Empty(t, unifiedDiff("a", "b", a, a))
	assert.Equal(t, "--- a\n+++ b\n@@ -0,0 +1,2 @@\n+x\n+y\n", unifiedDiff("a", "b", "", "x\ny\n"))
}

func TestDiffResultFormat(t *testing.T) {
	res := DiffResult{Objects: []ObjectDiff{{Change: ChangeUpdate, Kind: "ConfigMap", Namespace: "ns", Name: "a", Diff: "--- a\n+++ b\n@@ -1,1 +1,1 @@\n-x\n+y\n"}}}
	assert.Equal(t, "--- a\n+++ b\n@@ -1,1 +1,1 @@\n-x\n+y\nchanged: 0 to create, 1 to update, 0 to delete\n", res.Format(false))
	assert.Contains(t, res.Format(true), "\x1b[31m-x\x1b[0m")
	assert.Equal(t, "no changes\n", DiffResult{}.Format(false))
}
