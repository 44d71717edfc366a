package progress

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWireReplaysStepsAndOtherEvents(t *testing.T) {
	var buf bytes.Buffer
	w := NewWire(&buf)
	a := w.Begin("Starting etcd")
	b := w.Begin("Building kwok")
	a.Status("waiting for %s", "/readyz")
	b.Skip("cached")
	a.Done(nil)
	c := w.Begin("Starting Flux")
	c.Done(errors.New("port 8080 in use"))
	w.Send(Event{Kind: "ready", Text: "/tmp/kubeconfig"})
	w.Send(Event{Kind: "after-ready"})

	rec := &Recorder{}
	var others []Event
	require.NoError(t, Replay(&buf, rec, func(ev Event) bool {
		others = append(others, ev)
		return ev.Kind == "ready"
	}))
	recs := rec.Records()
	require.Len(t, recs, 3)
	assert.Equal(t, Record{Title: "Building kwok", Outcome: Skipped, Note: "cached"}, withoutDuration(recs[0]))
	assert.Equal(t, Record{Title: "Starting etcd", Outcome: Succeeded}, withoutDuration(recs[1]))
	assert.Equal(t, Record{Title: "Starting Flux", Outcome: Failed, Note: "port 8080 in use"}, withoutDuration(recs[2]))
	assert.Equal(t, []string{"waiting for /readyz"}, rec.Statuses("Starting etcd"))
	assert.Equal(t, []Event{{Kind: "ready", Text: "/tmp/kubeconfig"}}, others, "Replay stops at the event the caller accepts")
}

func TestReplayEndsOpenStepsAtEOF(t *testing.T) {
	var buf bytes.Buffer
	NewWire(&buf).Begin("Starting kube-apiserver")
	rec := &Recorder{}
	require.NoError(t, Replay(&buf, rec, nil))
	require.Len(t, rec.Records(), 1)
	assert.Equal(t, Failed, rec.Records()[0].Outcome)
	assert.Equal(t, "interrupted", rec.Records()[0].Note)
}

func TestReplayRejectsGarbage(t *testing.T) {
	err := Replay(strings.NewReader("panic: boom\n"), &Recorder{}, nil)
	require.ErrorContains(t, err, `read progress event "panic: boom"`)
}

func withoutDuration(r Record) Record {
	r.Duration = 0
	return r
}
