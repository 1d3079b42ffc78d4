#!/bin/bash
# --initrd-format ext2: the article's initrd, a gzip'd ext2 image with a
# /linuxrc, checked with readers we did not write: gzip, e2fsck -fn and
# debugfs (files, link, device node, owners), and the boot entries that
# make the kernel use it as the root (root=/dev/ram0, ramdisk_size= big
# enough). Booting it needs a kernel with the RAM disk driver built in,
# which Debian's is not (brd is a module): not booted here.
. "$(dirname "$0")/../lib.sh"
t_tmpdir
export SOURCE_DATE_EPOCH=1700000000
for tool in xorriso e2fsck debugfs gzip; do
	command -v $tool >/dev/null || { skip "$tool missing (scripts/deps.sh check)"; t_done; exit 0; }
done
cache=$("$TOP/scripts/fetch-boot.sh") || { fail "fetching the boot pieces"; t_done; exit 1; }

ver=6.1.0-ext2
mkdir -p "$T/tree/sbin" "$T/mods/$ver/kernel/fs"
printf '#!/bin/sh\n' >"$T/tree/sbin/init"; chmod 755 "$T/tree/sbin/init"
# One module, so the initrd holds a module tree as a real build's does.
head -c 70000 /dev/urandom >"$T/mods/$ver/kernel/fs/isofs.ko"
echo "kernel/fs/isofs.ko:" >"$T/mods/$ver/modules.dep"
: >"$T/mods/$ver/modules.builtin"; : >"$T/mods/$ver/modules.order"
cp "$cache/boot/memtest86+x64.bin" "$T/vmlinuz-$ver"
build() {	# OUT ARGS...
	local out=$1; shift
	"$MKLIVE" build -q --uefi no --timeout 1 --kernel "$T/vmlinuz-$ver" --modules "$T/mods/$ver" \
		"$@" "$T/tree" -o "$out"
}
if ! build "$T/a.iso" --initrd-format ext2 2>"$T/err"; then
	fail "build --initrd-format ext2: $(cat "$T/err")"; t_done; exit 1
fi
ok "build --initrd-format ext2"
xorriso -osirrox on -indev "$T/a.iso" -extract /live/initrd.img "$T/initrd.gz" \
	-extract /isolinux/isolinux.cfg "$T/isolinux.cfg" >/dev/null 2>&1
check "gzip'd by default (file: $(file -b "$T/initrd.gz" | cut -c1-30))" gzip -t "$T/initrd.gz"
gzip -dc "$T/initrd.gz" >"$T/initrd.ext2"
out=$(e2fsck -fn "$T/initrd.ext2" 2>&1)
check "e2fsck -fn: clean" test $? = 0
d() { debugfs -R "$1" "$T/initrd.ext2" 2>/dev/null; }
check "an ext2 filesystem (dumpe2fs: no journal)" bash -c "! dumpe2fs -h '$T/initrd.ext2' 2>/dev/null | grep -q has_journal"
check "/linuxrc is a link to init" grep -q 'Fast link dest: "init"' <<<"$(d 'stat /linuxrc')"
check "/init is the mklive init, byte for byte" cmp -s <(d 'cat /init') "$MKLIVE_INIT"
check "/init is executable, owned by root" grep -q 'Mode:  0755' <<<"$(d 'stat /init')"
check "/mklive.conf names the medium" grep -q '^id=MKLIVE-' <<<"$(d 'cat /mklive.conf')"
check "/dev/console is the console device (5, 1)" grep -Eq 'Device major/minor number: 05:01|\(5, 1\)' <<<"$(d 'stat /dev/console')"
check "the module is there, byte for byte" cmp -s <(d "cat /lib/modules/$ver/kernel/fs/isofs.ko") "$T/mods/$ver/kernel/fs/isofs.ko"
for dir in proc sys run; do
	check "/$dir exists" grep -q 'Type: directory' <<<"$(d "stat /$dir")"
done
size_kb=$(( ($(stat -c %s "$T/initrd.ext2") + 1023) / 1024 ))
check "every entry boots it as the root: root=/dev/ram0 ramdisk_size=$size_kb" \
	test "$(grep -c "APPEND .*root=/dev/ram0 ramdisk_size=$size_kb" "$T/isolinux.cfg")" = "$(grep -c APPEND "$T/isolinux.cfg")"
build "$T/b.iso" --initrd-format ext2
check "reproducible" cmp -s "$T/a.iso" "$T/b.iso"
printf '[initramfs]\nformat = ext2\n' >"$T/c.conf"
build "$T/c.iso" -c "$T/c.conf"
check "[initramfs] format = ext2 does what --initrd-format ext2 does" cmp -s "$T/a.iso" "$T/c.iso"
build "$T/x.iso" --initrd-format ext2 --initrd-compressor xz
xorriso -osirrox on -indev "$T/x.iso" -extract /live/initrd.img "$T/initrd.xz" >/dev/null 2>&1
check "--initrd-compressor xz still applies" xz -t "$T/initrd.xz"
build "$T/p.iso" 2>/dev/null
xorriso -osirrox on -indev "$T/p.iso" -extract /live/initrd.img "$T/initrd.zst" >/dev/null 2>&1
check "the default stays a zstd initramfs (cpio)" zstd -tq "$T/initrd.zst"
"$MKLIVE" build --initrd-format ext3 "$T/tree" -o "$T/bad.iso" 2>"$T/err"; rc=$?
check "--initrd-format ext3: usage error naming the choices" test $rc = 2 -a -n "$(grep 'cpio or ext2' "$T/err")"
check "--initrd-format ext3: no output" test ! -e "$T/bad.iso"
t_done
