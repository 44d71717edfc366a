package vm

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/cavaliergopher/cpio"
)

// UserspaceMarker is the line the tiny init prints on the console once the guest kernel has
// handed over to userspace. The KVM probe and the VM tests wait for it in the serial log.
const UserspaceMarker = "cozylab-tiny-init: userspace reached"

// The tiny init is a hand-assembled static x86-64 ELF of a few hundred bytes rather than a Go
// program: building one would need the Go toolchain and a cache at run time and would weigh
// about 1.5 MB, and the kernel's own "Run /init as init process" line is printed before
// userspace runs (and hidden by quiet), so it proves less. The program:
//
//	mov  eax, 1            ; write(1, msg, len)
//	mov  edi, 1
//	lea  rsi, [rip+msg]
//	mov  edx, len
//	syscall
//	loop:
//	mov  eax, 34           ; pause(), forever: PID 1 must not exit (the kernel would panic)
//	syscall
//	jmp  loop
//	msg: UserspaceMarker "\n"
//
// Its stdout is /dev/console, which the kernel opens from the device node in its built-in
// initramfs (the default initramfs list every kernel carries holds /dev/console), so the line
// reaches the serial log with console=ttyS0. The guest keeps running until it is stopped; it has
// no ACPI handler, so Stop falls through the power button to QMP quit.
const (
	elfBase       = 0x400000
	elfHeaderSize = 64
	progHdrSize   = 56
	codeOffset    = elfHeaderSize + progHdrSize
)

// tinyInitCode is the machine code above without the message; msgRel is where the lea's rel32
// goes.
var tinyInitCode = []byte{
	0xb8, 0x01, 0x00, 0x00, 0x00, // mov eax, 1
	0xbf, 0x01, 0x00, 0x00, 0x00, // mov edi, 1
	0x48, 0x8d, 0x35, 0, 0, 0, 0, // lea rsi, [rip+rel32]
	0xba, 0, 0, 0, 0, // mov edx, imm32
	0x0f, 0x05, // syscall
	0xb8, 0x22, 0x00, 0x00, 0x00, // loop: mov eax, 34
	0x0f, 0x05, // syscall
	0xeb, 0xf7, // jmp loop (-9)
}

const (
	leaRel32At = 13 // offset of the lea's displacement in tinyInitCode
	leaEnd     = 17 // rip after the lea
	lenImmAt   = 18 // offset of mov edx's immediate
)

// TinyInit returns the tiny init program: a static x86-64 ELF that prints UserspaceMarker and
// pauses forever.
func TinyInit() []byte {
	msg := []byte(UserspaceMarker + "\n")
	code := append([]byte(nil), tinyInitCode...)
	binary.LittleEndian.PutUint32(code[leaRel32At:], uint32(len(tinyInitCode)-leaEnd))
	binary.LittleEndian.PutUint32(code[lenImmAt:], uint32(len(msg)))
	size := codeOffset + len(code) + len(msg)

	out := make([]byte, codeOffset, size)
	copy(out, []byte{0x7f, 'E', 'L', 'F', 2, 1, 1}) // 64-bit, little endian, ELF version 1
	le := binary.LittleEndian
	le.PutUint16(out[16:], 2)                  // e_type: ET_EXEC
	le.PutUint16(out[18:], 62)                 // e_machine: x86-64
	le.PutUint32(out[20:], 1)                  // e_version
	le.PutUint64(out[24:], elfBase+codeOffset) // e_entry
	le.PutUint64(out[32:], elfHeaderSize)      // e_phoff
	le.PutUint16(out[52:], elfHeaderSize)      // e_ehsize
	le.PutUint16(out[54:], progHdrSize)        // e_phentsize
	le.PutUint16(out[56:], 1)                  // e_phnum
	ph := out[elfHeaderSize:]
	le.PutUint32(ph[0:], 1)             // p_type: PT_LOAD
	le.PutUint32(ph[4:], 5)             // p_flags: R+X
	le.PutUint64(ph[16:], elfBase)      // p_vaddr (p_offset 0: the whole file is mapped)
	le.PutUint64(ph[24:], elfBase)      // p_paddr
	le.PutUint64(ph[32:], uint64(size)) // p_filesz
	le.PutUint64(ph[40:], uint64(size)) // p_memsz
	le.PutUint64(ph[48:], 0x1000)       // p_align
	out = append(out, code...)
	return append(out, msg...)
}

// WriteTinyInitramfs writes a newc cpio archive holding only /init = TinyInit, for
// -initrd (the kernel accepts it uncompressed).
func WriteTinyInitramfs(w io.Writer) error {
	prog := TinyInit()
	cw := cpio.NewWriter(w)
	if err := cw.WriteHeader(&cpio.Header{Name: "init", Mode: cpio.TypeReg | 0o755, Size: int64(len(prog)), Links: 1}); err != nil {
		return fmt.Errorf("write tiny initramfs: %w", err)
	}
	if _, err := cw.Write(prog); err != nil {
		return fmt.Errorf("write tiny initramfs: %w", err)
	}
	if err := cw.Close(); err != nil {
		return fmt.Errorf("write tiny initramfs: %w", err)
	}
	return nil
}
