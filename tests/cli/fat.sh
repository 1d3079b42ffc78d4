#!/bin/bash
# mklive fat: FAT12/16 images with long names, checked with readers we did
# not write: fsck.fat -n (dosfstools), mdir/mcopy (mtools), file(1), and the
# kernel's vfat driver when a loop mount works. Plus reproducibility, sizes
# at the FAT12/FAT16 boundary and at 32 MiB, the floppy, and errors that
# leave no output behind.
. "$(dirname "$0")/../lib.sh"
t_tmpdir
export TZ=UTC MTOOLS_SKIP_CHECK=1
export SOURCE_DATE_EPOCH=1700000000	# 2023-11-14 22:13:20 UTC

for tool in fsck.fat mdir mcopy file; do
	if ! command -v $tool >/dev/null; then
		skip "$tool missing (packages dosfstools, mtools, file): FAT tests need it"
		t_done
		exit 0
	fi
done

# fsck_clean NAME IMG [FAT-BITS]: fsck.fat -n finds nothing to change.
fsck_clean() {
	local out rc
	out=$(fsck.fat -n -v "$2" 2>&1); rc=$?
	if [ $rc -eq 0 ] && ! grep -Eqi 'differ|corrupt|invalid|bad |wrong|perform changes|free cluster summary|orphan' <<<"$out" &&
	   { [ -z "$3" ] || grep -q "2 FATs, $3 bit entries" <<<"$out"; }; then
		ok "$1: fsck.fat -n clean${3:+ (FAT$3)}"
	else
		fail "$1: fsck.fat -n (rc $rc): $(grep -v '^ ' <<<"$out" | head -n 15)"
	fi
}
# same_tree NAME IMG DIR: mcopy everything out and compare byte for byte.
same_tree() {
	rm -rf "$T/out"; mkdir "$T/out"
	if mcopy -i "$2" -s -n -m ::/ "$T/out/" 2>"$T/mcopy.err" && diff -r "$3" "$T/out" >"$T/diff"; then
		ok "$1: mcopy -s gives back the tree byte for byte ($(find "$3" | wc -l) entries)"
	else
		fail "$1: tree differs after mcopy: $(head -n 5 "$T/mcopy.err" "$T/diff")"
	fi
}
sectors_of() { od -An -tu2 -j19 -N2 "$1" | tr -d ' '; }

# --- a tree with everything -------------------------------------------------
s=$T/src
mkdir -p "$s/EFI/BOOT" "$s/boot/grub/fonts" "$s/empty dir" "$s/deep/a/b/c/d/e/f/g"
printf 'efi' >"$s/EFI/BOOT/BOOTX64.EFI"		# upper-case 8.3: short name only
printf 'grub' >"$s/EFI/BOOT/grubx64.efi"	# lower-case 8.3: NT case bits
printf 'readme' >"$s/README.txt"		# upper base, lower extension
printf 'mixed' >"$s/MixedCase.Cfg"
printf 'long' >"$s/a file with a rather long name, spaces and [brackets].conf"
printf 'uni' >"$s/ünïcödé € name ✓.txt"
printf 'dots' >"$s/.hidden.name.with.dots"
printf 'plus' >"$s/a+b=c;d,e.txt"
printf 'g' >"$s/deep/a/b/c/d/e/f/g/leaf"
long255=$(printf 'L%.0s' $(seq 1 251)).txt
printf 'max' >"$s/$long255"			# 255 characters: 20 long-name entries
: >"$s/boot/empty-file"
: >"$s/EMPTY"
for n in 1 511 512 513 1023 1024 2047 2048 2049 4096 65536; do
	head -c $n /dev/urandom >"$s/boot/size-$n"
done
head -c 3000000 /dev/urandom >"$s/boot/grub/big.bin"	# several MB
printf 'font' >"$s/boot/grub/fonts/unicode.pf2"
ln -s ../README.txt "$s/boot/link-to-readme"	# a link to a file is followed

if $MKLIVE fat "$s" -o "$T/a.img" --label 'mklive esp' 2>"$T/err"; then ok "mklive fat on a mixed tree"; else fail "mklive fat: $(cat "$T/err")"; fi
fsck_clean "mixed tree" "$T/a.img" 16
same_tree "mixed tree" "$T/a.img" "$(cd "$s" && pwd -P)"
dir=$(mdir -i "$T/a.img" -/ -a :: 2>&1)
check "mdir shows the label (made upper case)" grep -q "Volume in drive : is MKLIVE ESP" <<<"$dir"
check "mdir: long name with spaces" grep -q 'a file with a rather long name, spaces and \[brackets\].conf' <<<"$dir"
check "mdir: long name in Unicode" grep -q 'ünïcödé € name ✓.txt' <<<"$dir"
check "mdir: 255-character name" grep -q "$long255" <<<"$dir"
check "mdir: generated short names with ~N tails" grep -Eq '^AFILEW~1 CON ' <<<"$dir"
check "mdir: upper-case 8.3 name stored without a long name" grep -Eq '^BOOTX64  EFI +3 2023-11-14  22:13 *$' <<<"$dir"
check "mdir: lower-case 8.3 name shown in lower case (NT case bits)" grep -Eq '^grubx64  efi +4 2023-11-14  22:13 *$' <<<"$dir"
check "mdir: time stamps are SOURCE_DATE_EPOCH (UTC)" test "$(grep -c '2023-11-14  22:13' <<<"$dir")" -ge 30
check "mdir: serial derived from SOURCE_DATE_EPOCH" grep -q 'Volume Serial Number is' <<<"$dir"
check "mdir: empty file is 0 bytes" grep -Eq '^EMPTY-~1 +0 2023-11-14 .* empty-file$' <<<"$dir"
info=$(file "$T/a.img")
check "file(1): FAT (16 bit), OEM MKLIVE, media 0xf8" grep -q 'OEM-ID "MKLIVE  ".*Media descriptor 0xf8.*FAT (16 bit)' <<<"$info"
check "boot sector ends in 55 AA, jump EB 3C 90" test "$(od -An -tx1 -j510 -N2 "$T/a.img" | tr -d ' ')$(od -An -tx1 -N3 "$T/a.img" | tr -d ' ')" = "55aaeb3c90"
check "extended boot signature 0x29 and FAT16 type" test "$(od -An -tx1 -j38 -N1 "$T/a.img" | tr -d ' ')$(dd if="$T/a.img" bs=1 skip=54 count=8 2>/dev/null)" = "29FAT16   "
sz=$(stat -c %s "$T/a.img")
check "sized to the content (3.1 MB of files, image $sz bytes)" test "$sz" -gt 3100000 -a "$sz" -lt 3400000
check "size is whole sectors" test $((sz % 512)) -eq 0

# --- reproducible -----------------------------------------------------------
$MKLIVE fat "$s" -o "$T/a2.img" --label 'mklive esp'
check "two runs give identical images" cmp -s "$T/a.img" "$T/a2.img"
SOURCE_DATE_EPOCH=1700000002 $MKLIVE fat "$s" -o "$T/a3.img" --label 'mklive esp'
check "a different SOURCE_DATE_EPOCH gives a different image" bash -c "! cmp -s '$T/a.img' '$T/a3.img'"
check "... with a different serial" test "$(od -An -tx4 -j39 -N4 "$T/a.img")" != "$(od -An -tx4 -j39 -N4 "$T/a3.img")"
SOURCE_DATE_EPOCH=100 $MKLIVE fat "$s" -o "$T/a4.img"
check "times before 1980 are clamped to 1980-01-01" grep -Eq '1980-01-01 +0:00' <<<"$(mdir -i "$T/a4.img" ::)"
fsck_clean "time 1970" "$T/a4.img"

# --- a tar as input (the source layer, as mklive ext2 and build) -----------
tar -C "$s" --format=gnu -cf "$T/src.tar" .
if $MKLIVE fat "$T/src.tar" -o "$T/t.img" --label 'mklive esp' 2>"$T/err"; then ok "mklive fat on a tar"; else fail "mklive fat on a tar: $(cat "$T/err")"; fi
fsck_clean "from a tar" "$T/t.img" 16
same_tree "from a tar" "$T/t.img" "$s"
check "a tar of the tree gives the image of the directory, byte for byte" cmp -s "$T/a.img" "$T/t.img"
tar -C "$s" -cf - . | gzip -1 >"$T/src.tar.gz"
$MKLIVE fat - -o "$T/t2.img" --label 'mklive esp' <"$T/src.tar.gz" 2>"$T/err"
check "a gzip tar on standard input gives the same image" cmp -s "$T/a.img" "$T/t2.img"

# --- a small tree is FAT12 --------------------------------------------------
mkdir -p "$T/small/EFI/BOOT"; printf 'x%.0s' $(seq 1 3000) >"$T/small/EFI/BOOT/BOOTX64.EFI"
$MKLIVE fat "$T/small" -o "$T/s.img"
check "small tree: file(1) says FAT (12 bit)" grep -q 'FAT (12 bit)' <<<"$(file "$T/s.img")"
fsck_clean "small tree" "$T/s.img" 12
same_tree "small tree" "$T/s.img" "$T/small"
check "small tree: image under 100 KiB ($(stat -c %s "$T/s.img"))" test "$(stat -c %s "$T/s.img")" -lt 102400
mkdir -p "$T/nothing"
$MKLIVE fat "$T/nothing" -o "$T/n.img"
fsck_clean "empty tree" "$T/n.img" 12

# --- many files: directories over many clusters, a bigger root ---------------
m=$T/many; mkdir -p "$m/sub"
for i in $(seq 1 700); do printf "$i" >"$m/sub/long file name number $i.txt"; done
for i in $(seq 1 300); do : >"$m/Root Entry $i"; done
for i in $(seq 1 100); do printf "$i" >"$m/sub/F$i.TXT"; done
$MKLIVE fat "$m" -o "$T/m.img" 2>"$T/err"
fsck_clean "1100 files" "$T/m.img"
same_tree "1100 files" "$T/m.img" "$m"
check "root directory grown past 512 entries" test "$(od -An -tu2 -j17 -N2 "$T/m.img" | tr -d ' ')" -gt 512
ml=$(mdir -i "$T/m.img" -/ ::/sub)
check "700 generated short names, unique (LONGFI~1 .. LONG~700)" test "$(grep -Eo '^LONG[A-Z]*~[0-9]+ TXT' <<<"$ml" | sort -u | wc -l)" -eq 700
check "numeric tails are deterministic (sorted by name)" grep -Eq '^LONGFI~1 TXT +1 .* long file name number 1\.txt$' <<<"$ml"

# --- FAT12/FAT16 boundary and sizes -------------------------------------------
# 512-byte clusters, 512 root entries (32 sectors): 4150 sectors hold 4085
# clusters (FAT16, 16-sector FATs); 4149 hold 4084 (FAT12).
$MKLIVE fat --size $((4150 * 512)) "$T/small" -o "$T/b16.img"
check "--size 4150 sectors: 4085 clusters, FAT16" grep -q '4085 data clusters' <<<"$(fsck.fat -n -v "$T/b16.img" 2>&1)"
fsck_clean "4085 clusters" "$T/b16.img" 16
$MKLIVE fat --size $((4149 * 512)) "$T/small" -o "$T/b12.img"
check "--size 4149 sectors: 4084 clusters, FAT12" grep -q '4084 data clusters' <<<"$(fsck.fat -n -v "$T/b12.img" 2>&1)"
fsck_clean "4084 clusters" "$T/b12.img" 12
check "file(1) agrees: FAT (12 bit)" grep -q 'FAT (12 bit)' <<<"$(file "$T/b12.img")"
same_tree "4084 clusters" "$T/b12.img" "$T/small"
$MKLIVE fat --size 1M "$T/small" -o "$T/1m.img"
check "--size 1M: exactly 1 MiB" test "$(stat -c %s "$T/1m.img")" -eq 1048576
$MKLIVE fat --size 32M "$T/small" -o "$T/32m.img"
check "--size 32M: exactly 32 MiB" test "$(stat -c %s "$T/32m.img")" -eq 33554432
fsck_clean "32 MiB" "$T/32m.img" 16
same_tree "32 MiB" "$T/32m.img" "$T/small"
mkdir -p "$T/near"; head -c $((32 * 1024 * 1024 - 300 * 1024)) /dev/urandom >"$T/near/almost-32M.bin"
if $MKLIVE fat "$T/near" -o "$T/near.img" 2>"$T/err"; then ok "a file of 32 MiB - 300 KiB fits"; else fail "32 MiB - 300 KiB: $(cat "$T/err")"; fi
check "... image at most 32 MiB ($(stat -c %s "$T/near.img" 2>/dev/null))" test "$(stat -c %s "$T/near.img" 2>/dev/null || echo 0)" -le 33554432 -a -s "$T/near.img"
fsck_clean "nearly 32 MiB" "$T/near.img" 16
same_tree "nearly 32 MiB" "$T/near.img" "$T/near"
rm -rf "$T/near" "$T/near.img" "$T/32m.img"

# --- floppy -------------------------------------------------------------------
mkdir -p "$T/fl/boot"; head -c 1000000 /dev/urandom >"$T/fl/boot/vmlinuz"; printf 'DEFAULT linux\n' >"$T/fl/syslinux.cfg"
$MKLIVE fat --floppy --label BOOT "$T/fl" -o "$T/fl.img"
check "floppy: 1474560 bytes" test "$(stat -c %s "$T/fl.img")" -eq 1474560
finfo=$(file "$T/fl.img")
check "floppy: file(1) says FAT (12 bit), 2880 sectors, 18 sectors/track" grep -q 'sectors 2880 .*sectors/track 18.*FAT (12 bit)' <<<"$finfo"
check "floppy: media 0xf0, 2 heads, drive 0" test "$(od -An -tx1 -j21 -N1 "$T/fl.img" | tr -d ' ')/$(od -An -tu2 -j26 -N2 "$T/fl.img" | tr -d ' ')/$(od -An -tx1 -j36 -N1 "$T/fl.img" | tr -d ' ')" = "f0/2/00"
check "floppy: 2880 sectors, 224 root entries" test "$(sectors_of "$T/fl.img")/$(od -An -tu2 -j17 -N2 "$T/fl.img" | tr -d ' ')" = "2880/224"
fsck_clean "floppy" "$T/fl.img" 12
check "floppy: mdir lists the files" grep -q 'syslinux cfg' <<<"$(mdir -i "$T/fl.img" ::)"
same_tree "floppy" "$T/fl.img" "$T/fl"
head -c 1500000 /dev/urandom >"$T/fl/boot/vmlinuz"

# --- errors leave nothing behind ------------------------------------------------
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
expect_error "floppy too small for the content" 1 "does not fit in a 1.44 MB floppy" $MKLIVE fat --floppy "$T/fl" -o "$T/e/x.img"
expect_error "missing DIR" 1 "cannot open '$T/none'" $MKLIVE fat "$T/none" -o "$T/e/x.img"
mkdir -p "$T/tl/dir"; printf 'x' >"$T/tl/dir/f"; ln -s dir "$T/tl/link-to-dir"; tar -C "$T/tl" -cf "$T/tl.tar" .
expect_error "tar: symbolic link to a directory" 1 "'$T/tl.tar/link-to-dir' is a symbolic link to a directory" $MKLIVE fat "$T/tl.tar" -o "$T/e/x.img"
head -c 5000 /dev/urandom >"$T/notatar"
expect_error "a file that is not a tar" 1 "cannot read tar '$T/notatar': not a tar archive" $MKLIVE fat "$T/notatar" -o "$T/e/x.img"
expect_error "no DIR" 2 "no DIR given" $MKLIVE fat -o "$T/e/x.img"
expect_error "no output" 2 "no output given" $MKLIVE fat "$T/small"
expect_error "bad size" 2 "not a size" $MKLIVE fat --size 12Q "$T/small" -o "$T/e/x.img"
expect_error "size over 32 MiB" 2 "larger than 32 MiB" $MKLIVE fat --size 33M "$T/small" -o "$T/e/x.img"
expect_error "label too long" 2 "longer than 11" $MKLIVE fat --label 'TWELVE CHARS' "$T/small" -o "$T/e/x.img"
expect_error "label with a bad character" 1 "label 'A:B'" $MKLIVE fat --label 'a:b' "$T/small" -o "$T/e/x.img"
expect_error "unknown option" 2 "help" $MKLIVE fat --nope "$T/small" -o "$T/e/x.img"
expect_error "output in a missing directory" 1 "cannot create '$T/e/missing/x.img'" $MKLIVE fat "$T/small" -o "$T/e/missing/x.img"
mkdir -p "$T/big"; truncate -s 40M "$T/big/huge.bin"
expect_error "too big" 1 "ESP content of 41943040 bytes does not fit in 32 MiB" $MKLIVE fat "$T/big" -o "$T/e/x.img"
for bad in 'a:b' 'what?' 'star*' 'pipe|x' 'quote"x' 'lt<x' 'gt>x' 'back\slash' "$(printf 'ctl\001x')" 'trailing.' 'trailing '; do
	rm -rf "$T/bad"; mkdir -p "$T/bad/d"; : >"$T/bad/d/$bad"
	expect_error "invalid FAT name '$(printf %q "$bad")'" 1 "invalid name" $MKLIVE fat "$T/bad" -o "$T/e/x.img"
done
rm -rf "$T/bad"; mkdir -p "$T/bad"; : >"$T/bad/ReadMe.TXT"; : >"$T/bad/README.txt"
expect_error "names differing only in case" 1 "'README.txt' and 'ReadMe.TXT' in '/' are the same name on FAT" $MKLIVE fat "$T/bad" -o "$T/e/x.img"
rm -rf "$T/bad"; mkdir -p "$T/bad/Dir" "$T/bad/dir"
expect_error "directories differing only in case" 1 "the same name on FAT" $MKLIVE fat "$T/bad" -o "$T/e/x.img"
rm -rf "$T/bad"; mkdir -p "$T/bad/x"; printf '\xff\xfe' | xargs -0 -I{} touch "$T/bad/x/bad{}utf8" 2>/dev/null
expect_error "name not UTF-8" 1 "not valid UTF-8" $MKLIVE fat "$T/bad" -o "$T/e/x.img"
rm -rf "$T/bad"; mkdir -p "$T/bad/real"; ln -s real "$T/bad/link"
expect_error "symbolic link to a directory" 1 "symbolic link to a directory" $MKLIVE fat "$T/bad" -o "$T/e/x.img"
rm -rf "$T/bad"; mkdir -p "$T/bad"; mkfifo "$T/bad/fifo"
expect_error "fifo" 1 "not a regular file or directory" $MKLIVE fat "$T/bad" -o "$T/e/x.img"
rm -rf "$T/bad"; mkdir -p "$T/bad"; ln -s nowhere "$T/bad/dangling"
expect_error "dangling link" 1 "cannot stat '$T/bad/dangling'" $MKLIVE fat "$T/bad" -o "$T/e/x.img"
printf 'old' >"$T/e-keep.img"
$MKLIVE fat "$T/none" -o "$T/e-keep.img" 2>/dev/null
check "a failed run leaves an existing output alone" test "$(cat "$T/e-keep.img")" = old
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	chmod 755 "$T"; mkdir -m 1777 "$T/nobody"
	mkdir -p "$T/bin" && cp "$MKLIVE" "$T/bin/mklive" && chmod 755 "$T/bin"
	mkdir -p "$T/unread/d" && echo secret >"$T/unread/d/secret" && chmod 000 "$T/unread/d/secret" && chmod -R a+rX "$T/unread" 2>/dev/null
	chmod 000 "$T/unread/d/secret"
	expect_error "unreadable file (as nobody)" 1 "cannot open '$T/unread/d/secret': Permission denied" \
		setpriv --reuid=65534 --regid=65534 --clear-groups "$T/bin/mklive" fat "$T/unread" -o "$T/nobody/u.img"
	check "unreadable file: nothing left" test -z "$(ls -A "$T/nobody")"
else
	skip "unreadable file: needs root and setpriv to run as nobody"
fi
check "--help" grep -q 'Usage: mklive fat DIR -o IMAGE' <<<"$($MKLIVE fat --help)"

# --- the kernel's vfat driver -------------------------------------------------------
mkdir -p "$T/mnt"
if [ "$(id -u)" -eq 0 ] && mount -o loop,ro,utf8 "$T/a.img" "$T/mnt" 2>"$T/mount.err"; then
	if diff -r "$(cd "$s" && pwd -P)" "$T/mnt" >"$T/diff"; then ok "kernel vfat reads the tree (long names, sizes, contents)"; else fail "kernel vfat: $(head -n 5 "$T/diff")"; fi
	check "kernel vfat shows the lower-case 8.3 name" test -e "$T/mnt/EFI/BOOT/grubx64.efi"
	umount "$T/mnt"
else
	skip "kernel vfat check: mount -o loop failed ($(head -n 1 "$T/mount.err" 2>/dev/null || echo 'not root'))"
fi

t_done
