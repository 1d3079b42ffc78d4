#!/bin/bash
# Boot the demo ISO in QEMU as a CD and as a USB stick, and check that the
# booted system's own init (after switch_root) reports the tree's metadata.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
t_tmpdir

require_qemu
iso=$(demo_iso) || { fail "building the demo ISO"; t_done; exit 1; }

check_log() {
	local how=$1 log=$2
	check "$how: root is overlayfs" grep -q 'root filesystem: overlay' "$log"
	check "$how: owner, mode, mtime of /home/user/hello.txt" grep -q 'hello.txt: 1000:1000 644 981173106' "$log"
	check "$how: setuid bit and hard link count" grep -q 'setuid-example: 4755 2' "$log"
	check "$how: root is writable" grep -q 'writable root: ok' "$log"
	check "$how: no kernel panic" bash -c "! grep -q 'Kernel panic' '$log'"
	check "$how: the hybrid image booted through the BIOS" grep -q 'firmware: BIOS' "$log"
}

if boot_wait "$T/cd.log" MKLIVE-BOOT-OK -cdrom "$iso"; then
	ok "boots as CD (-cdrom) to the live system's init in ${BOOT_SECONDS}s"
	check_log cd "$T/cd.log"
else
	fail "boots as CD: no marker; last lines:"; tail -n 25 "$T/cd.log"
fi

if boot_wait "$T/usb.log" MKLIVE-BOOT-OK -device qemu-xhci \
	-drive if=none,id=stick,format=raw,readonly=on,file="$iso" -device usb-storage,drive=stick,bootindex=1; then
	ok "boots as USB stick (qemu-xhci + usb-storage) in ${BOOT_SECONDS}s"
	check_log usb "$T/usb.log"
	check "usb: the live system has usb-storage's default settle time again" \
		grep -q 'mklive-demo: usb-storage delay_use: 1\b' "$T/usb.log"
else
	fail "boots as USB stick: no marker; last lines:"; tail -n 25 "$T/usb.log"
fi
t_done
