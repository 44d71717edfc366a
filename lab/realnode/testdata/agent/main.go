// Command agent is the real node tests' workload: `agent` serves "hello from <hostname>" on
// :8080 and logs a line when it starts; `agent echo WORDS…` prints its words (for exec);
// `agent get URL` prints the body at URL (a pod reaching a Service by name).
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "echo":
			fmt.Println(strings.Join(os.Args[2:], " "))
			return
		case "get":
			resp, err := http.Get(os.Args[2])
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			defer resp.Body.Close()
			_, _ = io.Copy(os.Stdout, resp.Body)
			return
		}
	}
	host, _ := os.Hostname()
	fmt.Printf("agent serving on :8080 as %s\n", host)
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintf(w, "hello from %s\n", host) })
	if err := http.ListenAndServe(":8080", nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
