#!/bin/bash
# The ISO as a file (boot option findiso=/PATH, and iso-scan/filename=): the
# demo ISO copied as a file onto a FAT32 partition and onto an ext4
# partition of one virtio disk (made on the host without loop mounts:
# sfdisk, mkfs.vfat --offset + mcopy, mke2fs -E offset= -d), the kernel and
# initramfs handed over by QEMU (the disk once as a USB stick too).
# mklive-helper finds the file, attaches it
# to a loop device, and the init's medium search takes that loop device as
# the medium. A persistence image file beside the ISO on the FAT partition
# (persistence=LABEL:/FILE) keeps a token across two boots (read back on the
# host with mcopy and debugfs, e2fsck -fn clean). A missing file: the
# helper says which disks it looked at, and the init goes to its rescue
# path. Then /boot/grub/loopback.cfg read by a real GRUB: Debian's GRUB EFI
# (grub-mkstandalone from grub-common and grub-efi-amd64-bin, unpacked into
# mklive's cache with dpkg -x) on an ESP beside the ISO's partition, its
# embedded grub.cfg doing what multi-ISO menus do (loopback, iso_path,
# configfile), booted by OVMF: the default entry reaches the live system.
# And a medium on a device-mapper device that another program made.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
t_tmpdir

require_qemu
for tool in sfdisk mkfs.vfat mcopy mke2fs e2fsck debugfs; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		skip "$tool not installed (scripts/deps.sh check installs fdisk, dosfstools, mtools, e2fsprogs)"
		t_done; exit
	fi
done
iso=$(demo_iso) || { fail "building the demo ISO"; t_done; exit 1; }
demo_kernel "$iso" "$T" || { fail "extracting the kernel and initramfs from $iso"; t_done; exit 1; }
kern=(-kernel "$T/vmlinuz" -initrd "$T/initrd.img")
tok=findiso-$$-$RANDOM

# One disk: partition 1 FAT32 (label MULTIISO) with /isos/demo.iso and an
# ext2 persistence image /live-rw.img; partition 2 ext4 with /boot/x.iso;
# partition 3 an ESP for GRUB (made at the end).
P1=2048 P2=514048 SIZE=512000 P3=1026048 ESP=32768	# sectors
truncate -s $(((P3 + ESP + 2048) * 512)) "$T/disk"
printf 'label: dos\nstart=%s, size=%s, type=c\nstart=%s, size=%s, type=83\nstart=%s, size=%s, type=ef\n' \
	$P1 $SIZE $P2 $SIZE $P3 $ESP | sfdisk -q "$T/disk" >/dev/null
mkfs.vfat -F 32 -s 2 -n MULTIISO --offset $P1 "$T/disk" $((SIZE / 2)) >/dev/null 2>&1
"$MKLIVE" ext2 --empty --size 64M --label rw -o "$T/rw.img" 2>"$T/err" || { fail "mklive ext2: $(cat "$T/err")"; t_done; exit 1; }
fat=$T/disk@@$((P1 * 512))
mmd -i "$fat" ::/isos && mcopy -i "$fat" "$iso" ::/isos/demo.iso && mcopy -i "$fat" "$T/rw.img" ::/live-rw.img ||
	{ fail "mtools: copying onto the FAT partition"; t_done; exit 1; }
mkdir -p "$T/ext/boot"
cp "$iso" "$T/ext/boot/x.iso"
mke2fs -q -F -t ext4 -L isos -E offset=$((P2 * 512)) -d "$T/ext" "$T/disk" $((SIZE / 2))k ||
	{ fail "mke2fs -d onto partition 2"; t_done; exit 1; }
rm -rf "$T/ext" "$T/rw.img"
disk=(-drive "file=$T/disk,format=raw,if=virtio")

# 1. FAT32: found, attached, the medium on the loop device; persistence in
#    a file beside it.
if boot_wait "$T/fat1.log" "mklive-demo: persist:" "${kern[@]}" "${disk[@]}" \
	-append "console=ttyS0 findiso=/isos/demo.iso persistence=MULTIISO:/live-rw.img mklive-demo.persist=$tok"; then
	ok "FAT32: boots the ISO file in ${BOOT_SECONDS}s"
	check "FAT32: mklive-helper found it on /dev/vda1, mounted read-write (persistence)" \
		grep -q 'findiso: /isos/demo.iso on /dev/vda1 (vfat)[[:space:]]*$' "$T/fat1.log"
	check "FAT32: the init took /dev/loop0 as the medium" grep -q 'found medium MKLIVE-[0-9a-f]* on /dev/loop0' "$T/fat1.log"
	check "FAT32: the partition stays mounted after switch_root" \
		grep -q 'mklive-demo: iso-host: /dev/vda1 vfat' "$T/fat1.log"
	check "FAT32: persistence in the file beside the ISO" \
		grep -q "overlay with /live-rw.img on /dev/vda1 (label 'MULTIISO'): changes persist" "$T/fat1.log"
	check "FAT32: the token written" grep -q "mklive-demo: persist: wrote $tok" "$T/fat1.log"
else
	fail "FAT32: no marker; last lines:"; tail -n 25 "$T/fat1.log"
fi
if boot_wait "$T/fat2.log" "mklive-demo: persist:" "${kern[@]}" "${disk[@]}" \
	-append "console=ttyS0 findiso=/isos/demo.iso persistence=MULTIISO:/live-rw.img mklive-demo.persist=other"; then
	check "FAT32, second boot: the token from the first" grep -q "mklive-demo: persist: found $tok" "$T/fat2.log"
else
	fail "FAT32, second boot: no marker; last lines:"; tail -n 25 "$T/fat2.log"
fi
if mcopy -i "$fat" ::/live-rw.img "$T/rw.img" 2>/dev/null; then
	out=$(e2fsck -fn "$T/rw.img" 2>&1)
	check "host: e2fsck -fn on the persistence file is clean" test $? = 0
	got=$(debugfs -R 'cat /mklive/upper/root/persist.txt' "$T/rw.img" 2>/dev/null)
	check "host: debugfs reads the token from the file ($got)" test "$got" = "$tok"
else
	fail "host: mcopy cannot read /live-rw.img back"
fi
# The FAT stays mounted read-write under the persistence file until the
# machine stops (QEMU is killed here): Linux's dirty flag (FAT32 boot
# sector byte 65) is set; cleared in a copy, fsck.fat -n finds nothing.
dd if="$T/disk" of="$T/p1" bs=512 skip=$P1 count=$SIZE status=none
printf '\0' | dd of="$T/p1" bs=1 seek=65 conv=notrunc status=none
out=$(fsck.fat -n "$T/p1" 2>&1)
check "host: fsck.fat -n on the FAT partition after two boots${out:+ ($(echo "$out" | tail -n 1))}" test $? = 0
rm -f "$T/p1" "$T/rw.img"

# 2. ext4, read-only (no persistence asked).
if boot_wait "$T/ext.log" MKLIVE-BOOT-OK "${kern[@]}" "${disk[@]}" -append "console=ttyS0 findiso=/boot/x.iso"; then
	ok "ext4: boots the ISO file in ${BOOT_SECONDS}s"
	check "ext4: found on /dev/vda2, mounted read-only" \
		grep -q 'findiso: /boot/x.iso on /dev/vda2 (ext4, read-only)[[:space:]]*$' "$T/ext.log"
	check "ext4: the init took /dev/loop0 as the medium" grep -q 'found medium MKLIVE-[0-9a-f]* on /dev/loop0' "$T/ext.log"
	check "ext4: the partition stays mounted after switch_root" grep -q 'mklive-demo: iso-host: /dev/vda2 ext4' "$T/ext.log"
	check "ext4: the image comes from the medium on the loop device" \
		grep -q 'mklive-demo: image read from: /run/mklive/medium/live/filesystem.squashfs' "$T/ext.log"
else
	fail "ext4: no marker; last lines:"; tail -n 25 "$T/ext.log"
fi

# 2b. The same disk as a USB stick: usb-storage is loaded by the init when
#     the stick's uevent comes, while the helper searches (an init waiting
#     for the helper would never load it, and the stick would never show).
if boot_wait "$T/usb.log" MKLIVE-BOOT-OK "${kern[@]}" -device qemu-xhci \
	-drive if=none,id=stick,format=raw,file="$T/disk" -device usb-storage,drive=stick \
	-append "console=ttyS0 findiso=/boot/x.iso"; then
	ok "USB stick: boots the ISO file in ${BOOT_SECONDS}s"
	check "USB stick: found on /dev/sda2" \
		grep -q 'findiso: /boot/x.iso on /dev/sda2 (ext4, read-only)[[:space:]]*$' "$T/usb.log"
	check "USB stick: the init took /dev/loop0 as the medium" \
		grep -q 'found medium MKLIVE-[0-9a-f]* on /dev/loop0' "$T/usb.log"
else
	fail "USB stick: no marker; last lines:"; tail -n 25 "$T/usb.log"
fi

# 3. A file that is not there (dracut's name for the option): the helper
#    says what each disk held, the init goes to its rescue path.
if boot_wait "$T/none.log" 'the system is stopped' "${kern[@]}" "${disk[@]}" \
	-append "console=ttyS0 iso-scan/filename=/nope.iso mklive.timeout=8"; then
	check "missing: the helper names the file" grep -q 'mklive-helper findiso: /nope.iso: no disk has the file' "$T/none.log"
	check "missing: what /dev/vda1 held" grep -q '/dev/vda1: vfat, no such file' "$T/none.log"
	check "missing: what /dev/vda2 held" grep -q '/dev/vda2: ext4, no such file' "$T/none.log"
	check "missing: the init's report, then the rescue path" grep -q 'error: medium not found' "$T/none.log"
else
	fail "missing file: no rescue path; last lines:"; tail -n 25 "$T/none.log"
fi

# 3b. The medium found elsewhere first (here a CD): the init stops the
#     helper, which would otherwise search on until its deadline.
if boot_wait "$T/cd.log" MKLIVE-BOOT-OK "${kern[@]}" "${disk[@]}" -cdrom "$iso" \
	-append "console=ttyS0 findiso=/nope.iso mklive.timeout=60"; then
	check "found elsewhere: the medium is the CD" grep -q 'found medium MKLIVE-[0-9a-f]* on /dev/sr0' "$T/cd.log"
	check "found elsewhere: the helper was stopped before its report" \
		bash -c "! grep -q 'no disk has the file' '$T/cd.log'"
else
	fail "found elsewhere: no marker; last lines:"; tail -n 25 "$T/cd.log"
fi

# 4. A medium another program mapped with device-mapper, as multi-ISO
#    loaders do with the file's extents: the ISO's bytes at an odd offset of
#    a bare disk (no partition holds them, so only the mapping shows them),
#    mapped to dm-0 by tests/boot/dmmap.c (rdinit=, in an archive appended
#    to the initramfs, with dm-mod.ko) while mklive-init searches.
dmmod=$(ls "$(boot_cache)"/lib/modules/*/kernel/drivers/md/dm-mod.ko 2>/dev/null | head -n 1)
mkdir -p "$T/dmx"
if ! gcc -static -O2 -o "$T/dmx/dmmap" "$TOP/tests/boot/dmmap.c" 2>"$T/err"; then
	fail "device-mapper: building tests/boot/dmmap.c: $(cat "$T/err")"
elif [ -z "$dmmod" ]; then
	skip "device-mapper: no dm-mod.ko in $(boot_cache)"
else
	cp "$dmmod" "$T/dmx/dm-mod.ko"
	cp "$T/initrd.img" "$T/dm-initrd.img"
	truncate -s $((($(stat -c %s "$T/dm-initrd.img") + 3) / 4 * 4)) "$T/dm-initrd.img"	# newc after zstd: 4-aligned
	(cd "$T/dmx" && printf '%s\n' dmmap dm-mod.ko | cpio -o -H newc --quiet) >>"$T/dm-initrd.img"
	off=2055 n=$(($(stat -c %s "$iso") / 512))
	truncate -s $((off * 512)) "$T/raw"
	cat "$iso" >>"$T/raw"
	truncate -s +1M "$T/raw"
	if boot_wait "$T/dm.log" MKLIVE-BOOT-OK -kernel "$T/vmlinuz" -initrd "$T/dm-initrd.img" \
		-drive "file=$T/raw,format=raw,if=virtio" -append "console=ttyS0 rdinit=/dmmap mklive-dmmap=vda,$off,$n"; then
		ok "device-mapper: boots from the mapped ISO in ${BOOT_SECONDS}s"
		check "device-mapper: the mapping was made" grep -q "dmmap: vda (.*) sectors $off+$n mapped" "$T/dm.log"
		check "device-mapper: the init took /dev/dm-0 as the medium" \
			grep -q 'found medium MKLIVE-[0-9a-f]* on /dev/dm-0' "$T/dm.log"
	else
		fail "device-mapper: no marker; last lines:"; tail -n 25 "$T/dm.log"
	fi
	rm -f "$T/raw"
fi

# 5. /boot/grub/loopback.cfg read by a real GRUB. Debian's GRUB tools and
#    EFI modules, unpacked (not installed) into mklive's cache once.
grub_tools() {
	local cache dir tmp
	cache=$("$MKLIVE" fetch-efi -q) || return 1
	dir=${cache%/efi}/grub-tools
	if [ ! -f "$dir/.complete" ]; then
		tmp=$(mktemp -d "${dir}.XXXXXX") || return 1
		(cd "$tmp" && apt-get download -q grub-common grub-efi-amd64-bin >/dev/null 2>&1) &&
			for d in "$tmp"/*.deb; do dpkg -x "$d" "$tmp/root" || exit 1; done &&
			touch "$tmp/root/.complete" && rm -rf "$dir" && mv "$tmp/root" "$dir"
		rm -rf "$tmp"
	fi
	[ -f "$dir/.complete" ] && echo "$dir"
}
G=$(grub_tools)
if [ -z "$G" ] || [ ! -x "$G/usr/bin/grub-mkimage" ]; then
	skip "GRUB and loopback.cfg: cannot fetch grub-common and grub-efi-amd64-bin (apt-get download)"
elif [ ! -f "$(boot_cache)/usr/share/OVMF/OVMF_CODE_4M.fd" ]; then
	skip "GRUB and loopback.cfg: no OVMF in $(boot_cache)"
else
	# What a multi-ISO menu does (GRUB's own convention for loopback.cfg).
	mkdir -p "$T/memdisk/boot/grub"
	cat >"$T/memdisk/boot/grub/grub.cfg" <<'CFG'
search --no-floppy --set=isodev --file /isos/demo.iso
set iso_path=/isos/demo.iso
export iso_path
loopback loop ($isodev)$iso_path
set root=(loop)
configfile /boot/grub/loopback.cfg
CFG
	tar -C "$T/memdisk" -cf "$T/memdisk.tar" boot
	if "$G/usr/bin/grub-mkimage" -d "$G/usr/lib/grub/x86_64-efi" -O x86_64-efi -o "$T/BOOTX64.EFI" \
		-p '(memdisk)/boot/grub' -m "$T/memdisk.tar" memdisk tar normal configfile loopback iso9660 fat \
		ext2 part_msdos search search_fs_file linux echo test gzio all_video efi_gop 2>"$T/err"; then
		esp=$T/disk@@$((P3 * 512))
		# shellcheck disable=SC2207
		fw=($(ovmf_args uefi "$T/vars.fd"))
		if ! { mkfs.vfat -F 16 -n ESP --offset $P3 "$T/disk" $((ESP / 2)) >/dev/null 2>&1 &&
			mmd -i "$esp" ::/EFI ::/EFI/BOOT && mcopy -i "$esp" "$T/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI; }; then
			fail "GRUB: making the ESP (mkfs.vfat --offset, mtools)"
		elif BOOT_TIMEOUT=300 boot_wait "$T/grub.log" MKLIVE-BOOT-OK "${fw[@]}" "${disk[@]}"; then
			ok "GRUB (OVMF) boots loopback.cfg's default entry in ${BOOT_SECONDS}s"
			check "GRUB: the kernel got findiso= with \$iso_path's value" \
				grep -q 'MKLIVE-BOOT-OK .*findiso=/isos/demo.iso' "$T/grub.log"
			check "GRUB: the init took the loop device as the medium" \
				grep -q 'found medium MKLIVE-[0-9a-f]* on /dev/loop0' "$T/grub.log"
		else
			fail "GRUB: loopback.cfg's default entry: no marker; last lines:"; tail -n 25 "$T/grub.log"
		fi
	else
		fail "grub-mkimage: $(cat "$T/err")"
	fi
fi
t_done
