#!/bin/bash
# Every initramfs compression the builder offers is one the kernel unpacks:
# gzip, xz (CRC32), lz4 (legacy frame) and none each boot to the live system.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
t_tmpdir

require_qemu
demo_iso >/dev/null || { fail "building the demo tree"; t_done; exit 1; }
root=$TOP/build/test-demo/root
for c in gzip xz lz4 none; do
	if ! "$MKLIVE" build -q --timeout 1 --compressor lz4 --initrd-compressor "$c" \
		"$root" -o "$T/$c.iso" 2>"$T/err"; then
		fail "$c: build: $(cat "$T/err")"
		continue
	fi
	xorriso -osirrox on -indev "$T/$c.iso" -extract /live/vmlinuz "$T/vmlinuz" \
		-extract /live/initrd.img "$T/initrd-$c" >/dev/null 2>&1
	case $c in
	gzip) check "gzip: file(1) agrees" grep -q 'gzip compressed' <<<"$(file "$T/initrd-$c")" ;;
	xz) check "xz: CRC32 check (the kernel's xz has no CRC64)" grep -q 'CRC32' <<<"$(xz -lvv "$T/initrd-$c" 2>/dev/null)" ;;
	lz4) check "lz4: legacy frame magic" test "$(od -An -tx1 -N4 "$T/initrd-$c" | tr -d ' ')" = 02214c18 ;;
	none) check "none: a plain newc archive" test "$(head -c 6 "$T/initrd-$c")" = 070701 ;;
	esac
	if boot_wait "$T/$c.log" MKLIVE-BOOT-OK -kernel "$T/vmlinuz" -initrd "$T/initrd-$c" \
		-append console=ttyS0 -cdrom "$T/$c.iso"; then
		ok "$c initramfs: the kernel unpacks it and the live system comes up (${BOOT_SECONDS}s)"
	else
		fail "$c initramfs does not boot"; tail -n 15 "$T/$c.log"
	fi
	rm -f "$T/$c.iso"
done
t_done
