#!/bin/bash
# mklive build, end to end, checked with readers we did not write:
# unsquashfs (metadata of every entry against the input), xorriso (El Torito,
# isohybrid, volume ids), cpio (the initramfs), plus reproducibility, a
# rootless build from a tar, and errors that leave no output behind.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/boot/lib.sh"
t_tmpdir
export TZ=UTC

demo_iso >/dev/null || { fail "making the demo tree"; t_done; exit 1; }
src=$T/root
cp -al "$TOP/build/test-demo/root" "$src"
rm -f "$src/.complete"
# More kinds of entries than the demo has.
mkfifo "$src/root/a-fifo"
mkdir -p "$src/srv/data"
printf 'x%.0s' $(seq 1 5000) >"$src/srv/data/file with spaces"
chown 1234:4321 "$src/srv/data/file with spaces"
chmod 2750 "$src/srv/data"
touch -h -d '2030-01-01 00:00:00 UTC' "$src/usr/share/mklive-demo/symlink-example"
mknod "$src/dev/sda" b 8 0 2>/dev/null || true
setfattr -n user.comment -v "kept" "$src/srv/data/file with spaces" 2>/dev/null || true

EFI_ROOT=$(efi_root)
B="$MKLIVE build -q --timeout 1 --level 1 --uefi yes --efi-root $EFI_ROOT"

# --- the init: static, small -----------------------------------------------
check "mklive-init is statically linked" grep -q 'statically linked' <<<"$(file -L "$MKLIVE_INIT")"
isz=$(stat -c %s "$MKLIVE_INIT")
check "mklive-init is under 64 KiB ($isz bytes)" test "$isz" -lt 65536

# --- a build from a directory --------------------------------------------
if $B "$src" -o "$T/a.iso" 2>"$T/err"; then ok "build from a directory"; else fail "build from a directory: $(cat "$T/err")"; fi

report=$(xorriso -indev "$T/a.iso" -report_el_torito plain -report_system_area plain 2>/dev/null)
check "El Torito BIOS no-emulation entry" grep -Eq 'El Torito boot img : +1 +BIOS +y +none' <<<"$report"
check "boot image is isolinux.bin" grep -q '/isolinux/isolinux.bin' <<<"$report"
check "boot-info-table patched" grep -q 'boot-info-table' <<<"$(xorriso -indev "$T/a.iso" -report_el_torito as_mkisofs 2>/dev/null)"
check "isohybrid MBR (partition from sector 0)" grep -Eq 'MBR partition +: +1 +0x80 +0x(17|00) +0 ' <<<"$report"
check "El Torito UEFI entry (platform 0xEF) for the ESP" grep -Eq 'El Torito boot img : +2 +UEFI +y +none' <<<"$report"
check "GPT for USB sticks, the ESP a partition of its own" grep -q 'MBR partition path :   2  /boot/grub/efi.img' <<<"$report"
check "GPT disk GUID present" grep -q 'GPT disk GUID' <<<"$report"
xorriso -osirrox on -indev "$T/a.iso" -extract /boot/grub/efi.img "$T/esp.img" -extract /boot/grub/grub.cfg "$T/grub.cfg" >/dev/null 2>&1
check "ESP: fsck.fat -n finds it clean" fsck.fat -n "$T/esp.img"
esp=$(mdir -i "$T/esp.img" -/ ::/EFI/BOOT 2>/dev/null)
check "ESP: EFI/BOOT/BOOTX64.EFI (shim) and grubx64.efi" bash -c 'grep -q BOOTX64 <<<"$1" && grep -qi grubx64 <<<"$1"' _ "$esp"
mcopy -i "$T/esp.img" ::/EFI/BOOT/BOOTX64.EFI "$T/shim.efi" 2>/dev/null
check "ESP: shim byte for byte Debian's signed one" cmp -s "$T/shim.efi" "$EFI_ROOT/usr/lib/shim/shimx64.efi.signed"
check "ESP: at most 32 MiB" test "$(stat -c %s "$T/esp.img")" -le 33554432
check "GRUB finds the medium by its ID" grep -q "search --no-floppy --set=root --file /.disk/$(dd if="$T/a.iso" bs=1 skip=$((32768 + 190)) count=128 2>/dev/null | tr -d ' ')" "$T/grub.cfg"
check "GRUB: same entries as the BIOS menu, boots by itself" bash -c 'test "$(grep -c ^menuentry "$1")" = 5 && grep -q "^.linux .* toram" "$1" && grep -q "^.linux .* persistence" "$1" && grep -q "^.linux .* persistence=luks" "$1" && grep -q "set timeout=1" "$1"' _ "$T/grub.cfg"
xorriso -osirrox on -indev "$T/a.iso" -extract /boot/grub/loopback.cfg "$T/loopback.cfg" >/dev/null 2>&1
check "loopback.cfg: the same entries, each with findiso=\${iso_path}" bash -c \
	'test "$(grep -c ^menuentry "$1")" = 5 && test "$(grep -c "^.linux /live/vmlinuz findiso=\${iso_path} " "$1")" = 5' _ "$T/loopback.cfg"
pvd=$(isoinfo -d -i "$T/a.iso" 2>/dev/null)
check "Joliet present (isoinfo)" grep -q 'Joliet with UCS level 3' <<<"$pvd"
check "Rock Ridge present (isoinfo)" grep -q 'Rock Ridge signatures' <<<"$pvd"
check "volume id MKLIVE" grep -q "Volume Id    : MKLIVE" <<<"$(xorriso -indev "$T/a.iso" -pvd_info 2>/dev/null)"
volset=$(dd if="$T/a.iso" bs=1 skip=$((32768 + 190)) count=128 2>/dev/null | tr -d ' ')
check "volume set id holds the medium id ($volset)" grep -Eq '^MKLIVE-[0-9a-f]{16}$' <<<"$volset"

mkdir -p "$T/x"
xorriso -osirrox on -indev "$T/a.iso" -extract /live "$T/x/live" >/dev/null 2>&1
check "ISO holds squashfs, kernel, initramfs" test -s "$T/x/live/filesystem.squashfs" -a -s "$T/x/live/vmlinuz" -a -s "$T/x/live/initrd.img"
kver=$(ls "$src/lib/modules")
check "kernel is the tree's, byte for byte" cmp -s "$T/x/live/vmlinuz" "$src/boot/vmlinuz-$kver"

# Every entry's type, mode, owner, size (or device numbers), mtime and link
# target, as unsquashfs sees them, against the input as find sees it.
listing_input() {
	(cd "$1" && find . -printf '%M %U/%G %s %TY-%Tm-%Td %TH:%TM %P\t%l\n') |
	awk -F'\t' '{ split($1, f, " "); if (f[1] ~ /^[dcb]/) f[3] = "-";
		p = $1; sub(/^[^ ]+ [^ ]+ [^ ]+ [^ ]+ [^ ]+ /, "", p);
		line = f[1] " " f[2] " " f[3] " " f[4] " " f[5] " " p; if ($2 != "") line = line " -> " $2; print line }' |
	sed 's| \.$| |' | sort
}
listing_squashfs() {
	unsquashfs -lln "$1" | grep -E '^[-dlcbps]' |
	sed -E 's|squashfs-root/?||; s/^([cb][^ ]+ +[0-9]+\/[0-9]+) +[0-9]+, +[0-9]+/\1 -/' |
	awk '{ if ($1 ~ /^[dcb]/) $3 = "-"; $1 = $1; print }' | sort
}
listing_input "$src" | sed -E 's/ +$//' >"$T/in.lst"
listing_squashfs "$T/x/live/filesystem.squashfs" | sed -E 's/ +$//' >"$T/sq.lst"
if diff "$T/in.lst" "$T/sq.lst" >"$T/lst.diff"; then
	ok "unsquashfs -lln matches the input for all $(wc -l <"$T/in.lst") entries"
else
	fail "unsquashfs -lln differs from the input:"; head -n 20 "$T/lst.diff"
fi
check "device node numbers kept" grep -Eq '^crw-r--r-- 0/0 +5, +1 ' <<<"$(unsquashfs -lln "$T/x/live/filesystem.squashfs" dev/console 2>/dev/null | grep console)"
if command -v getfattr >/dev/null; then
	rm -rf "$T/sq"
	unsquashfs -q -d "$T/sq" "$T/x/live/filesystem.squashfs" usr/share/mklive-demo srv >/dev/null 2>&1
	check "security.capability xattr kept" grep -q 'security.capability=0sAQAAAgAgAAAAAAAAAAAAAAAAAAA=' \
		<<<"$(getfattr -e base64 -d -m - "$T/sq/usr/share/mklive-demo/setuid-example" 2>/dev/null)"
	check "user.comment xattr kept" grep -q 'user.comment="kept"' <<<"$(getfattr -d -m - "$T/sq/srv/data/file with spaces" 2>/dev/null)"
	check "hard link kept" test "$(stat -c %i "$T/sq/usr/share/mklive-demo/setuid-example")" = "$(stat -c %i "$T/sq/usr/share/mklive-demo/hardlink-example")"
	check "file content kept" cmp -s "$T/sq/srv/data/file with spaces" "$src/srv/data/file with spaces"
else
	skip "getfattr missing: xattr checks need the attr package"
fi

# The initramfs: newc, zstd, with init, the conf and only the chosen modules.
zstd -dc "$T/x/live/initrd.img" >"$T/initrd.cpio" 2>/dev/null
check "initramfs is zstd" test -s "$T/initrd.cpio"
list=$(cpio -it <"$T/initrd.cpio" 2>/dev/null)
check "initramfs has /init" grep -qx init <<<"$list"
check "initramfs has mklive.conf" grep -qx mklive.conf <<<"$list"
check "initramfs has modules.dep and modules.alias" grep -q "lib/modules/$kver/modules.alias" <<<"$list"
for m in kernel/fs/squashfs/squashfs.ko kernel/fs/isofs/isofs.ko kernel/drivers/usb/storage/usb-storage.ko kernel/drivers/ata/ahci.ko \
	kernel/fs/fat/vfat.ko kernel/fs/exfat/exfat.ko kernel/fs/ext4/ext4.ko; do
	check "initramfs has $m" grep -qx "lib/modules/$kver/$m" <<<"$list"
done
nko=$(grep -c '\.ko$' <<<"$list")
check "initramfs holds a selection of modules ($nko), not all" test "$nko" -gt 20 -a "$nko" -lt 150
mkdir -p "$T/ird" && (cd "$T/ird" && cpio -idm --quiet <"$T/initrd.cpio" 2>/dev/null)
check "modules copied byte for byte" cmp -s "$T/ird/lib/modules/$kver/kernel/fs/squashfs/squashfs.ko" "$src/lib/modules/$kver/kernel/fs/squashfs/squashfs.ko"
check "init is the built mklive-init" cmp -s "$T/ird/init" "$MKLIVE_INIT"
check "initramfs has /mklive-helper, the built one (first-boot persistence)" \
	cmp -s "$T/ird/mklive-helper" "$TOP/build/mklive-helper"
check "conf names the medium id" grep -qx "id=$volset" "$T/ird/mklive.conf"
check "conf names findiso's modules" grep -qx "isomods=vfat nls_cp437 nls_ascii exfat crc32c_generic ext4 ntfs3" "$T/ird/mklive.conf"
check "initramfs has /dev/console" test -c "$T/ird/dev/console" -o "$(id -u)" -ne 0
check "conf: the default live user, logged in automatically" \
	test "$(grep -E '^(user|autologin|hostname|locale|keyboard|timezone)=' "$T/ird/mklive.conf" | tr '\n' ' ')" = "user=user autologin=yes "
# [live] given: every key in the conf; a zone the tree lacks is a warning.
if $MKLIVE build --timeout 1 --level 1 --uefi no --user live --autologin no --hostname box \
	--locale C.UTF-8 --keyboard 'de(nodeadkeys)' --timezone Nowhere/Zone "$src" -o "$T/live.iso" \
	2>"$T/live.err"; then
	xorriso -osirrox on -indev "$T/live.iso" -extract /live/initrd.img "$T/live-initrd" >/dev/null 2>&1
	conf=$(zstd -dc "$T/live-initrd" | cpio -i --to-stdout mklive.conf 2>/dev/null)
	check "conf: [live] keys from the options" \
		test "$(grep -E '^(user|autologin|hostname|locale|keyboard|timezone)=' <<<"$conf" | tr '\n' ' ')" = \
		"user=live hostname=box locale=C.UTF-8 keyboard=de(nodeadkeys) timezone=Nowhere/Zone autologin=no "
	check "a time zone the tree lacks: a warning naming the file" grep -q \
		"warning: \[live\] timezone Nowhere/Zone: the tree has no /usr/share/zoneinfo/Nowhere/Zone" "$T/live.err"
else
	fail "build with [live] options: $(cat "$T/live.err")"
fi
# --findiso no: neither loopback.cfg nor the filesystems, the initramfs as
# small as before.
if $MKLIVE build --timeout 1 --level 1 --uefi no --findiso no "$src" -o "$T/nofind.iso" 2>"$T/nofind.err"; then
	xorriso -osirrox on -indev "$T/nofind.iso" -extract /live/initrd.img "$T/nofind-initrd" >/dev/null 2>&1
	list=$(zstd -dc "$T/nofind-initrd" | cpio -it 2>/dev/null)
	check "--findiso no: no ext4, vfat or exfat in the initramfs" bash -c '! grep -Eq "/(ext4|vfat|exfat)\.ko$" <<<"$1"' _ "$list"
	check "--findiso no: no isomods= in its conf" \
		bash -c '! zstd -dc "$1" | cpio -i --to-stdout mklive.conf 2>/dev/null | grep -q ^isomods=' _ "$T/nofind-initrd"
	check "--findiso no: no loopback.cfg" bash -c '! xorriso -indev "$1" -find /boot/grub -name loopback.cfg 2>/dev/null | grep -q loopback' _ "$T/nofind.iso"
	size=$(stat -c %s "$T/nofind-initrd")
	check "--findiso no: initramfs is at most 1.5 MB ($size bytes)" test "$size" -le 1572864
else
	fail "build with --findiso no: $(cat "$T/nofind.err")"
fi
size=$(stat -c %s "$T/x/live/initrd.img")
# 1.34 MB before the filesystems findiso= needs (vfat, exfat, ext4 with
# jbd2: 0.64 MB at zstd-9, in every initramfs, loaded only with findiso=).
check "initramfs is at most 2 MiB ($size bytes)" test "$size" -le 2097152

# --- progress on a terminal, quiet otherwise ------------------------------
script -qec "$MKLIVE build --timeout 1 --level 1 '$src' -o '$T/p.iso'" /dev/null >"$T/tty.out" 2>&1
check "progress bar with bytes, rate and ETA on a terminal" grep -Eq 'squashfs +\[#* *\] .*MiB / .*MiB/s' "$T/tty.out"
# The total is counted on the first progress call (the bar's own pass):
# the tree's size in the last bar drawn, never 0.
total=$(tr '\r' '\n' <"$T/tty.out" | grep -E '^squashfs ' | tail -n 1 | sed -E 's|.* / ([0-9.]+ [KMG]?i?B)  .*|\1|')
check "the bar's total is the tree's size ($total)" bash -c "[[ '$total' =~ ^[0-9.]+\ (KiB|MiB)$ ]] && [ '$total' != '0 B' ]"
check "summary line at the end" grep -q "wrote $T/p.iso" "$T/tty.out"
# No --uefi, no --efi-root: shim and GRUB from the host or mklive's cache
# (demo_iso filled it), and the closing line says what the image boots.
check "closing line: boots BIOS and UEFI with Secure Boot (Debian's kernel is signed)" \
	grep -q "wrote $T/p.iso ([0-9.]* MiB), which boots BIOS and UEFI with Secure Boot (Debian's signed shim); in " "$T/tty.out"
$MKLIVE build --timeout 1 --level 1 "$src" -o "$T/p2.iso" >"$T/notty.out" 2>&1
check "no progress bar when not on a terminal" bash -c "! grep -q 'ETA' '$T/notty.out'"
$MKLIVE build -q --timeout 1 --level 1 "$src" -o "$T/p3.iso" >"$T/q.out" 2>&1
check "-q prints nothing" test ! -s "$T/q.out"
$MKLIVE build -v --timeout 1 --level 1 "$src" -o "$T/p4.iso" >"$T/v.out" 2>&1
check "-v explains the kernel, modules and medium id" grep -q 'medium id MKLIVE-' "$T/v.out"
check "-v says where shim and GRUB came from" \
	grep -Eq "UEFI: Debian's signed shim and GRUB from (the host, /|mklive's cache, $EFI_ROOT) " "$T/v.out"
check "-v says the kernel is signed" grep -q 'the kernel is signed (Secure Boot)' "$T/v.out"
rm -f "$T"/p*.iso

# --- [boot] uefi in a config file; the command line wins ----------------------
printf '[boot]\nuefi = no\n' >"$T/nouefi.conf"
eltorito() { xorriso -indev "$1" -report_el_torito plain 2>/dev/null; }
$MKLIVE build --timeout 1 --level 1 --efi-root "$EFI_ROOT" -c "$T/nouefi.conf" "$src" -o "$T/c1.iso" 2>"$T/c1.err"
check "[boot] uefi = no: BIOS only, no UEFI El Torito entry" \
	test -n "$(eltorito "$T/c1.iso" | grep 'BIOS')" -a -z "$(eltorito "$T/c1.iso" | grep UEFI)"
check "[boot] uefi = no: the closing line says BIOS only" grep -q "which boots BIOS only (--uefi no); in" "$T/c1.err"
$MKLIVE build -q --timeout 1 --level 1 --efi-root "$EFI_ROOT" -c "$T/nouefi.conf" --uefi yes "$src" -o "$T/c2.iso"
check "--uefi yes over the config's no: the UEFI entry is there" \
	grep -Eq 'El Torito boot img : +2 +UEFI' <<<"$(eltorito "$T/c2.iso")"
rm -f "$T"/c[12].iso

# --- reproducible --------------------------------------------------------
SOURCE_DATE_EPOCH=1700000000 $B "$src" -o "$T/r1.iso" && SOURCE_DATE_EPOCH=1700000000 $B -j 1 "$src" -o "$T/r2.iso"
check "two builds with SOURCE_DATE_EPOCH are byte-identical, UEFI and GPT included (and thread count does not matter)" cmp -s "$T/r1.iso" "$T/r2.iso"
SOURCE_DATE_EPOCH=1700000001 $B "$src" -o "$T/r3.iso"
check "a different SOURCE_DATE_EPOCH gives a different image" bash -c "! cmp -s '$T/r1.iso' '$T/r3.iso'"

# --- rootless, from a tar -------------------------------------------------
tar --numeric-owner --xattrs --xattrs-include='*' -C "$src" -cf "$T/root.tar" . 2>/dev/null
chmod 755 "$T"; chmod 644 "$T/root.tar"
mkdir -m 1777 "$T/nobody"
# The checkout may sit in a directory nobody cannot enter: run copies.
mkdir -p "$T/bin" && cp "$MKLIVE" "$MKLIVE_INIT" "$TOP/build/mklive-helper" "$T/bin/" && chmod 755 "$T/bin"
# nobody cannot read root's cache, where shim and GRUB are: BIOS only.
NB="$T/bin/mklive build -q --uefi no --timeout 1 --level 1"
if setpriv --reuid=65534 --regid=65534 --clear-groups $NB "$T/root.tar" -o "$T/nobody/t.iso" 2>"$T/err"; then
	ok "build from a tar as nobody (uid 65534)"
	xorriso -osirrox on -indev "$T/nobody/t.iso" -extract /live/filesystem.squashfs "$T/t.sqfs" >/dev/null 2>&1
	listing_squashfs "$T/t.sqfs" | sed -E 's/ +$//' >"$T/tar.lst"
	if diff "$T/in.lst" "$T/tar.lst" >"$T/tar.diff"; then
		ok "tar build: unsquashfs -lln matches the input (owners 1000, 1234, devices, setuid)"
	else
		fail "tar build differs from the input:"; head -n 20 "$T/tar.diff"
	fi
else
	fail "build from a tar as nobody: $(cat "$T/err")"
fi
for c in gz zst xz; do
	case $c in gz) z=gzip ;; zst) z="zstd -q -T0" ;; xz) z="xz -T0 -0" ;; esac
	$z <"$T/root.tar" >"$T/root.tar.$c"
	if $B "$T/root.tar.$c" -o "$T/t-$c.iso" 2>"$T/err"; then ok "build from .tar.$c"; else fail "build from .tar.$c: $(cat "$T/err")"; fi
done

# --- symlink root mode: the article's layout, checked with unsquashfs ------
if $B --root-mode symlink "$src" -o "$T/s.iso" 2>"$T/err"; then
	ok "build --root-mode symlink"
	xorriso -osirrox on -indev "$T/s.iso" -extract /live/root.squashfs "$T/s-rw.sqfs" \
		-extract /live/filesystem.squashfs "$T/s-ro.sqfs" -extract /live/initrd.img "$T/s-initrd" >/dev/null 2>&1
	rwl=$(unsquashfs -lln "$T/s-rw.sqfs")
	for d in usr bin sbin lib; do
		check "writable root: /$d -> /ro/$d" grep -q "squashfs-root/$d -> /ro/$d\$" <<<"$rwl"
	done
	check "writable root: /ro is an empty directory" grep -Eq '^d.* squashfs-root/ro$' <<<"$rwl"
	check "writable root: nothing under /usr" bash -c "! grep -q 'squashfs-root/usr/' <<<\"\$1\"" _ "$rwl"
	check "image: top level is exactly the read-only dirs" test "$(unsquashfs -lln "$T/s-ro.sqfs" | awk '{print $NF}' | grep -E '^squashfs-root/[^/]+$' | sed 's|squashfs-root/||' | sort | tr '\n' ' ')" = "bin lib sbin usr "
	# Both ways: the two listings together are the input's, but for the
	# links that stand in for the read-only dirs and the /ro mount point.
	{ listing_squashfs "$T/s-rw.sqfs" | grep -Ev '^l.* (usr|bin|sbin|lib) -> /ro/|^d[^ ]* [^ ]+ - [^ ]+ [^ ]+ ro$|^d[^ ]* [^ ]+ - [^ ]+ [^ ]+ ?$'
	  listing_squashfs "$T/s-ro.sqfs"; } | sed -E 's/ +$//' | sort >"$T/s.lst"
	if diff "$T/in.lst" "$T/s.lst" >"$T/s.diff"; then
		ok "every input path is in exactly one of the two images, metadata unchanged"
	else
		fail "symlink split differs from the input:"; head -n 20 "$T/s.diff"
	fi
	check "initramfs conf says root=symlink" grep -q 'root=symlink' <<<"$(zstd -dc "$T/s-initrd" | cpio -i --to-stdout mklive.conf 2>/dev/null)"
else
	fail "build --root-mode symlink: $(cat "$T/err")"
fi
printf '[layout]\nroot-mode = symlink\nread-only = /usr /usr/lib\n' >"$T/overlap.conf"
$B -c "$T/overlap.conf" "$src" -o "$T/o.iso" 2>"$T/err"
check "overlapping read-only dirs are an error ($(cat "$T/err"))" grep -q "overlap" "$T/err"
$B --root-mode symlink --read-only '/usr /nonexistent' "$src" -o "$T/o.iso" 2>"$T/err"
check "a listed directory missing from the tree is an error ($(cat "$T/err"))" grep -q "'/nonexistent' is not in the tree" "$T/err"

# --- merged /usr: /lib is a link to usr/lib --------------------------------
merged=$T/merged
mkdir -p "$merged/usr"
cp -al "$src/bin" "$src/sbin" "$src/etc" "$src/boot" "$src/home" "$merged/"
cp -al "$src/lib" "$merged/usr/lib"
ln -s usr/lib "$merged/lib"
if $B "$merged" -o "$T/m.iso" 2>"$T/err"; then
	xorriso -osirrox on -indev "$T/m.iso" -extract /live/initrd.img "$T/m.img" >/dev/null 2>&1
	check "merged /usr: modules found through the /lib link" grep -q "lib/modules/$kver/kernel/fs/squashfs/squashfs.ko" <<<"$(zstd -dc "$T/m.img" | cpio -it 2>/dev/null)"
else
	fail "merged /usr tree: $(cat "$T/err")"
fi

# --- config file -----------------------------------------------------------
printf '[image]\nlabel = FROM_CONF\ncompressor = gzip\n[boot]\ntimeout = 2\nappend = quiet\n' >"$T/good.conf"
if $MKLIVE build -q --level 1 -c "$T/good.conf" "$src" -o "$T/c.iso" 2>"$T/err"; then
	check "config label used" grep -q "Volume Id    : FROM_CONF" <<<"$(xorriso -indev "$T/c.iso" -pvd_info 2>/dev/null)"
	xorriso -osirrox on -indev "$T/c.iso" -extract /isolinux/isolinux.cfg "$T/c.cfg" >/dev/null 2>&1
	check "config append and timeout in the menu" grep -q 'TIMEOUT 20' "$T/c.cfg"
	check "config append in every entry" test "$(grep -c 'APPEND.* quiet' "$T/c.cfg")" -eq 5
else
	fail "build with a config: $(cat "$T/err")"
fi
$B -c "$T/good.conf" --label FROM_CLI "$src" -o "$T/c2.iso" 2>/dev/null
check "command line overrides the config" grep -q "Volume Id    : FROM_CLI" <<<"$(xorriso -indev "$T/c2.iso" -pvd_info 2>/dev/null)"

# --- errors leave nothing behind ----------------------------------------
expect_error() { # NAME EXIT PATTERN ARGS...
	local name=$1 want=$2 pat=$3; shift 3
	rm -rf "$T/e"; mkdir -p "$T/e"
	"$@" >"$T/e.out" 2>&1
	local rc=$?
	if [ "$rc" -eq "$want" ] && grep -q -- "$pat" "$T/e.out" && [ -z "$(ls -A "$T/e")" ]; then
		ok "$name: exit $rc, '$(head -n 1 "$T/e.out")'"
	else
		fail "$name: exit $rc (want $want), output: $(cat "$T/e.out"), left: $(ls -A "$T/e")"
	fi
}
mkdir -p "$T/nokernel/etc"
expect_error "missing source" 1 "cannot open '$T/none'" $B "$T/none" -o "$T/e/x.iso"
expect_error "tree without kernel" 1 "no kernel in" $B "$T/nokernel" -o "$T/e/x.iso"
expect_error "bad label" 1 "label" $B --label 'bad label!' "$src" -o "$T/e/x.iso"
expect_error "unknown compressor" 1 "unknown compressor 'foo'" $B --compressor foo "$src" -o "$T/e/x.iso"
expect_error "output in a missing directory" 1 "$T/e/missing/x.iso" $B "$src" -o "$T/e/missing/x.iso"
printf '[image]\nlabl = X\n' >"$T/bad.conf"
expect_error "unknown config key" 1 "bad.conf:2" $B -c "$T/bad.conf" "$src" -o "$T/e/x.iso"
expect_error "no output option" 2 "no output" $B "$src"
long=$(printf 'n%.0s' $(seq 1 300))
tar -C "$src" --transform "s|^./etc/hostname\$|./etc/$long|" -cf "$T/long.tar" ./etc ./boot
expect_error "name longer than 255 bytes" 1 "longer than 255" $B "$T/long.tar" -o "$T/e/x.iso"
mkdir -p "$T/vm/boot/ignored" && cp -al "$src/boot/vmlinuz-$kver" "$T/vm/boot/"
expect_error "kernel without its modules" 1 "has no modules" $B "$T/vm" -o "$T/e/x.iso"
head -c 300000 "$T/root.tar" >"$T/trunc.tar"
expect_error "truncated tar" 1 "trunc.tar" $B "$T/trunc.tar" -o "$T/e/x.iso"
mkdir -p "$T/unread/boot" && cp -al "$src/boot/vmlinuz-$kver" "$T/unread/boot/" && echo secret >"$T/unread/secret"
chmod 000 "$T/unread/secret"; chmod 755 "$T/unread"
expect_error "unreadable file (as nobody)" 1 "cannot open '$T/unread/secret': Permission denied" \
	setpriv --reuid=65534 --regid=65534 --clear-groups $NB "$T/unread" -o "$T/nobody/u.iso"
check "unreadable file: nothing left" test ! -e "$T/nobody/u.iso"
mkdir -p "$T/full" && if mount -t tmpfs -o size=2m tmpfs "$T/full" 2>/dev/null; then
	mkdir -p "$T/full/e"
	$B "$src" -o "$T/full/e/x.iso" >"$T/e.out" 2>&1; rc=$?
	check "full disk: error names the problem ($(head -n 1 "$T/e.out"))" grep -q "No space left" "$T/e.out"
	check "full disk: exit 1 and nothing left" test "$rc" -eq 1 -a -z "$(ls -A "$T/full/e")"
	umount "$T/full"
else
	skip "full disk: cannot mount a small tmpfs here (not root)"
fi
# SIGINT while the build waits for its input: a tar through a FIFO that we
# stop feeding half way.
mkfifo "$T/pipe.tar"
rm -rf "$T/e"; mkdir -p "$T/e"
exec 9<>"$T/pipe.tar"	# a writer that stays: the build blocks instead of seeing EOF
$B "$T/pipe.tar" -o "$T/e/x.iso" 2>"$T/int.err" 9>&- &
bpid=$!
head -c 20000000 "$T/root.tar" >"$T/pipe.tar"
kill -INT "$bpid"
wait "$bpid"; rc=$?
exec 9>&-
check "SIGINT: exit 130 ($(head -n 1 "$T/int.err"))" test "$rc" -eq 130
check "SIGINT: no output and no scratch files left" test -z "$(ls -A "$T/e")"
# --- make install honours PREFIX and DESTDIR ---------------------------
if make -C "$TOP" -s install DESTDIR="$T/dest" PREFIX=/opt/mk >"$T/inst.log" 2>&1; then
	check "make install: mklive in PREFIX/bin" test -x "$T/dest/opt/mk/bin/mklive"
	check "make install: mklive-init in PREFIX/lib/mklive" test -x "$T/dest/opt/mk/lib/mklive/mklive-init"
	check "make install: mklive-helper in PREFIX/lib/mklive" test -x "$T/dest/opt/mk/lib/mklive/mklive-helper"
	check "make install: man pages" test -f "$T/dest/opt/mk/share/man/man1/mklive.1" -a -f "$T/dest/opt/mk/share/man/man5/mklive.conf.5" \
		-a -f "$T/dest/opt/mk/share/man/man7/mklive-init.7" -a -f "$T/dest/opt/mk/share/man/man8/mklive-media.8"
	check "installed mklive finds its installed init" "$T/dest/opt/mk/bin/mklive" build -q --level 1 "$src" -o "$T/inst.iso"
else
	fail "make install: $(tail -n 3 "$T/inst.log")"
fi
t_done
