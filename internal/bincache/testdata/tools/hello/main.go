// Command hello is a tiny tool the bincache tests build: it prints the version the linker gave it.
package main

import "fmt"

var version = "unset"

func main() { fmt.Println("hello version", version) }
