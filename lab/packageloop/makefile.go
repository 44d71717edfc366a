package packageloop

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// makefileAssign matches a simple make assignment: `[export|override] VAR [:|::|?|+]= value`.
var makefileAssign = regexp.MustCompile(`^(?:export\s+|override\s+)*([A-Za-z_][A-Za-z0-9_]*)\s*(:{0,2}|\?|\+)=\s*(.*?)\s*$`)

// makefileRef matches a variable reference, $(VAR) or ${VAR}.
var makefileRef = regexp.MustCompile(`\$[({]([A-Za-z_][A-Za-z0-9_]*)[)}]`)

// MakefileNames reads NAME and NAMESPACE from the chart directory's Makefile, as the charts of
// Cozystack-style trees set them (`export NAME=cilium`, `NAMESPACE=cozy-$(NAME)`), so the loop
// runs in a tree whose Makefiles include another package.mk: `make -f <cozylab>/packages/package.mk
// show` in such a chart directory needs no variables on the command line. Only the file's own
// simple assignments count (no includes, no functions); a name found nowhere is returned empty.
func MakefileNames(chartDir string) (name, namespace string, err error) {
	raw, err := os.ReadFile(filepath.Join(chartDir, "Makefile"))
	if errors.Is(err, os.ErrNotExist) {
		return "", "", nil
	}
	if err != nil {
		return "", "", err
	}
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		m := makefileAssign.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		key, op, value := m[1], m[2], m[3]
		value = makefileRef.ReplaceAllStringFunc(value, func(ref string) string {
			return vars[makefileRef.FindStringSubmatch(ref)[1]]
		})
		switch _, set := vars[key]; {
		case op == "?" && set:
		case op == "+" && set:
			vars[key] += " " + value
		default:
			vars[key] = value
		}
	}
	return vars["NAME"], vars["NAMESPACE"], nil
}

// withNames fills an empty Name or Namespace from the chart's Makefile.
func (o Options) withNames() (Options, error) {
	if o.Name != "" && o.Namespace != "" || o.ChartDir == "" {
		return o, nil
	}
	name, ns, err := MakefileNames(o.ChartDir)
	if err != nil {
		return o, fmt.Errorf("read NAME and NAMESPACE from the chart's Makefile: %w", err)
	}
	if o.Name == "" {
		o.Name = name
	}
	if o.Namespace == "" {
		o.Namespace = ns
	}
	return o, nil
}
