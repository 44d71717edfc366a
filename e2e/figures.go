package e2e

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cozylab/cozylab/internal/bincache"
	"github.com/cozylab/cozylab/internal/progress"
)

// Figures are a run's headline numbers.
type Figures struct {
	// Build is the time spent building (binaries cache, lab daemon, operator) and Builds how
	// many builds ran; LabBuild is the part of Build inside "lab up".
	Build, LabBuild time.Duration
	Builds          int
	// LabUp is the "lab up" action's time.
	LabUp time.Duration
	// AllReady and Releases are the Result's.
	AllReady time.Duration
	Releases int
	// HarnessMemory and LabMemory are peak resident bytes (PeakMemory).
	HarnessMemory, LabMemory uint64
	// GuestPeaks and GuestPeaksErr are the Result's: each lab guest's peak resident bytes.
	GuestPeaks    map[string]uint64
	GuestPeaksErr error
}

// MeasureFigures reads the figures from a run's progress records and result; the lab's
// peak memory is that of the processes running from labDir and the binaries cache.
func MeasureFigures(recs []progress.Record, res Result, labDir string) Figures {
	f := Figures{AllReady: res.AllReady, Releases: res.Releases, GuestPeaks: res.GuestPeaks, GuestPeaksErr: res.GuestPeaksErr}
	for _, r := range recs {
		switch {
		case r.Title == "lab up":
			f.LabUp = r.Duration
		case r.Outcome == progress.Succeeded && isBuildStep(r.Title):
			f.Build += r.Duration
			f.Builds++
			if r.Title != operatorBuildStep {
				f.LabBuild += r.Duration // the binaries cache and the lab daemon are built inside lab up
			}
		}
	}
	cache, _ := bincache.DefaultRoot()
	f.HarnessMemory, f.LabMemory = PeakMemory(cache, labDir)
	return f
}

// operatorBuildStep is the title of the pipeline's operator build.
const operatorBuildStep = "Building the operator binary"

// isBuildStep tells the steps that build: a binaries-cache build ("<tool> <version>") or a
// "Building ..." step.
func isBuildStep(title string) bool {
	if strings.HasPrefix(title, "Building") {
		return true
	}
	for _, t := range bincache.Tools {
		if title == t.Name+" "+t.Version {
			return true
		}
	}
	return false
}

// Print writes the figures for a person, one per line.
func (f Figures) Print(w io.Writer, providerName string) {
	buildNote := fmt.Sprintf("%s (%d builds)", progress.Round(f.Build), f.Builds)
	if f.Builds == 0 {
		buildNote = "0s (everything cached)"
	}
	fmt.Fprintf(w, "Cold-build time:  %s\n", buildNote)
	labNote := providerName + " provider"
	if f.LabBuild > 0 && f.LabBuild < f.LabUp {
		labNote += fmt.Sprintf(", %s of it not building", progress.Round(f.LabUp-f.LabBuild))
	}
	fmt.Fprintf(w, "Lab-up time:      %s (%s)\n", progress.Round(f.LabUp), labNote)
	if f.AllReady > 0 {
		fmt.Fprintf(w, "All-Ready time:   %s (%d HelmReleases, from the platform Package)\n", progress.Round(f.AllReady), f.Releases)
	}
	fmt.Fprintf(w, "Peak memory:      lab processes %d MiB (sum of each one's peak), harness %d MiB\n", f.LabMemory>>20, f.HarnessMemory>>20)
	if line := f.guestLine(); line != "" {
		fmt.Fprintf(w, "Guest peak memory: %s\n", line)
	}
}

// guestLine is the peak memory per guest, "srv1 2410 MiB, srv2 2388 MiB, srv3 2350 MiB (each
// VM's peak resident set)", with what could not be read; "" on a lab without guests.
func (f Figures) guestLine() string {
	var parts []string
	for _, n := range slices.Sorted(maps.Keys(f.GuestPeaks)) {
		parts = append(parts, fmt.Sprintf("%s %d MiB", n, f.GuestPeaks[n]>>20))
	}
	line := strings.Join(parts, ", ")
	if line != "" {
		line += " (each VM's peak resident set)"
	}
	if f.GuestPeaksErr != nil {
		line = strings.TrimPrefix(line+"; not read: "+f.GuestPeaksErr.Error(), "; ")
	}
	return line
}
