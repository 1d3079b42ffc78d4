#!/bin/bash
# The boot matrix's UEFI rows: the same hybrid ISO (the BIOS rows are in
# demo.sh) under OVMF, as a CD and as a USB stick, without and with Secure
# Boot (Microsoft keys enrolled: Debian's shim, GRUB, kernel and modules are
# signed, and the modules are copied byte for byte, so lockdown loads them).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
t_tmpdir; [ -n "${KEEP:-}" ] && trap - EXIT

require_qemu
iso=$(demo_iso) || { fail "building the demo ISO"; t_done; exit 1; }
if [ ! -f "$(boot_cache)/usr/share/OVMF/OVMF_CODE_4M.secboot.fd" ]; then
	skip "no OVMF firmware in $(boot_cache) (scripts/fetch-boot.sh fetches it)"
	t_done; exit
fi

for fw in uefi secureboot; do
	for as in cd usb; do
		# shellcheck disable=SC2207
		fwargs=($(ovmf_args "$fw" "$T/vars-$fw-$as.fd"))
		case $as in
		cd) media=(-cdrom "$iso") ;;
		usb) media=(-device qemu-xhci -drive if=none,id=stick,format=raw,readonly=on,file="$iso"
			-device usb-storage,drive=stick,bootindex=1) ;;
		esac
		log=$T/$fw-$as.log
		if BOOT_TIMEOUT=300 boot_wait "$log" MKLIVE-BOOT-OK "${fwargs[@]}" "${media[@]}"; then
			ok "$fw, $as: GRUB boots the live system in ${BOOT_SECONDS}s"
			check "$fw, $as: the GRUB menu shows on the serial console" grep -aq 'GNU GRUB' "$log"
			want=disabled; [ $fw = secureboot ] && want=enabled
			check "$fw, $as: the booted system reports Secure Boot $want" \
				grep -q "firmware: UEFI, Secure Boot $want" "$log"
			check "$fw, $as: root is overlayfs, metadata kept" grep -q 'hello.txt: 1000:1000 644 981173106' "$log"
			check "$fw, $as: no kernel panic" bash -c "! grep -aq 'Kernel panic' '$log'"
		else
			fail "$fw, $as: no marker"; tail -n 20 "$log"
		fi
	done
done
t_done
