// Package cozypkg is the logic behind the cozypkg CLI: listing PackageSources and Packages as
// tables, adding Packages with their dependencies first (a variant chosen per package through a
// prompt), deleting Packages with their dependents first, and drawing the dependency graph as
// Graphviz DOT.
//
// The package never touches the terminal itself: every command runs on an Env that carries the
// client and the three streams, so the binary passes os.Stdin/Stdout/Stderr and tests pass
// buffers. Results a script may consume (tables, DOT) go to Out; progress, warnings and prompts
// go to Err, as upstream cozypkg does.
//
// Orders are deterministic where upstream walks Go maps: names keep the order they were given
// in, ties in a topological order are broken by name, and DOT nodes, edges and variant labels
// are sorted, so two runs over the same cluster print the same bytes.
package cozypkg
