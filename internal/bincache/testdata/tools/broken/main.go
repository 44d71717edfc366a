// Command broken does not compile; the bincache tests check how a failed build is reported.
package main

func main() { undefinedFunction() }
