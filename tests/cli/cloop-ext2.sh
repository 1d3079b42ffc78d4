#!/bin/bash
# --image-format cloop-ext2: cloop blocks holding an ext2 payload, which
# keeps hard links (issue 12, point 7). Checked with readers we did not
# write: xorriso (the ISO), extract_compressed_fs (cloop-utils; else our
# own reader), e2fsck -fn and debugfs (hard links share an inode with link
# count 2, owners, modes, a symlink, a device node, an xattr, contents),
# cpio (the initramfs: fstype=ext2 and the ext4 driver with its
# dependencies). Two builds with the same SOURCE_DATE_EPOCH are
# byte-identical. And the warning: --image-format cloop on a tree with hard
# links says that they come apart and which format keeps them; a tree
# without hard links, cloop-ext2 itself, and -q say nothing.
. "$(dirname "$0")/../lib.sh"
t_tmpdir
export SOURCE_DATE_EPOCH=1700000000 TZ=UTC
for tool in xorriso e2fsck debugfs cpio zstd; do
	command -v $tool >/dev/null || { skip "$tool missing (scripts/deps.sh check)"; t_done; exit 0; }
done
cache=$("$TOP/scripts/fetch-boot.sh") || { fail "fetching the boot pieces"; t_done; exit 1; }

# A kernel that is not booted here, and a module tree with the names (and
# the dependencies, as in Debian 6.1's modules.dep) that mounting ext2
# through ext4 needs.
ver=6.1.0-cloop-ext2
m=$T/mods/$ver
mkdir -p "$m/kernel/fs/ext4" "$m/kernel/fs/jbd2" "$m/kernel/lib" "$m/kernel/crypto" "$m/kernel/drivers/block"
for k in fs/ext4/ext4 fs/jbd2/jbd2 fs/mbcache lib/crc16 crypto/crc32c_generic drivers/block/nbd; do
	head -c 3000 /dev/urandom >"$m/kernel/$k.ko"
done
cat >"$m/modules.dep" <<'DEP'
kernel/fs/mbcache.ko:
kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
kernel/fs/jbd2/jbd2.ko:
kernel/crypto/crc32c_generic.ko:
kernel/lib/crc16.ko:
kernel/drivers/block/nbd.ko:
DEP
: >"$m/modules.builtin"; : >"$m/modules.order"
cp "$cache/boot/memtest86+x64.bin" "$T/vmlinuz-$ver"
build() {	# OUT ARGS... (SOURCE last)
	local out=$1; shift
	"$MKLIVE" build --uefi no --timeout 1 --level 1 --kernel "$T/vmlinuz-$ver" --modules "$m" \
		-o "$out" "$@"
}

# The tree: hard links in one directory and across two, owners, modes, a
# symlink, a device node, a fifo, an xattr, a file of several blocks.
t=$T/tree
mkdir -p "$t"/{sbin,usr/bin,usr/share/doc,srv/data,dev,etc}
printf '#!/bin/sh\n' >"$t/sbin/init"; chmod 755 "$t/sbin/init"
head -c 300000 /dev/urandom >"$t/usr/bin/tool"
chmod 4755 "$t/usr/bin/tool"
ln "$t/usr/bin/tool" "$t/usr/bin/tool-alias"
echo "shared text" >"$t/usr/share/doc/z-leader"
ln "$t/usr/share/doc/z-leader" "$t/srv/a-link"
printf 'x%.0s' $(seq 1 5000) >"$t/srv/data/owned"
chown 1234:4321 "$t/srv/data/owned"
chmod 2750 "$t/srv/data"
ln -s ../usr/bin/tool "$t/etc/tool-link"
mknod "$t/dev/sda" b 8 0
mkfifo "$t/srv/fifo"
setfattr -n user.comment -v kept "$t/srv/data/owned"
touch -h -d '2001-02-03 04:05:06 UTC' "$t/srv/data/owned" "$t/etc/tool-link"
# The same tree as a tar that names a hard link's leader after a name that
# sorts before it (srv/a-link is the link, usr/share/doc/z-leader its
# leader, read first): the payload's pre-order meets the link first.
(cd "$t" && tar --xattrs --xattrs-include='user.*' -cf "$T/tree.tar" ./usr ./sbin ./srv ./etc ./dev)

# --- a build from the directory ---------------------------------------------
if build "$T/a.iso" --image-format cloop-ext2 "$t" 2>"$T/err"; then
	ok "build --image-format cloop-ext2"
else
	fail "build --image-format cloop-ext2: $(cat "$T/err")"; t_done; exit 1
fi
check "no warning for cloop-ext2" bash -c '! grep -q warning "$1"' _ "$T/err"
xorriso -osirrox on -indev "$T/a.iso" -extract /live/filesystem.cloop "$T/a.cloop" \
	-extract /live/initrd.img "$T/initrd.img" >/dev/null 2>&1
check "the ISO holds live/filesystem.cloop" test -s "$T/a.cloop"
check "a cloop image (V2.0, gzip)" test "$(head -c 23 "$T/a.cloop")" = $'#!/bin/sh\n#V2.0 Format'
if command -v extract_compressed_fs >/dev/null; then
	extract_compressed_fs "$T/a.cloop" "$T/a.ext2" >/dev/null 2>&1
	check "extract_compressed_fs reads it" test -s "$T/a.ext2"
else
	skip "extract_compressed_fs missing (apt-get install cloop-utils): our own reader"
	"$MKLIVE" cloop extract "$T/a.cloop" "$T/a.ext2"
fi
"$MKLIVE" cloop extract "$T/a.cloop" "$T/a.ext2.ours"
check "our reader gives the same payload" cmp -s "$T/a.ext2" "$T/a.ext2.ours"
rm -f "$T/a.ext2.ours"
out=$(e2fsck -fn "$T/a.ext2" 2>&1)
check "e2fsck -fn: the payload is a clean ext2" test $? = 0
check "no journal (ext2)" bash -c "! dumpe2fs -h '$T/a.ext2' 2>/dev/null | grep -q has_journal"
check "4 KiB blocks" grep -q '^Block size: *4096$' <(dumpe2fs -h "$T/a.ext2" 2>/dev/null)

check_payload() {	# IMAGE WHAT
	local img=$1 w=$2
	d() { debugfs -R "$1" "$img" 2>/dev/null; }
	ino() { d "stat $1" | sed -n 's/^Inode: \([0-9]*\) .*/\1/p'; }
	links() { d "stat $1" | sed -n 's/.*Links: \([0-9]*\) .*/\1/p'; }
	local i1 i2
	i1=$(ino /usr/bin/tool) i2=$(ino /usr/bin/tool-alias)
	check "$w: tool and tool-alias share inode $i1" test -n "$i1" -a "$i1" = "$i2"
	check "$w: its link count is 2 ($(links /usr/bin/tool))" test "$(links /usr/bin/tool)" = 2
	i1=$(ino /usr/share/doc/z-leader) i2=$(ino /srv/a-link)
	check "$w: a link across directories shares inode $i1" test -n "$i1" -a "$i1" = "$i2"
	check "$w: its link count is 2 ($(links /srv/a-link))" test "$(links /srv/a-link)" = 2
	check "$w: a file without links has count 1" test "$(links /srv/data/owned)" = 1
	check "$w: setuid mode 4755" grep -q 'Mode:  04755' <<<"$(d 'stat /usr/bin/tool')"
	check "$w: owner 1234:4321" grep -Eq 'User: +1234 +Group: +4321 ' <<<"$(d 'stat /srv/data/owned')"
	check "$w: setgid directory mode 2750" grep -q 'Mode:  02750' <<<"$(d 'stat /srv/data')"
	check "$w: mtime kept" grep -q 'mtime: 0x3a7b8372' <<<"$(d 'stat /srv/data/owned')"
	check "$w: symlink and its target" grep -q 'Fast link dest: "../usr/bin/tool"' <<<"$(d 'stat /etc/tool-link')"
	check "$w: block device 8,0" bash -c 'grep -q "Type: block special" <<<"$1" && grep -Eq "Device major/minor number: 0*8:0*0 " <<<"$1"' _ "$(d 'stat /dev/sda')"
	check "$w: fifo" grep -q 'Type: FIFO' <<<"$(d 'stat /srv/fifo')"
	check "$w: xattr user.comment = kept" grep -q 'user.comment (4) = "kept"' <<<"$(d 'ea_list /srv/data/owned')"
	d "dump /usr/bin/tool $T/tool.out"
	check "$w: contents of a hard-linked file" cmp -s "$T/tool.out" "$t/usr/bin/tool"
	d "dump /srv/a-link $T/alink.out"
	check "$w: contents through the other name" cmp -s "$T/alink.out" "$t/usr/share/doc/z-leader"
	d "dump /srv/data/owned $T/owned.out"
	check "$w: contents of a plain file" cmp -s "$T/owned.out" "$t/srv/data/owned"
}
check_payload "$T/a.ext2" directory

# --- the initramfs: the init mounts it as ext2, with ext4's modules ----------
mkdir -p "$T/ird"
(cd "$T/ird" && zstd -dc "$T/initrd.img" | cpio -id --quiet)
conf=$(cat "$T/ird/mklive.conf" 2>/dev/null)
check "mklive.conf: format=cloop" grep -qx 'format=cloop' <<<"$conf"
check "mklive.conf: fstype=ext2" grep -qx 'fstype=ext2' <<<"$conf"
check "mklive.conf: nbd, ext4 and crc32c_generic loaded first" \
	grep -Eq '^modules=.* nbd ext4 crc32c_generic$' <<<"$conf"
for k in ext4 jbd2 mbcache crc16 crc32c_generic nbd; do
	check "initramfs holds $k.ko" test -n "$(find "$T/ird/lib/modules/$ver" -name "$k.ko")"
done

# --- reproducible -------------------------------------------------------------
build "$T/b.iso" --image-format cloop-ext2 -q "$t" 2>"$T/err"
check "a second build with the same SOURCE_DATE_EPOCH is byte-identical" cmp -s "$T/a.iso" "$T/b.iso"
rm -f "$T/b.iso" "$T/a.iso"

# --- from a tar whose link comes before its leader in the tree's order -------
if build "$T/t.iso" --image-format cloop-ext2 "$T/tree.tar" 2>"$T/err"; then
	ok "build from a tar"
	check "the tar names srv/a-link as the link (the leader comes first)" \
		grep -q 'srv/a-link link to ./usr/share/doc/z-leader' <(tar -tvf "$T/tree.tar")
	xorriso -osirrox on -indev "$T/t.iso" -extract /live/filesystem.cloop "$T/t.cloop" >/dev/null 2>&1
	"$MKLIVE" cloop extract "$T/t.cloop" "$T/t.ext2"
	check "tar: e2fsck -fn clean" e2fsck -fn "$T/t.ext2" >/dev/null 2>&1
	check_payload "$T/t.ext2" tar
else
	fail "build from a tar: $(cat "$T/err")"
fi
rm -f "$T"/t.*

# --- symlink mode: only the read-only directories in the payload ------------
# (a hard link across the split is refused: the tree without srv/a-link)
cp -a "$t" "$T/split"
rm "$T/split/srv/a-link"
if build "$T/s.iso" --image-format cloop-ext2 --root-mode symlink --read-only /usr "$T/split" 2>"$T/err"; then
	ok "symlink mode: build"
	xorriso -osirrox on -indev "$T/s.iso" -extract /live/filesystem.cloop "$T/s.cloop" >/dev/null 2>&1
	"$MKLIVE" cloop extract "$T/s.cloop" "$T/s.ext2"
	check "symlink mode: e2fsck -fn clean" e2fsck -fn "$T/s.ext2" >/dev/null 2>&1
	ls=$(debugfs -R "ls -p /" "$T/s.ext2" 2>/dev/null | awk -F/ 'NF > 5 { print $6 }' | grep -v '^\.*$' | sort | tr '\n' ' ')
	check "symlink mode: the payload holds usr only ($ls)" test "$ls" = "lost+found usr "
	check "symlink mode: tool and tool-alias share an inode" test \
		"$(debugfs -R 'stat /usr/bin/tool' "$T/s.ext2" 2>/dev/null | sed -n 's/^Inode: \([0-9]*\) .*/\1/p')" = \
		"$(debugfs -R 'stat /usr/bin/tool-alias' "$T/s.ext2" 2>/dev/null | sed -n 's/^Inode: \([0-9]*\) .*/\1/p')"
else
	fail "symlink mode: build: $(cat "$T/err")"
fi
rm -rf "$T"/s.* "$T/split"

# --- the warning for what a payload cannot carry ------------------------------
build "$T/c.iso" --image-format cloop "$t" 2>"$T/err"
check "cloop, tree with hard links: built" test -s "$T/c.iso"
check "cloop: 'mklive build: warning:' that 2 hard links come apart ($(head -n 1 "$T/err"))" \
	grep -q '^mklive build: warning: the tree has 2 hard links, and a cloop image cannot keep them: hard links become separate files' "$T/err"
check "cloop: the warning names the format that keeps them" \
	grep -q -- '--image-format cloop-ext2 keeps them' "$T/err"
build "$T/c.iso" --image-format cloop -q "$t" 2>"$T/err"
check "cloop -q: no warning" test ! -s "$T/err"
cp -a "$t" "$T/nolinks"
rm "$T/nolinks/usr/bin/tool-alias" "$T/nolinks/srv/a-link"
build "$T/c.iso" --image-format cloop "$T/nolinks" 2>"$T/err"
check "cloop, tree without hard links: no warning" \
	bash -c '! grep -q warning "$1"' _ "$T/err"
build "$T/c.iso" "$t" 2>"$T/err"
check "squashfs keeps hard links: no warning" bash -c '! grep -q warning "$1"' _ "$T/err"
# Symlink mode: only links in the image (the read-only directories) count.
build "$T/c.iso" --image-format cloop --root-mode symlink --read-only /usr "$T/nolinks" 2>"$T/err"
check "symlink mode, no links: no warning" bash -c '! grep -q warning "$1"' _ "$T/err"
cp -a "$T/nolinks" "$T/rwlinks"
ln "$T/rwlinks/srv/data/owned" "$T/rwlinks/srv/owned-too"
build "$T/c.iso" --image-format cloop --root-mode symlink --read-only /usr "$T/rwlinks" 2>"$T/err"
check "symlink mode, a link in the writable part (squashfs): no warning" \
	bash -c '! grep -q warning "$1"' _ "$T/err"
cp -a "$T/nolinks" "$T/usrlinks"
ln "$T/usrlinks/usr/bin/tool" "$T/usrlinks/usr/bin/tool-alias"
build "$T/c.iso" --image-format cloop --root-mode symlink --read-only /usr "$T/usrlinks" 2>"$T/err"
check "symlink mode, a link under /usr (the cloop image): warned ($(cut -c1-80 "$T/err" | head -n 1))" \
	grep -q 'warning: the tree has 1 hard link,' "$T/err"
t_done
