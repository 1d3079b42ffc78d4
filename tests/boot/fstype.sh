#!/bin/bash
# The init's side of the image format table: format=cloop with fstype=ext2
# in /mklive.conf mounts a cloop whose blocks hold an ext2 filesystem (the
# kernel's ext4 driver mounts it), and an unknown format= stops the boot
# with the formats this init knows. The builder's cloop holds ISO 9660, so
# this test makes the rest itself: the demo tree as ext2 (mklive ext2) in a
# cloop (mklive cloop create), swapped into a cloop ISO with xorriso, and
# the ISO's initramfs with fstype=ext2 and the ext4 modules added.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
t_tmpdir

require_qemu
demo_iso >/dev/null || { fail "building the demo tree"; t_done; exit 1; }
root=$TOP/build/test-demo/root

if ! "$MKLIVE" build -q --timeout 1 --level 1 --append console=ttyS0 --image-format cloop \
	"$root" -o "$T/cl.iso" 2>"$T/err"; then
	fail "cloop build: $(cat "$T/err")"; t_done; exit 1
fi
demo_kernel "$T/cl.iso" "$T" || { fail "kernel and initramfs from the ISO"; t_done; exit 1; }
mkdir "$T/rd"
(cd "$T/rd" && zstd -dcq ../initrd.img | cpio -id --quiet) || { fail "unpacking the initramfs"; t_done; exit 1; }
kver=$(sed -n 's/^kver=//p' "$T/rd/mklive.conf")
src=$root/lib/modules/$kver
dst=$T/rd/lib/modules/$kver
missing=
for m in kernel/fs/ext4/ext4.ko kernel/fs/jbd2/jbd2.ko kernel/fs/mbcache.ko kernel/lib/crc16.ko \
	kernel/crypto/crc32c_generic.ko; do
	[ -f "$src/$m" ] || { missing="$missing $m"; continue; }
	mkdir -p "$dst/$(dirname "$m")"
	cp "$src/$m" "$dst/$m"
	grep "^$m:" "$src/modules.dep" >>"$dst/modules.dep"
done
if [ -n "$missing" ]; then
	skip "the demo tree's kernel has no$missing"; t_done; exit 0
fi

# repack INITRD: the initramfs tree as a zstd newc archive
repack() { (cd "$T/rd" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | zstd -q -9 >"$1"); }

echo "fstype=ext2" >>"$T/rd/mklive.conf"
repack "$T/ext2.img"
if "$MKLIVE" ext2 "$root" -o "$T/root.ext2" 2>"$T/err" &&
	"$MKLIVE" cloop create "$T/root.ext2" "$T/root.cloop" 2>"$T/err" &&
	xorriso -indev "$T/cl.iso" -outdev "$T/ext2.iso" -boot_image any replay \
		-update "$T/root.cloop" /live/filesystem.cloop -commit >"$T/err" 2>&1; then
	rm -f "$T/root.ext2" "$T/root.cloop" "$T/cl.iso"
	if boot_wait "$T/ext2.log" MKLIVE-BOOT-OK -kernel "$T/vmlinuz" -initrd "$T/ext2.img" \
		-append "console=ttyS0" -cdrom "$T/ext2.iso"; then
		ok "format=cloop fstype=ext2: boots to the live system's init in ${BOOT_SECONDS}s"
		check "fstype=ext2: the image on /run/mklive/ro is ext2 on /dev/nbd0" \
			grep -q 'image: /dev/nbd0 ext2' "$T/ext2.log"
		check "fstype=ext2: owner, mode, mtime kept" grep -q 'hello.txt: 1000:1000 644 981173106' "$T/ext2.log"
		check "fstype=ext2: files read from the image" grep -q 'read [1-9][0-9]* bytes from the image' "$T/ext2.log"
	else
		fail "format=cloop fstype=ext2: no marker"; tail -n 25 "$T/ext2.log"
	fi
else
	fail "making the ext2 cloop ISO: $(tail -n 3 "$T/err")"
fi

sed -i 's/^format=.*/format=cramfs/' "$T/rd/mklive.conf"
repack "$T/bad.img"
if boot_wait "$T/bad.log" "system is stopped" -kernel "$T/vmlinuz" -initrd "$T/bad.img" \
	-append "console=ttyS0" -cdrom "$T/ext2.iso"; then
	check "format=cramfs: the init names the formats it knows" \
		grep -q "unknown image format 'cramfs' in /mklive.conf (format=); this init knows squashfs, cloop" "$T/bad.log"
	check "format=cramfs: no kernel panic" bash -c "! grep -q 'Kernel panic' '$T/bad.log'"
else
	fail "format=cramfs: no stop"; tail -n 25 "$T/bad.log"
fi
t_done
