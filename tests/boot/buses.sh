#!/bin/bash
# The same initramfs finds its medium on every bus it may sit on: the init
# loads drivers by modalias. Firmware boots of the ISO on a q35 machine (the
# CD on AHCI); direct kernel boots (-kernel/-initrd, the ISO's own files)
# with the ISO as a virtio disk and as an NVMe disk; no medium at all,
# which must give a clear message and no kernel panic; and a USB disk that
# is not ready, scanned again with usb-storage's settle time.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
t_tmpdir

require_qemu
iso=$(demo_iso) || { fail "building the demo ISO"; t_done; exit 1; }
xorriso -osirrox on -indev "$iso" -extract /live/vmlinuz "$T/vmlinuz" \
	-extract /live/initrd.img "$T/initrd.img" >/dev/null 2>&1
direct=(-kernel "$T/vmlinuz" -initrd "$T/initrd.img")

if boot_wait "$T/ahci.log" MKLIVE-BOOT-OK -M q35 -cdrom "$iso"; then
	ok "q35: CD on AHCI, boots to the live system in ${BOOT_SECONDS}s"
	check "q35: the AHCI driver was loaded (by modalias) and the CD found" grep -q 'ahci 0000:' "$T/ahci.log"
else
	fail "q35 AHCI CD: no marker"; tail -n 20 "$T/ahci.log"
fi

if boot_wait "$T/virtio.log" MKLIVE-BOOT-OK "${direct[@]}" -append "console=ttyS0" \
	-drive if=virtio,format=raw,readonly=on,file="$iso"; then
	ok "virtio disk: the init finds the medium in ${BOOT_SECONDS}s"
	check "virtio: medium on /dev/vda" grep -q 'on /dev/vda' "$T/virtio.log"
else
	fail "virtio disk: no marker"; tail -n 20 "$T/virtio.log"
fi

if boot_wait "$T/nvme.log" MKLIVE-BOOT-OK "${direct[@]}" -append "console=ttyS0" \
	-drive if=none,id=nv,format=raw,readonly=on,file="$iso" -device nvme,drive=nv,serial=mklive; then
	ok "NVMe disk: the init finds the medium in ${BOOT_SECONDS}s"
	check "NVMe: medium on /dev/nvme0n1" grep -q 'on /dev/nvme0n1' "$T/nvme.log"
else
	fail "NVMe disk: no marker"; tail -n 20 "$T/nvme.log"
fi

# No medium: the init says what it looked for and waits (or opens a rescue
# shell); it never returns, so the kernel must not panic.
if boot_wait "$T/none.log" "medium not found" "${direct[@]}" \
	-append "console=ttyS0 mklive.timeout=3"; then
	ok "no medium: the init says so after its timeout"
	check "no medium: the message names the ID it looked for" grep -q 'MKLIVE-[0-9a-f]\{16\}' "$T/none.log"
	check "no medium: no kernel panic" bash -c "! grep -q 'Kernel panic' '$T/none.log'"
else
	fail "no medium: no message"; tail -n 20 "$T/none.log"
fi

# USB sticks without usb-storage's settle time, and with it for a device
# that showed it needs it: an empty removable USB disk (as a card reader
# without a card, or a stick that says "no medium" when asked too early)
# is scanned again once, after the settle time; no medium on it, so the
# search ends after its timeout.
empty=(-device qemu-xhci -drive if=none,id=card -device usb-storage,drive=card,removable=on)
if boot_wait "$T/settle.log" "medium not found" "${direct[@]}" "${empty[@]}" \
	-append "console=ttyS0 mklive.debug mklive.timeout=4"; then
	check "USB: usb-storage loaded with delay_use=0" grep -q 'usb_storage: parameters delay_use=0' "$T/settle.log"
	check "USB: the empty disk is seen as not ready" grep -q 'USB disk sda on [0-9.-]*:1.0: empty' "$T/settle.log"
	n=$(grep -c 'was not ready: scanning it again after usb-storage' "$T/settle.log")
	check "USB: the not-ready device is scanned again with the settle time, once ($n)" test "$n" = 1
	n=$(grep -c 'usb-storage [0-9.:-]*: USB Mass Storage device detected' "$T/settle.log")
	check "USB: usb-storage bound it twice ($n)" test "$n" = 2
else
	fail "USB settle: no 'medium not found'"; tail -n 20 "$T/settle.log"
fi
# A usb_storage.delay_use= of the user's is passed on as it is, and then the
# init scans nothing again.
if boot_wait "$T/user.log" "medium not found" "${direct[@]}" "${empty[@]}" \
	-append "console=ttyS0 mklive.debug mklive.timeout=3 usb_storage.delay_use=2"; then
	check "USB: the user's usb_storage.delay_use=2 wins" grep -q 'usb_storage: parameters delay_use=2\b' "$T/user.log"
	check "USB: and no delay_use=0 of the init's" bash -c "! grep -q 'delay_use=0' '$T/user.log'"
	check "USB: with it, no scan again" bash -c "! grep -q 'scanning it again' '$T/user.log'"
else
	fail "USB with usb_storage.delay_use=2: no 'medium not found'"; tail -n 20 "$T/user.log"
fi
t_done
