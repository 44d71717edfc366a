package e2e

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/cozylab/cozylab/internal/process"
)

type junitSuite struct {
	XMLName  xml.Name    `xml:"testsuite"`
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name    string        `xml:"name,attr"`
	Class   string        `xml:"classname,attr"`
	Time    string        `xml:"time,attr"`
	Failure *junitFailure `xml:"failure,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// writeJUnit writes the actions as one test suite, one test case each; actions after a
// failure are not run and not listed.
func writeJUnit(path string, actions []ActionResult) error {
	s := junitSuite{Name: "cozylab-e2e", Tests: len(actions)}
	var total float64
	for _, a := range actions {
		c := junitCase{Name: a.Name, Class: "e2e", Time: seconds(a.Duration.Seconds())}
		total += a.Duration.Seconds()
		if a.Err != nil {
			s.Failures++
			msg := a.Err.Error()
			first, _, _ := strings.Cut(msg, "\n")
			c.Failure = &junitFailure{Message: first, Text: msg}
		}
		s.Cases = append(s.Cases, c)
	}
	s.Time = seconds(total)
	raw, err := xml.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode JUnit report: %w", err)
	}
	return os.WriteFile(path, append([]byte(xml.Header), append(raw, '\n')...), 0o644)
}

func seconds(s float64) string { return strconv.FormatFloat(s, 'f', 3, 64) }

// PeakMemory is the peak resident memory of this process (the harness) and the sum of the
// peaks of the processes running from under dirs (the lab's binaries), in bytes.
func PeakMemory(dirs ...string) (harness, lab uint64) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		harness = uint64(ru.Maxrss) * 1024
	}
	seen := map[int]bool{}
	for _, d := range dirs {
		procs, err := process.FindByExecutable(d)
		if err != nil {
			continue
		}
		for _, p := range procs {
			if !seen[p.Pid] {
				seen[p.Pid] = true
				lab += vmHWM(p.Pid)
			}
		}
	}
	return harness, lab
}

// vmHWM reads a process's peak resident set size from /proc.
func vmHWM(pid int) uint64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}
