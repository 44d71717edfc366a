// Package prebuilt lets a lab and the e2e run where there is no Go toolchain (the sandbox
// image): every in-repo program they would `go build` at run time is described here once — its
// name, main package and build flags — so that an image can build them all ahead of time (Build)
// into a directory it names in COZYLAB_PREBUILT, and each run-time builder then takes the
// prebuilt file (Path, Install) instead of running `go`.
//
// The run-time builders (the lab daemon, the in-repo images, the operator, the twin agent, the
// charts' images) take their arguments from Programs, so a program built here is the program
// they would have built: the same flags give the same bytes, and an image made from it the same
// digest. Where neither a prebuilt program nor the go command is there, GoCommand's error names
// both fixes.
//
// The binaries cache (internal/bincache) looks in the same directory for its tools.
package prebuilt
