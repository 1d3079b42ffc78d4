#!/bin/bash
# mklive ext2: ext2 images from a directory, a tar and nothing, checked with
# readers we did not write: e2fsck -fn (every image), debugfs (stat, cat,
# ls, rdump, ea_get), dumpe2fs -h and blkid. Plus reproducibility, the
# label, sizes and block sizes, and errors that leave no output behind.
# Runs as root (mknod, chown); skips what needs it otherwise.
. "$(dirname "$0")/../lib.sh"
t_tmpdir
export TZ=UTC
export SOURCE_DATE_EPOCH=1700000000	# 2023-11-14 22:13:20 UTC

for tool in e2fsck debugfs dumpe2fs; do
	if ! command -v $tool >/dev/null; then
		skip "$tool missing (package e2fsprogs): ext2 tests need it"
		t_done
		exit 0
	fi
done
root=0; [ "$(id -u)" = 0 ] && root=1

# fsck_clean NAME IMG: e2fsck -fn finds nothing to fix.
fsck_clean() {
	local out rc
	out=$(e2fsck -fn "$2" 2>&1); rc=$?
	if [ $rc -eq 0 ]; then
		ok "$1: e2fsck -fn clean ($(tail -n 1 <<<"$out" | sed 's/.*: //'))"
	else
		fail "$1: e2fsck -fn (rc $rc): $(head -n 20 <<<"$out")"
	fi
}
dbg() { debugfs -R "$2" "$1" 2>/dev/null; }
# stat_has NAME IMG PATH REGEX: debugfs stat of PATH matches REGEX.
stat_has() {
	local out
	out=$(dbg "$2" "stat \"$3\"")
	if grep -Eq -- "$4" <<<"$out"; then ok "$1"; else fail "$1: stat $3: $(head -n 6 <<<"$out")"; fi
}
inode_of() { dbg "$1" "stat \"$2\"" | sed -n 's/^Inode: \([0-9]*\).*/\1/p'; }
# same_files NAME IMG DIR: rdump the image and compare contents, modes
# (without setuid, setgid and sticky: rdump drops them), owners and mtimes
# (whole seconds: ext2 keeps no more) of files and directories, and link
# targets, with DIR (special files left out: rdump skips them).
listing() {
	(cd "$1" && find . ! -path './lost+found*' ! -type p ! -type c ! -type b ! -type s \
		-printf '%P %y %U %G %s %l ' \( -type l -printf '\n' -o -printf '%Ts %m\n' \)) |
		sed 's/ [0-7]\([0-7][0-7][0-7]\)$/ \1/' | sort
}
same_files() {
	rm -rf "$T/out"; mkdir "$T/out"
	dbg "$2" "rdump / $T/out" >/dev/null
	if diff -r --no-dereference -x lost+found -x 'dev*' "$3" "$T/out" >"$T/diff" 2>&1 &&
	   diff <(listing "$3") <(listing "$T/out") >>"$T/diff"; then
		ok "$1: rdump gives back the tree: contents, owners, modes, mtimes ($(listing "$3" | wc -l) entries)"
	else
		fail "$1: tree differs after rdump: $(head -n 10 "$T/diff")"
	fi
}

# --- a tree with everything -------------------------------------------------
s=$T/src
long255=$(printf 'n%.0s' $(seq 1 251)).txt
deep=$(printf 'level%02d/' $(seq 1 40))
mkdir -p "$s/etc" "$s/usr/bin" "$s/empty dir" "$s/$deep" "$s/owned" "$s/devs"
printf 'hello\n' >"$s/etc/hostname"
printf 'root:x:0:0::/root:/bin/sh\n' >"$s/etc/passwd"
printf '#!/bin/sh\necho su\n' >"$s/usr/bin/su"; chmod 4755 "$s/usr/bin/su"
printf 'sg' >"$s/usr/bin/sg"; chmod 2711 "$s/usr/bin/sg"
chmod 1777 "$s/empty dir"
: >"$s/etc/empty"
printf 'deep' >"$s/${deep}leaf"
printf 'max' >"$s/$long255"
ln -s hostname "$s/etc/short-link"				# fast symlink
target=$(printf 'd%.0s' $(seq 1 200))/target
ln -s "$target" "$s/etc/long-link"				# slow symlink (one block)
ln "$s/usr/bin/su" "$s/usr/bin/su-hardlink"
for n in 1 1023 1024 1025 4096 12288 13312 65536; do head -c $n /dev/urandom >"$s/usr/size-$n"; done
# A large file: random data with holes and a zero run in the middle.
head -c 2000000 /dev/urandom >"$s/usr/big"
head -c 3000000 /dev/zero >>"$s/usr/big"
head -c 1000000 /dev/urandom >>"$s/usr/big"
truncate -s 8000000 "$s/usr/big"
touch -d '2001-02-03 04:05:06' "$s/etc/passwd"
printf 'mine' >"$s/owned/file"
if [ $root = 1 ]; then
	chown 1234:5678 "$s/owned/file"
	chown 100000:200000 "$s/owned"				# ids above 16 bits
	mknod "$s/devs/null" c 1 3
	mknod "$s/devs/sda1" b 8 1
	mknod "$s/devs/big" c 300 70000				# new encoding
	mkfifo "$s/devs/fifo"
fi
xattrs=0
if command -v setfattr >/dev/null && setfattr -n user.mklive -v check "$s/etc/hostname" 2>/dev/null; then
	xattrs=1
	setfattr -n user.other -v "$(printf 'v%.0s' $(seq 1 300))" "$s/etc/hostname"
fi
touch -d '2020-01-01 00:00:00' "$s/usr" "$s"

if $MKLIVE ext2 "$s" -o "$T/a.img" --label live-root 2>"$T/err"; then ok "mklive ext2 on a mixed tree"; else fail "mklive ext2: $(cat "$T/err")"; fi
fsck_clean "mixed tree" "$T/a.img"
same_files "mixed tree" "$T/a.img" "$s"
check "debugfs cat: file content" test "$(dbg "$T/a.img" 'cat /etc/hostname')" = hello
check "debugfs cat: file at depth 40" test "$(dbg "$T/a.img" "cat /${deep}leaf")" = deep
check "debugfs cat: 255-byte name" test "$(dbg "$T/a.img" "cat /$long255")" = max
ls=$(dbg "$T/a.img" 'ls -l /')
check "ls -l /: lost+found made" grep -Eq ' 11 +40700 .* lost\+found$' <<<"$ls"
check "ls -l /: root directory listed" grep -Eq '^ +2 +40755 ' <<<"$ls"
stat_has "setuid bit kept" "$T/a.img" /usr/bin/su 'Mode: +04755'
stat_has "setgid bit kept" "$T/a.img" /usr/bin/sg 'Mode: +02711'
stat_has "sticky bit kept" "$T/a.img" "/empty dir" 'Mode: +01777'
stat_has "hard link: two links on one inode" "$T/a.img" /usr/bin/su 'Links: 2 '
check "hard link: both names have the same inode" test "$(inode_of "$T/a.img" /usr/bin/su)" = "$(inode_of "$T/a.img" /usr/bin/su-hardlink)"
stat_has "fast symlink stored in the inode" "$T/a.img" /etc/short-link 'Fast link dest: "hostname"'
rl=$(dbg "$T/a.img" 'stat /etc/long-link')
check "slow symlink: one block, size 207" grep -Eq 'Size: 207' <<<"$rl"
check "slow symlink: target in its block" test "$(dbg "$T/a.img" 'cat /etc/long-link')" = "$target"
stat_has "mtime kept (2001-02-03 04:05:06)" "$T/a.img" /etc/passwd "mtime: $(printf '0x%08x' "$(date -d '2001-02-03 04:05:06' +%s)")"
stat_has "lost+found takes SOURCE_DATE_EPOCH" "$T/a.img" /lost+found "mtime: $(printf '0x%08x' "$SOURCE_DATE_EPOCH")"
stat_has "256-byte inodes with extra fields" "$T/a.img" /etc/passwd 'Size of extra inode fields: 32'
big=$(dbg "$T/a.img" 'stat /usr/big')
bc=$(sed -n 's/.*Blockcount: \([0-9]*\).*/\1/p' <<<"$big")
check "large file: 8000000 bytes" grep -q 'Size: 8000000' <<<"$big"
check "large file: zero blocks are holes (blockcount $bc < 7000 sectors)" test "${bc:-99999}" -lt 7000 -a "${bc:-0}" -gt 5800
check "large file: content read back" cmp -s <(dbg "$T/a.img" 'cat /usr/big') "$s/usr/big"
if [ $root = 1 ]; then
	stat_has "owner 1234:5678" "$T/a.img" /owned/file 'User: +1234 +Group: +5678 '
	stat_has "owner above 16 bits (100000:200000)" "$T/a.img" /owned 'User: +100000 +Group: +200000 '
	stat_has "char device 1:3" "$T/a.img" /devs/null 'Type: character special.*' 
	stat_has "char device number 1:3" "$T/a.img" /devs/null 'Device major/minor number: 01:03'
	stat_has "block device 8:1" "$T/a.img" /devs/sda1 'Device major/minor number: 08:01'
	stat_has "device 300:70000 (new encoding)" "$T/a.img" /devs/big 'major/minor number: 300:70000'
	stat_has "fifo" "$T/a.img" /devs/fifo 'Type: FIFO'
else
	skip "owners, device nodes and fifos need root"
fi
if [ $xattrs = 1 ]; then
	check "xattr user.mklive kept" test "$(dbg "$T/a.img" 'ea_get -V /etc/hostname user.mklive')" = check
	check "xattr of 300 bytes kept" test "$(dbg "$T/a.img" 'ea_get -V /etc/hostname user.other')" = "$(getfattr --absolute-names --only-values -n user.other "$s/etc/hostname")"
else
	skip "no user xattrs on this filesystem"
fi
hdr=$(dumpe2fs -h "$T/a.img" 2>/dev/null)
check "dumpe2fs: label live-root" grep -q '^Filesystem volume name: *live-root$' <<<"$hdr"
check "dumpe2fs: ext2 features, no journal" grep -Eq '^Filesystem features: *ext_attr dir_index filetype sparse_super large_file$' <<<"$hdr"
check "dumpe2fs: created at SOURCE_DATE_EPOCH" grep -q '^Filesystem created: *Tue Nov 14 22:13:20 2023$' <<<"$hdr"
check "dumpe2fs: written at SOURCE_DATE_EPOCH" grep -q '^Last write time: *Tue Nov 14 22:13:20 2023$' <<<"$hdr"
check "dumpe2fs: 1 KiB blocks for a small image" grep -q '^Block size: *1024$' <<<"$hdr"
check "dumpe2fs: no reserved blocks" grep -q '^Reserved block count: *0$' <<<"$hdr"
free=$(sed -n 's/^Free blocks: *//p' <<<"$hdr"); total=$(sed -n 's/^Block count: *//p' <<<"$hdr")
check "sized to the content: $free of $total blocks free (some slack, < 25 %)" test "${free:-0}" -ge 64 -a "$((free * 4))" -lt "${total:-0}"
if command -v blkid >/dev/null; then
	check "blkid: ext2 with the label" test "$(blkid -p -o value -s TYPE "$T/a.img"):$(blkid -p -o value -s LABEL "$T/a.img")" = ext2:live-root
fi

# --- reproducibility ---------------------------------------------------------
$MKLIVE ext2 "$s" -o "$T/b.img" --label live-root
check "two runs are byte-identical" cmp -s "$T/a.img" "$T/b.img"
$MKLIVE ext2 "$s" -o "$T/c.img" --label other
u1=$(dumpe2fs -h "$T/a.img" 2>/dev/null | sed -n 's/^Filesystem UUID: *//p')
u2=$(dumpe2fs -h "$T/c.img" 2>/dev/null | sed -n 's/^Filesystem UUID: *//p')
check "another label gives another UUID ($u1 / $u2)" test -n "$u1" -a "$u1" != "$u2"
printf 'changed' >"$T/src/etc/empty"
$MKLIVE ext2 "$s" -o "$T/d.img" --label live-root
u3=$(dumpe2fs -h "$T/d.img" 2>/dev/null | sed -n 's/^Filesystem UUID: *//p')
check "other content gives another UUID" test -n "$u3" -a "$u1" != "$u3"
: >"$T/src/etc/empty"; touch -d '2020-01-01 00:00:00' "$s/etc"
(unset SOURCE_DATE_EPOCH; $MKLIVE ext2 "$s" -o "$T/e1.img" && $MKLIVE ext2 "$s" -o "$T/e2.img")
check "without SOURCE_DATE_EPOCH: still byte-identical" cmp -s "$T/e1.img" "$T/e2.img"
newest=$(find "$s" -printf '%Ts\n' | sort -n | tail -n 1)
check "without SOURCE_DATE_EPOCH: times are the newest mtime ($newest)" grep -q "^Filesystem created: *$(date -d "@$newest" '+%a %b %e %H:%M:%S %Y')$" <(dumpe2fs -h "$T/e1.img" 2>/dev/null)

# --- from a tar --------------------------------------------------------------
tar --xattrs --numeric-owner -C "$s" -cf "$T/src.tar" .
if $MKLIVE ext2 "$T/src.tar" -o "$T/t.img" 2>"$T/err"; then ok "mklive ext2 from a tar"; else fail "from a tar: $(cat "$T/err")"; fi
fsck_clean "from a tar" "$T/t.img"
same_files "from a tar" "$T/t.img" "$s"
stat_has "tar: setuid kept" "$T/t.img" /usr/bin/su 'Mode: +04755'
check "tar: hard link on one inode" test "$(inode_of "$T/t.img" /usr/bin/su)" = "$(inode_of "$T/t.img" /usr/bin/su-hardlink)"
[ $root = 1 ] && stat_has "tar: device 300:70000" "$T/t.img" /devs/big 'major/minor number: 300:70000'
[ $xattrs = 1 ] && check "tar: xattr kept" test "$(dbg "$T/t.img" 'ea_get -V /etc/hostname user.mklive')" = check
$MKLIVE ext2 - -o "$T/t2.img" <"$T/src.tar"
check "tar on standard input gives the same image" cmp -s "$T/t.img" "$T/t2.img"
# A tar that names files before their directories and none for the root.
mkdir -p "$T/x/a/b"; printf 'x' >"$T/x/a/b/f"
(cd "$T/x" && tar -cf "$T/loose.tar" a/b/f)
if $MKLIVE ext2 "$T/loose.tar" -o "$T/l.img" 2>"$T/err"; then ok "tar with implied directories"; else fail "implied dirs: $(cat "$T/err")"; fi
fsck_clean "tar with implied directories" "$T/l.img"
stat_has "implied directory: 0755" "$T/l.img" /a/b 'Mode: +0755 '
stat_has "implied directory: SOURCE_DATE_EPOCH" "$T/l.img" /a/b "mtime: $(printf '0x%08x' "$SOURCE_DATE_EPOCH")"
check "implied directories: file read back" test "$(dbg "$T/l.img" 'cat /a/b/f')" = x
if command -v bsdtar >/dev/null; then
	bsdtar -C "$s" --format pax -czf "$T/src.tar.gz" .
	$MKLIVE ext2 "$T/src.tar.gz" -o "$T/g.img" 2>"$T/err"
	fsck_clean "from a bsdtar .tar.gz" "$T/g.img"
	check "bsdtar .tar.gz: content" cmp -s <(dbg "$T/g.img" 'cat /usr/big') "$s/usr/big"
fi

# --- empty images and sizes --------------------------------------------------
if $MKLIVE ext2 --size 8M -o "$T/empty.img" --label persistence 2>"$T/err"; then ok "empty image with --size 8M"; else fail "empty: $(cat "$T/err")"; fi
fsck_clean "empty 8M" "$T/empty.img"
check "empty: exactly 8 MiB" test "$(stat -c %s "$T/empty.img")" = 8388608
check "empty: only lost+found" test "$(dbg "$T/empty.img" 'ls /' | tr -s ' \n' '\n' | grep -cv '^\(\.\|\.\.\|lost+found\|[0-9()]*\|\)$')" = 0
check "empty: root owned by root, 0755" grep -q 'Mode:  0755' <(dbg "$T/empty.img" 'stat /')
$MKLIVE ext2 --empty --size 8M -o "$T/empty2.img" --label persistence
check "--empty gives the same image" cmp -s "$T/empty.img" "$T/empty2.img"
$MKLIVE ext2 --size 1G -o "$T/p.img"
fsck_clean "empty 1G" "$T/p.img"
hdr=$(dumpe2fs -h "$T/p.img" 2>/dev/null)
check "1G: 4 KiB blocks" grep -q '^Block size: *4096$' <<<"$hdr"
check "1G: one inode per 16 KiB (65536)" grep -q '^Inode count: *65536$' <<<"$hdr"
check "1G: sparse on disk ($(du -k "$T/p.img" | cut -f1) KiB used)" test "$(du -k "$T/p.img" | cut -f1)" -lt 65536
rm -f "$T/p.img"
$MKLIVE ext2 -b 4096 -N 5000 "$s" -o "$T/b4.img"
fsck_clean "--block-size 4096 --inodes 5000" "$T/b4.img"
hdr=$(dumpe2fs -h "$T/b4.img" 2>/dev/null)
check "-b 4096: block size" grep -q '^Block size: *4096$' <<<"$hdr"
check "-N 5000: at least 5000 inodes" test "$(sed -n 's/^Inode count: *//p' <<<"$hdr")" -ge 5000
same_files "-b 4096" "$T/b4.img" "$s"
$MKLIVE ext2 -b 2048 -s 20M "$s" -o "$T/b2.img"
fsck_clean "--block-size 2048 --size 20M" "$T/b2.img"
check "-s 20M: exactly 20 MiB" test "$(stat -c %s "$T/b2.img")" = 20971520

# --- errors ------------------------------------------------------------------
expect() { # NAME RC CMD...: exits RC, prints one message naming something
	local name=$1 rc=$2; shift 2
	"$@" >"$T/out.txt" 2>"$T/err"; local got=$?
	if [ $got -eq "$rc" ] && [ -s "$T/err" ]; then ok "$name (exit $rc: $(head -n 1 "$T/err"))"; else fail "$name: exit $got, $(cat "$T/err")"; fi
}
nothing_left() { # NAME FILE: no output and no temporary next to it
	if [ ! -e "$2" ] && [ -z "$(ls -A "$(dirname "$2")" | grep -F "$(basename "$2").tmp")" ]; then ok "$1: no output left"; else fail "$1: $(ls "$(dirname "$2")")"; fi
}
mkdir "$T/e"
expect "missing source" 1 $MKLIVE ext2 "$T/nosuch" -o "$T/e/x.img"
check "missing source: message names it" grep -q "nosuch" "$T/err"
nothing_left "missing source" "$T/e/x.img"
expect "output in a missing directory" 1 $MKLIVE ext2 "$s" -o "$T/nodir/x.img"
check "missing directory: message names it" grep -q "$T/nodir" "$T/err"
expect "--size too small for the content" 1 $MKLIVE ext2 "$s" --size 1M -o "$T/e/x.img"
check "--size too small: says how much is needed" grep -Eq 'too small for the content: it needs at least [0-9]+ bytes' "$T/err"
nothing_left "--size too small" "$T/e/x.img"
need=$(sed -n 's/.*needs at least \([0-9]*\) bytes.*/\1/p' "$T/err")
$MKLIVE ext2 "$s" --size "$need" -o "$T/e/min.img" 2>"$T/err2"
check "the size it names is enough" test -s "$T/e/min.img"
[ -s "$T/e/min.img" ] && fsck_clean "smallest size" "$T/e/min.img"
$MKLIVE ext2 "$s" --size $((need - 1024)) -o "$T/e/min2.img" 2>/dev/null
check "one block less is not" test ! -e "$T/e/min2.img"
printf 'old' >"$T/e/keep.img"
$MKLIVE ext2 "$s" --size 1M -o "$T/e/keep.img" 2>/dev/null
check "a failed run leaves an existing output alone" test "$(cat "$T/e/keep.img")" = old
expect "label of 17 bytes" 2 $MKLIVE ext2 "$s" -L 12345678901234567 -o "$T/e/x.img"
expect "label with a control character" 2 $MKLIVE ext2 "$s" -L "$(printf 'a\tb')" -o "$T/e/x.img"
expect "bad size" 2 $MKLIVE ext2 "$s" --size 12Q -o "$T/e/x.img"
expect "size 0" 2 $MKLIVE ext2 "$s" --size 0 -o "$T/e/x.img"
expect "bad block size" 2 $MKLIVE ext2 "$s" -b 3000 -o "$T/e/x.img"
expect "empty image without --size" 2 $MKLIVE ext2 -o "$T/e/x.img"
expect "--empty with a SOURCE" 2 $MKLIVE ext2 --empty -s 1M "$s" -o "$T/e/x.img"
expect "no output" 2 $MKLIVE ext2 "$s"
expect "bad SOURCE_DATE_EPOCH" 2 env SOURCE_DATE_EPOCH=soon $MKLIVE ext2 "$s" -o "$T/e/x.img"
ln -s "$(printf 'x%.0s' $(seq 1 1500))" "$s/too-long-link"
expect "symlink longer than a 1 KiB block" 1 $MKLIVE ext2 -b 1024 "$s" -o "$T/e/x.img"
check "long symlink: message names it" grep -q "too-long-link" "$T/err"
nothing_left "long symlink" "$T/e/x.img"
rm "$s/too-long-link"
expect "empty image too small" 1 $MKLIVE ext2 --size 10K -o "$T/e/x.img"
nothing_left "empty image too small" "$T/e/x.img"
check "--help prints the usage" grep -q 'Usage: mklive ext2' <($MKLIVE ext2 --help)

t_done
