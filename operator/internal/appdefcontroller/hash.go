package appdefcontroller

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

// hashEntry is what of a definition counts: a change of its labels, annotations or other
// metadata does not change what cozystack-api serves, so it must not restart it.
type hashEntry struct {
	Name string                             `json:"name"`
	Spec v1alpha1.ApplicationDefinitionSpec `json:"spec"`
}

// ConfigHash is the SHA-256, as lower-case hex, of the JSON array of {"name", "spec"} of defs
// sorted by name. It does not depend on the order of defs and does not modify it.
func ConfigHash(defs []v1alpha1.ApplicationDefinition) (string, error) {
	entries := make([]hashEntry, len(defs))
	for i := range defs {
		entries[i] = hashEntry{Name: defs[i].Name, Spec: defs[i].Spec}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	data, err := json.Marshal(entries)
	if err != nil {
		return "", fmt.Errorf("encode ApplicationDefinitions: %w", err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}
