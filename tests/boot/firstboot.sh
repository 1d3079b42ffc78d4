#!/bin/bash
# Persistence made on first boot: the demo ISO written to a 1 GiB "stick"
# (a virtio disk) and booted with `persistence`: no filesystem has the
# label, so the init runs mklive-helper, which adds partition 3 after the
# image (MBR and hybrid GPT) with ext4 in it; the demo's init writes a token
# there; the second boot, from the firmware (SeaBIOS) through isolinux's
# menu, and the third, from OVMF through GRUB's menu, choose the menu's
# "persistence" entry on the keyboard and find it (the partition is not
# made again).
# On the host: sgdisk -v says nothing it does not say of the pristine
# image, e2fsck -fn is clean, debugfs reads the token, mklive verify passes.
# The changed stick still boots UEFI with Secure Boot (OVMF, shim, GRUB).
# A CD, and a stick without room, boot non-persistent and say
# why.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
t_tmpdir

require_qemu
for tool in sgdisk e2fsck debugfs sfdisk; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		skip "$tool not installed (scripts/deps.sh check installs gdisk, e2fsprogs, fdisk)"
		t_done; exit
	fi
done
iso=$(demo_iso) || { fail "building the demo ISO"; t_done; exit 1; }
demo_kernel "$iso" "$T" || { fail "extracting the kernel and initramfs from $iso"; t_done; exit 1; }
kern=(-kernel "$T/vmlinuz" -initrd "$T/initrd.img")
cp "$iso" "$T/stick"
truncate -s 1G "$T/stick"
stick=(-drive "file=$T/stick,format=raw,if=virtio")
tok=first-$$-$RANDOM

# 1. First boot: made, and used at once.
if boot_wait "$T/1.log" "mklive-demo: persist:" "${kern[@]}" "${stick[@]}" \
	-append "console=ttyS0 persistence mklive-demo.persist=$tok"; then
	ok "first boot with persistence on a bare stick in ${BOOT_SECONDS}s"
	check "the init: none yet, making it beside the medium" \
		grep -q 'persistence: none yet: making it beside the medium /dev/vda' "$T/1.log"
	check "mklive-helper: partition 3 ($(grep -o '/dev/vda: partition.*' "$T/1.log"))" \
		grep -q '/dev/vda: partition 3, [0-9]* MiB' "$T/1.log"
	check "the root is an overlay on /dev/vda3 (label 'persistence')" \
		grep -q "overlay with /dev/vda3 (label 'persistence'): changes persist" "$T/1.log"
	check "the token written" grep -q "mklive-demo: persist: wrote $tok" "$T/1.log"
else
	fail "first boot: no marker; last lines:"; tail -n 25 "$T/1.log"
fi

# 2. and 3. Second boot (BIOS: SeaBIOS, isolinux) and third (UEFI: OVMF,
# shim, GRUB), each through the medium's menu: its fourth entry,
# "persistence", chosen on the machine's keyboard (QEMU's monitor).
menu_boot() {	# menu_boot LOG MENU-TEXT QEMU-ARGS...
	local log=$1 menu=$2
	shift 2
	printf '%s\n' "expect $menu" "monitor sendkey down" "monitor sendkey down" "monitor sendkey down" \
		"monitor sendkey ret" "expect mklive-demo: persist: [^\\r\\n]*[\\r\\n]" >"$T/steps"
	MONITOR_SOCKET=$T/mon.sock BOOT_TIMEOUT=300 python3 "$TOP/tests/boot/serial_expect.py" "$T/steps" \
		"$QEMU" -accel tcg -m 1024 -nographic -no-reboot -serial stdio \
		-monitor "unix:$T/mon.sock,server=on,wait=off" "$@" >"$log" 2>&1
}
# shellcheck disable=SC2207
uefi=($(ovmf_args uefi "$T/vars-uefi.fd"))
for n in 2 3; do
	case $n in
	2) fw=BIOS; what="isolinux"; menu="boots the first entry in"
	   args=(-drive "file=$T/stick,format=raw,if=virtio" -boot c) ;;
	3) fw=UEFI; what="GRUB"; menu="GNU GRUB"
	   args=("${uefi[@]}" -device qemu-xhci -drive if=none,id=stick,format=raw,file="$T/stick"
		 -device usb-storage,drive=stick,bootindex=1) ;;
	esac
	if menu_boot "$T/$n.log" "$menu" "${args[@]}"; then
		ok "boot $n, $fw: $what's menu, entry 'persistence'"
		check "boot $n: the entry booted with persistence" grep -aEq 'Command line: .* persistence( |$)' "$T/$n.log"
		check "boot $n: the token from the first boot" grep -aq "mklive-demo: persist: found $tok" "$T/$n.log"
		check "boot $n: nothing made again" bash -c "! grep -aq 'none yet' '$T/$n.log'"
		check "boot $n: the medium is the stick's first partition, not the whole disk" \
			grep -aEq 'found medium MKLIVE-[0-9a-f]* on /dev/[sv]da1' "$T/$n.log"
	else
		fail "boot $n, $fw through $what's menu: $(grep -a 'serial_expect:' "$T/$n.log" | tail -n 1); last lines:"
		tail -n 25 "$T/$n.log"
	fi
done

# 3. On the host.
sgdisk -v "$iso" >"$T/pristine.v" 2>&1
sgdisk -v "$T/stick" >"$T/stick.v" 2>&1
check "sgdisk -v: no problem beyond the pristine image's" diff "$T/pristine.v" "$T/stick.v"
start=$(sfdisk -d "$T/stick" | sed -n 's/^.*stick3 : start= *\([0-9]*\), size= *\([0-9]*\), type=83$/\1/p')
size=$(sfdisk -d "$T/stick" | sed -n 's/^.*stick3 : start= *\([0-9]*\), size= *\([0-9]*\), type=83$/\2/p')
if [ -n "$start" ]; then
	dd if="$T/stick" of="$T/part" bs=512 skip="$start" count="$size" status=none conv=sparse
	out=$(e2fsck -fn "$T/part" 2>&1)
	check "e2fsck -fn: clean after three boots" test $? = 0
	got=$(debugfs -R 'cat /mklive/upper/root/persist.txt' "$T/part" 2>/dev/null)
	check "debugfs: the token in the upper layer ($got)" test "$got" = "$tok"
	rm -f "$T/part"
else
	fail "sfdisk: no partition 3 on the stick: $(sfdisk -d "$T/stick" 2>&1 | tail -n 4)"
fi
check "mklive verify on the stick" bash -c "'$MKLIVE' verify '$T/stick' >/dev/null"

# 4. Secure Boot still boots it (BIOS and UEFI did above).
# shellcheck disable=SC2207
fw=($(ovmf_args secureboot "$T/vars-secureboot.fd"))
if BOOT_TIMEOUT=300 boot_wait "$T/secureboot.log" MKLIVE-BOOT-OK "${fw[@]}" \
	-device qemu-xhci -drive if=none,id=stick,format=raw,file="$T/stick" \
	-device usb-storage,drive=stick,bootindex=1; then
	ok "secureboot (OVMF, shim, GRUB) boots the stick after its change in ${BOOT_SECONDS}s"
	check "secureboot: the system reports Secure Boot enabled" grep -q "firmware: UEFI, Secure Boot enabled" "$T/secureboot.log"
else
	fail "secureboot boot of the changed stick: no marker; last lines:"; tail -n 15 "$T/secureboot.log"
fi

# 5. A CD: nothing to make; it boots, not persistent, and says why.
if boot_wait "$T/cd.log" MKLIVE-BOOT-OK "${kern[@]}" -cdrom "$iso" -append "console=ttyS0 persistence"; then
	check "CD: mklive-helper says it is a CD" grep -q 'is a CD: it cannot take a partition' "$T/cd.log"
	check "CD: boots not persistent, and says so" grep -q 'this system is not persistent' "$T/cd.log"
else
	fail "CD with persistence: no marker; last lines:"; tail -n 15 "$T/cd.log"
fi

# 6. A stick with no room: the same.
cp "$iso" "$T/full"
if boot_wait "$T/full.log" MKLIVE-BOOT-OK "${kern[@]}" -drive "file=$T/full,format=raw,if=virtio" \
	-append "console=ttyS0 persistence"; then
	check "no room: mklive-helper says so" grep -q 'less than 256 MiB free after the last partition' "$T/full.log"
	check "no room: boots not persistent" grep -q 'this system is not persistent' "$T/full.log"
	check "no room: the stick is unchanged" cmp -s "$iso" "$T/full"
else
	fail "full stick with persistence: no marker; last lines:"; tail -n 15 "$T/full.log"
fi
t_done
