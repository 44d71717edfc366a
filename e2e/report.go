package e2e

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/cozylab/cozylab/e2e/releasewait"
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
// failure are not run and not listed. When the HelmRelease wait failed in keep-going mode
// (blocked is its Result), one test case per HelmRelease it saw follows (see releaseCases), so
// CI shows each release.
func writeJUnit(path string, actions []ActionResult, blocked *releasewait.Result) error {
	s := junitSuite{Name: "cozylab-e2e"}
	var total float64
	for _, a := range actions {
		c := junitCase{Name: a.Name, Class: "e2e", Time: seconds(a.Duration.Seconds())}
		total += a.Duration.Seconds()
		if a.Err != nil {
			msg := a.Err.Error()
			first, _, _ := strings.Cut(msg, "\n")
			c.Failure = &junitFailure{Message: first, Text: msg}
		}
		s.Cases = append(s.Cases, c)
	}
	if blocked != nil {
		s.Cases = append(s.Cases, releaseCases(*blocked)...)
	}
	s.Tests = len(s.Cases)
	for _, c := range s.Cases {
		if c.Failure != nil {
			s.Failures++
		}
	}
	s.Time = seconds(total)
	raw, err := xml.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode JUnit report: %w", err)
	}
	return os.WriteFile(path, append([]byte(xml.Header), append(raw, '\n')...), 0o644)
}

// releaseCases are one test case per HelmRelease a keep-going wait saw: a Ready release passes
// (its time is its install time), a blocker fails with its class and why, and a release still
// progressing when the wait timed out fails as such. Blocked Packages get a case each too.
func releaseCases(res releasewait.Result) []junitCase {
	var out []junitCase
	for _, r := range res.Releases {
		out = append(out, junitCase{Name: "HelmRelease " + r.Namespace + "/" + r.Name, Class: "e2e.helmreleases",
			Time: seconds(max(r.Took, 0).Seconds())})
	}
	for _, b := range res.Blockers {
		why := blockerClass(b) + ": " + b.Cause()
		out = append(out, junitCase{Name: b.Ref(), Class: caseClass(b.Kind), Time: seconds(0),
			Failure: &junitFailure{Message: why, Text: why + "\n\n" + b.Message}})
	}
	for _, o := range res.Unfinished {
		msg := "not Ready when the wait timed out: " + o.Detail()
		out = append(out, junitCase{Name: o.Ref(), Class: caseClass(o.Kind), Time: seconds(0),
			Failure: &junitFailure{Message: msg, Text: msg}})
	}
	return out
}

func caseClass(k releasewait.Kind) string {
	if k == releasewait.PackageKind {
		return "e2e.packages"
	}
	return "e2e.helmreleases"
}

// blockerClass names a blocker's class for a reader: "Failed", "WaitingOnDependency",
// "LabLimit (webhook)".
func blockerClass(b releasewait.Blocker) string {
	if b.Limit != "" {
		return fmt.Sprintf("%s (%s)", b.Class, b.Limit)
	}
	return string(b.Class)
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
