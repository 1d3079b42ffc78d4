#!/bin/bash
# --verity on the host: the squashfs on the medium carries a dm-verity hash
# tree after its bytes, in the same file; veritysetup verify (cryptsetup, a
# reader we did not write) accepts it with the root hash of the boot menus,
# and refuses it with one byte flipped; unsquashfs still reads the image;
# the medium's checksums still match (mklive verify); equal builds are
# byte-identical; [image] verity = yes in mklive.conf does the same; a
# cloop image is refused without an output. Without --verity the file is
# the squashfs alone.
. "$(dirname "$0")/../lib.sh"
t_tmpdir
export SOURCE_DATE_EPOCH=1700000000
command -v xorriso >/dev/null || { skip "xorriso missing (scripts/deps.sh check)"; t_done; exit 0; }
command -v veritysetup >/dev/null || { skip "veritysetup missing (cryptsetup-bin: scripts/deps.sh check)"; t_done; exit 0; }
command -v unsquashfs >/dev/null || { skip "unsquashfs missing (scripts/deps.sh check)"; t_done; exit 0; }
cache=$("$TOP/scripts/fetch-boot.sh") || { fail "fetching the boot pieces"; t_done; exit 1; }

# A small build: random data, the memtest86+ bzImage as the kernel, no modules.
ver=6.1.0-verity
mkdir -p "$T/tree/sbin" "$T/tree/data" "$T/mods/$ver"
printf '#!/bin/sh\n' >"$T/tree/sbin/init"; chmod 755 "$T/tree/sbin/init"
head -c 5000000 /dev/urandom >"$T/tree/data/blob"
seq 1 200000 >"$T/tree/data/numbers"
: >"$T/mods/$ver/modules.dep"; : >"$T/mods/$ver/modules.builtin"; : >"$T/mods/$ver/modules.order"
cp "$cache/boot/memtest86+x64.bin" "$T/vmlinuz-$ver"
build() {
	local out=$1
	shift
	"$MKLIVE" build -q --uefi no --timeout 1 --kernel "$T/vmlinuz-$ver" --modules "$T/mods/$ver" \
		"$@" "$T/tree" -o "$out"
}
# extract ISO DIR: the image and the menu
extract() {
	mkdir -p "$2"
	xorriso -osirrox on -indev "$1" -extract /live/filesystem.squashfs "$2/filesystem.squashfs" \
		-extract /isolinux/isolinux.cfg "$2/isolinux.cfg" >/dev/null 2>&1
}
bytes_used() {
	unsquashfs -s "$1" | sed -n 's/^Filesystem size \([0-9]*\) bytes.*/\1/p'
}

if ! build "$T/a.iso" --verity 2>"$T/err"; then
	fail "build --verity: $(cat "$T/err")"; t_done; exit 1
fi
extract "$T/a.iso" "$T/a"
img=$T/a/filesystem.squashfs
root=$(grep -o 'mklive\.verity=[0-9a-f]*' "$T/a/isolinux.cfg" | sort -u)
check "every menu entry has the same root hash" test "$(printf '%s\n' "$root" | wc -l)" = 1 -a -n "$root"
check "... one per entry ($(grep -c "$root" "$T/a/isolinux.cfg") of $(grep -c APPEND "$T/a/isolinux.cfg"))" \
	test "$(grep -c "$root" "$T/a/isolinux.cfg")" = "$(grep -c APPEND "$T/a/isolinux.cfg")"
root=${root#mklive.verity=}
used=$(bytes_used "$img")
data=$(( (used + 4095) / 4096 * 4096 ))
size=$(stat -c %s "$img")
tree=$((size - data))
check "the tree follows the squashfs in its file ($used bytes used, $data padded, $tree bytes of tree)" \
	test "$tree" -gt 4096
check "veritysetup's superblock at the 4 KiB after the squashfs" \
	test "$(dd if="$img" bs=4096 skip=$((data / 4096)) count=1 2>/dev/null | head -c 6)" = verity
check "veritysetup verify accepts it with the menu's root hash" \
	veritysetup verify --hash-offset="$data" "$img" "$img" "$root"
check "veritysetup dump: sha256, 4096-byte blocks, format 1" bash -c \
	'd=$(veritysetup dump --hash-offset="$2" "$1") && grep -q "Hash type:.*1" <<<"$d" &&
	 grep -q "Data block size:.*4096" <<<"$d" && grep -q "Hash block size:.*4096" <<<"$d" &&
	 grep -q "Hash algorithm:.*sha256" <<<"$d" && grep -q "Data blocks:.*$3" <<<"$d"' _ "$img" "$data" $((data / 4096))
check "unsquashfs reads the image whole" bash -c \
	'unsquashfs -q -d "$2/x" "$1" >/dev/null && cmp -s "$2/x/data/blob" "$3/data/blob" && cmp -s "$2/x/data/numbers" "$3/data/numbers"' \
	_ "$img" "$T" "$T/tree"
check "mklive verify: the medium's checksums match" bash -c '"$0" verify "$1" >/dev/null 2>&1' "$MKLIVE" "$T/a.iso"
cp "$img" "$T/flip.squashfs"
printf '\377' | dd of="$T/flip.squashfs" bs=1 seek=$((used / 2)) conv=notrunc 2>/dev/null
check "one flipped byte: veritysetup verify refuses" \
	bash -c '! veritysetup verify --hash-offset="$2" "$1" "$1" "$3" 2>/dev/null' _ "$T/flip.squashfs" "$data" "$root"

check "the same build again is byte-identical (SOURCE_DATE_EPOCH)" bash -c \
	'"$0" build -q --uefi no --timeout 1 --kernel "$1" --modules "$2" --verity "$3" -o "$4" && cmp -s "$4" "$5"' \
	"$MKLIVE" "$T/vmlinuz-$ver" "$T/mods/$ver" "$T/tree" "$T/b.iso" "$T/a.iso"

printf '[image]\nverity = yes\n' >"$T/mklive.conf"
if build "$T/c.iso" -c "$T/mklive.conf" 2>"$T/err"; then
	extract "$T/c.iso" "$T/c"
	check "[image] verity = yes: the same image and root hash" cmp -s "$T/c/filesystem.squashfs" "$img"
else
	fail "build with [image] verity = yes: $(cat "$T/err")"
fi

if build "$T/plain.iso" 2>"$T/err"; then
	extract "$T/plain.iso" "$T/p"
	pused=$(bytes_used "$T/p/filesystem.squashfs")
	check "without --verity: the file is the squashfs alone" \
		test "$(stat -c %s "$T/p/filesystem.squashfs")" = $(( (pused + 4095) / 4096 * 4096 ))
	check "without --verity: no verity argument in the menu" bash -c '! grep -q verity "$1"' _ "$T/p/isolinux.cfg"
else
	fail "build without --verity: $(cat "$T/err")"
fi

build "$T/cloop.iso" --verity --image-format cloop >"$T/out" 2>&1; rc=$?
check "cloop with --verity: refused (exit $rc)" test "$rc" -ne 0
check "... saying why: $(cat "$T/out")" grep -q -- 'a cloop image has no dm-verity hash tree, which --verity and signing' "$T/out"
check "... and no output" test ! -e "$T/cloop.iso"
t_done
