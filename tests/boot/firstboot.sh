#!/bin/bash
# Persistence made on first boot: the demo ISO written to a 1 GiB "stick"
# (a virtio disk) and booted with `persistence`: no filesystem has the
# label, so the init runs mklive-helper, which adds partition 3 after the
# image (MBR and hybrid GPT) with ext4 in it; the demo's init writes a token
# there, and the second boot finds it (the partition is not made again).
# On the host: sgdisk -v says nothing it does not say of the pristine
# image, e2fsck -fn is clean, debugfs reads the token, mklive verify passes.
# The changed stick still boots from the firmware, BIOS (isolinux), UEFI and
# UEFI with Secure Boot (OVMF, shim, GRUB). A CD, and a stick without room, boot non-persistent and say
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

# 2. Second boot: found, not made again.
if boot_wait "$T/2.log" "mklive-demo: persist:" "${kern[@]}" "${stick[@]}" \
	-append "console=ttyS0 persistence mklive-demo.persist=other"; then
	check "second boot: the token from the first" grep -q "mklive-demo: persist: found $tok" "$T/2.log"
	check "second boot: nothing made again" bash -c "! grep -q 'none yet' '$T/2.log'"
else
	fail "second boot: no marker; last lines:"; tail -n 25 "$T/2.log"
fi

# 3. On the host.
sgdisk -v "$iso" >"$T/pristine.v" 2>&1
sgdisk -v "$T/stick" >"$T/stick.v" 2>&1
check "sgdisk -v: no problem beyond the pristine image's" diff "$T/pristine.v" "$T/stick.v"
start=$(sfdisk -d "$T/stick" | sed -n 's/^.*stick3 : start= *\([0-9]*\), size= *\([0-9]*\), type=83$/\1/p')
size=$(sfdisk -d "$T/stick" | sed -n 's/^.*stick3 : start= *\([0-9]*\), size= *\([0-9]*\), type=83$/\2/p')
if [ -n "$start" ]; then
	dd if="$T/stick" of="$T/part" bs=512 skip="$start" count="$size" status=none conv=sparse
	out=$(e2fsck -fn "$T/part" 2>&1)
	check "e2fsck -fn: clean after two boots" test $? = 0
	got=$(debugfs -R 'cat /mklive/upper/root/persist.txt' "$T/part" 2>/dev/null)
	check "debugfs: the token in the upper layer ($got)" test "$got" = "$tok"
	rm -f "$T/part"
else
	fail "sfdisk: no partition 3 on the stick: $(sfdisk -d "$T/stick" 2>&1 | tail -n 4)"
fi
check "mklive verify on the stick" bash -c "'$MKLIVE' verify '$T/stick' >/dev/null"

# 4. The firmware still boots it: BIOS, UEFI, Secure Boot.
if boot_wait "$T/bios.log" MKLIVE-BOOT-OK -drive "file=$T/stick,format=raw,if=virtio" -boot c; then
	ok "BIOS boots the stick after its change in ${BOOT_SECONDS}s"
else
	fail "BIOS boot of the changed stick: no marker; last lines:"; tail -n 15 "$T/bios.log"
fi
for f in uefi secureboot; do
	# shellcheck disable=SC2207
	fw=($(ovmf_args $f "$T/vars-$f.fd"))
	if BOOT_TIMEOUT=300 boot_wait "$T/$f.log" MKLIVE-BOOT-OK "${fw[@]}" \
		-device qemu-xhci -drive if=none,id=stick,format=raw,file="$T/stick" \
		-device usb-storage,drive=stick,bootindex=1; then
		ok "$f (OVMF, shim, GRUB) boots the stick after its change in ${BOOT_SECONDS}s"
		want=disabled; [ $f = secureboot ] && want=enabled
		check "$f: the system reports Secure Boot $want" grep -q "firmware: UEFI, Secure Boot $want" "$T/$f.log"
	else
		fail "$f boot of the changed stick: no marker; last lines:"; tail -n 15 "$T/$f.log"
	fi
done

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
