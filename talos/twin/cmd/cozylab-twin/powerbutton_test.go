package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func inputEvent(typ, code uint16, value int32) []byte {
	b := make([]byte, inputEventSize)
	binary.LittleEndian.PutUint16(b[16:18], typ)
	binary.LittleEndian.PutUint16(b[18:20], code)
	binary.LittleEndian.PutUint32(b[20:24], uint32(value))
	return b
}

func TestWaitPowerKey(t *testing.T) {
	var stream bytes.Buffer
	stream.Write(inputEvent(0, 0, 0))            // EV_SYN
	stream.Write(inputEvent(evKey, 30, 1))       // another key
	stream.Write(inputEvent(evKey, keyPower, 0)) // a release alone
	stream.Write(inputEvent(evKey, keyPower, 1)) // the press
	assert.True(t, waitPowerKey(&stream))
	assert.False(t, waitPowerKey(bytes.NewReader(inputEvent(evKey, 30, 1))), "the device ended without a press")
}

func TestFindPowerButton(t *testing.T) {
	sys := t.TempDir()
	for dev, name := range map[string]string{"event0": "AT Translated Set 2 keyboard\n", "event1": "Power Button\n"} {
		require.NoError(t, os.MkdirAll(filepath.Join(sys, dev, "device"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(sys, dev, "device", "name"), []byte(name), 0o644))
	}
	dev, err := findPowerButton(sys, "/dev/input")
	require.NoError(t, err)
	assert.Equal(t, "/dev/input/event1", dev)

	empty := t.TempDir()
	_, err = findPowerButton(empty, "/dev/input")
	require.EqualError(t, err, "no input device in "+empty+" is a power button")
}
