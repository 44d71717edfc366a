package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cozylab/cozylab/internal/condition"
)

// Linux input events (linux/input.h): struct input_event on 64-bit is a timeval (16 bytes),
// then type (u16), code (u16) and value (s32).
const (
	inputEventSize = 24
	evKey          = 1
	keyPower       = 116
)

// powerButtonPoll bounds the look for the power button: its node appears shortly after the
// modules load, or never on a machine without ACPI.
var powerButtonPoll = condition.Poll{Interval: 250 * time.Millisecond, Timeout: 5 * time.Second}

// findPowerButton returns the /dev/input/event* node of the ACPI power button (the "button"
// module reports QEMU's system_powerdown there; "evdev" makes the node), or an error while no
// input device under sysInput is named so.
func findPowerButton(sysInput, devInput string) (string, error) {
	names, err := filepath.Glob(filepath.Join(sysInput, "event*", "device", "name"))
	if err != nil {
		return "", fmt.Errorf("list input devices: %w", err)
	}
	for _, n := range names {
		raw, err := os.ReadFile(n)
		if err == nil && strings.Contains(string(raw), "Power Button") {
			return filepath.Join(devInput, filepath.Base(filepath.Dir(filepath.Dir(n)))), nil
		}
	}
	return "", fmt.Errorf("no input device in %s is a power button", sysInput)
}

// waitPowerKey reads input events from r until the power key is pressed (it returns true) or
// the device ends (false).
func waitPowerKey(r io.Reader) bool {
	buf := make([]byte, inputEventSize)
	for {
		if _, err := io.ReadFull(r, buf); err != nil {
			return false
		}
		typ := binary.LittleEndian.Uint16(buf[16:18])
		code := binary.LittleEndian.Uint16(buf[18:20])
		value := int32(binary.LittleEndian.Uint32(buf[20:24]))
		if typ == evKey && code == keyPower && value == 1 {
			return true
		}
	}
}

// watchPowerButton calls pressed when the ACPI power button is pressed (QMP system_powerdown,
// `lab:down`), so the guest shuts down cleanly instead of being killed.
func watchPowerButton(say func(string, ...any), pressed func()) {
	var dev string
	found := condition.Condition{Name: "the ACPI power button", Check: func(context.Context) error {
		var err error
		dev, err = findPowerButton("/sys/class/input", "/dev/input")
		return err
	}}
	if err := condition.Wait(context.Background(), found, powerButtonPoll, nil); err != nil {
		say("init: %v; a power-down request will not be seen", err)
		return
	}
	f, err := os.Open(dev)
	if err != nil {
		say("init: open the power button %s: %v", dev, err)
		return
	}
	defer f.Close()
	if waitPowerKey(f) {
		say("init: power button pressed: shutting down")
		pressed()
	}
}
