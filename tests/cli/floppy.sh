#!/bin/bash
# The legacy boot floppy: mklive floppy and mklive build --floppy. Checked
# with readers we did not write: fsck.fat and mtools for the FAT12 image,
# xorriso -report_el_torito for the El Torito floppy-emulation entry. The
# small kernel is memtest86+ (a bzImage of 144 KB, from Debian's package via
# scripts/fetch-boot.sh); Debian's kernel (8 MB) is the one that must not fit.
# Booting the floppy is tests/boot/floppy.sh.
. "$(dirname "$0")/../lib.sh"
t_tmpdir
export TZ=UTC MTOOLS_SKIP_CHECK=1
export SOURCE_DATE_EPOCH=1700000000

for tool in fsck.fat mdir mcopy xorriso; do
	if ! command -v $tool >/dev/null; then
		skip "$tool missing (packages dosfstools, mtools, xorriso): floppy tests need it"
		t_done; exit 0
	fi
done
cache=$("$TOP/scripts/fetch-boot.sh") || { fail "fetching the boot pieces"; t_done; exit 1; }
small=$cache/boot/memtest86+x64.bin
big=$(ls "$cache"/boot/vmlinuz-* | head -n 1)

# no_output NAME FILE: a failed run left nothing at FILE.
no_output() { if [ -e "$2" ]; then fail "$1: left '$2' behind"; else ok "$1: no output left"; fi; }

# --- mklive floppy -------------------------------------------------------------

head -c 600000 /dev/urandom >"$T/initrd"
if "$MKLIVE" floppy "$small" --initrd "$T/initrd" --append "console=ttyS0,115200 quiet" \
	-o "$T/fd.img" 2>"$T/err"; then
	ok "mklive floppy: kernel and initrd"
else
	fail "mklive floppy: $(cat "$T/err")"
fi
check "the image is exactly 1.44 MB (1474560 bytes)" test "$(stat -c %s "$T/fd.img")" = 1474560
out=$(fsck.fat -n -v "$T/fd.img" 2>&1)
if [ $? -eq 0 ] && grep -q '12 bit entries' <<<"$out" && ! grep -Eqi 'differ|corrupt|invalid|perform changes' <<<"$out"; then
	ok "fsck.fat -n: a clean FAT12 volume"
else
	fail "fsck.fat -n: $(head -n 12 <<<"$out")"
fi
check "fsck.fat sees the loader's reserved sectors before the FAT" \
	grep -q 'reserved sectors' <<<"$(fsck.fat -n -v "$T/fd.img" 2>&1 | grep -E '^ *[2-9][0-9]* reserved sectors')"
listing=$(mdir -i "$T/fd.img" -b :: 2>&1)
check "mdir: vmlinuz and initrd.img, nothing else" test "$(sort <<<"$listing" | tr '\n' ' ')" = "::/initrd.img ::/vmlinuz "
mcopy -i "$T/fd.img" ::vmlinuz "$T/k.out" && mcopy -i "$T/fd.img" ::initrd.img "$T/i.out"
check "mcopy: the kernel reads back byte for byte" cmp -s "$small" "$T/k.out"
check "mcopy: the initrd reads back byte for byte" cmp -s "$T/initrd" "$T/i.out"
check "boot sector signature 55 AA" test "$(od -An -tx1 -j510 -N2 "$T/fd.img" | tr -d ' ')" = 55aa
check "boot sector jumps over the BPB (EB xx 90)" \
	grep -qE '^eb[0-9a-f]{2}90$' <<<"$(od -An -tx1 -N3 "$T/fd.img" | tr -d ' ')"

# The loader's map: the sectors it was told hold what mtools reads as the files.
u32() { od -An -tu4 -j"$2" -N4 "$1" | tr -d ' '; }
check "parameter block magic" test "$(dd if="$T/fd.img" bs=1 skip=512 count=8 2>/dev/null)" = MKLFLOP1
klba=$(u32 "$T/fd.img" 520) ksize=$(u32 "$T/fd.img" 524)
ilba=$(u32 "$T/fd.img" 528) isize=$(u32 "$T/fd.img" 532)
check "map: kernel size" test "$ksize" = "$(stat -c %s "$small")"
check "map: initrd size" test "$isize" = 600000
check "map: the kernel's sectors hold the kernel" \
	cmp -s <(dd if="$T/fd.img" bs=512 skip="$klba" 2>/dev/null | head -c "$ksize") "$small"
check "map: the initrd's sectors hold the initrd" \
	cmp -s <(dd if="$T/fd.img" bs=512 skip="$ilba" 2>/dev/null | head -c "$isize") "$T/initrd"
check "map: the command line" \
	test "$(dd if="$T/fd.img" bs=1 skip=536 count=64 2>/dev/null | tr -d '\0')" = "console=ttyS0,115200 quiet"

"$MKLIVE" floppy "$small" --initrd "$T/initrd" --append "console=ttyS0,115200 quiet" -o "$T/fd2.img"
check "reproducible: the same input gives the same image" cmp -s "$T/fd.img" "$T/fd2.img"
"$MKLIVE" floppy "$small" -o "$T/nord.img" 2>"$T/err"
check "without an initrd: the map says none" test "$(u32 "$T/nord.img" 532)" = 0

# Errors: one message naming what is wrong, no output left.
run_err() {	# NAME EXPECTED-RC EXPECTED-TEXT OUT ARGS...
	local name=$1 want=$2 text=$3 out=$4 rc
	shift 4
	"$MKLIVE" "$@" >"$T/out" 2>"$T/err"; rc=$?
	if [ $rc -eq "$want" ] && grep -qF -- "$text" "$T/err"; then
		ok "$name: exit $rc, '$text'"
	else
		fail "$name: exit $rc (want $want): $(cat "$T/err")"
	fi
	no_output "$name" "$out"
}
run_err "Debian's 8 MB kernel" 1 "a 1.44 MB floppy holds" "$T/x1.img" floppy "$big" -o "$T/x1.img"
head -c 200000 /bin/true >"$T/notkernel"
run_err "not a kernel" 1 "is not an x86 Linux kernel image" "$T/x2.img" floppy "$T/notkernel" -o "$T/x2.img"
head -c 1400000 /dev/zero >"$T/bigrd"
run_err "kernel and initrd together too big" 1 "do not fit on a 1.44 MB floppy" "$T/x3.img" \
	floppy "$small" --initrd "$T/bigrd" -o "$T/x3.img"
run_err "missing kernel" 1 "cannot open" "$T/x4.img" floppy "$T/nope" -o "$T/x4.img"
run_err "command line too long" 2 "--append" "$T/x5.img" floppy "$small" \
	--append "$(head -c 1100 /dev/zero | tr '\0' a)" -o "$T/x5.img"
run_err "no output named" 2 "no output" "$T/x6.img" floppy "$small"
run_err "output in a missing directory" 1 "$T/none/x.img" "$T/none/x.img" floppy "$small" -o "$T/none/x.img"

# --- mklive build --floppy ----------------------------------------------------------

# A small tree and a kernel with everything built in (no modules), as a
# floppy build would use; the modules directory is empty.
ver=6.1.0-floppy
mkdir -p "$T/tree/sbin" "$T/tree/etc" "$T/mods/$ver"
printf '#!/bin/sh\necho hello\n' >"$T/tree/sbin/init"
chmod 755 "$T/tree/sbin/init"
: >"$T/mods/$ver/modules.dep"; : >"$T/mods/$ver/modules.builtin"; : >"$T/mods/$ver/modules.order"
cp "$small" "$T/vmlinuz-$ver"
if "$MKLIVE" build -q --floppy --uefi no --timeout 1 --kernel "$T/vmlinuz-$ver" --modules "$T/mods/$ver" \
	"$T/tree" -o "$T/fl.iso" 2>"$T/err"; then
	ok "build --floppy with a small kernel"
else
	fail "build --floppy: $(cat "$T/err")"
fi
rep=$(xorriso -indev "$T/fl.iso" -report_el_torito plain 2>/dev/null)
check "xorriso: entry 1 emulates a 1.44 MB floppy" grep -Eq 'El Torito boot img : +1 +BIOS +y +fd1\.4' <<<"$rep"
check "xorriso: entry 1 is /boot/floppy.img" grep -Eq 'El Torito img path : +1 +/boot/floppy.img' <<<"$rep"
check "xorriso: entry 2 is isolinux (no emulation)" grep -Eq 'El Torito img path : +2 +/isolinux/isolinux.bin' <<<"$rep"
check "no isohybrid MBR: the image boots from CD only" \
	test "$(od -An -tx1 -j510 -N2 "$T/fl.iso" | tr -d ' ')" != 55aa
xorriso -osirrox on -indev "$T/fl.iso" -extract /boot/floppy.img "$T/inside.img" \
	-extract /live/initrd.img "$T/inside-initrd" >/dev/null 2>&1
check "the floppy in the ISO: fsck.fat clean" fsck.fat -n "$T/inside.img" >/dev/null
mcopy -i "$T/inside.img" ::vmlinuz "$T/ik" && mcopy -i "$T/inside.img" ::initrd.img "$T/ii"
check "the floppy holds the ISO's kernel" cmp -s "$T/ik" "$small"
check "the floppy holds the ISO's initramfs" cmp -s "$T/ii" "$T/inside-initrd"
check "the floppy's command line is the default entry's" \
	grep -q 'console=ttyS0,115200 console=tty0' <<<"$(dd if="$T/inside.img" bs=1 skip=536 count=200 2>/dev/null | tr -d '\0')"
"$MKLIVE" build -q --floppy --uefi no --timeout 1 --kernel "$T/vmlinuz-$ver" --modules "$T/mods/$ver" \
	"$T/tree" -o "$T/fl2.iso" 2>/dev/null
check "build --floppy is reproducible" cmp -s "$T/fl.iso" "$T/fl2.iso"
printf '[boot]\nfloppy = yes\n' >"$T/floppy.conf"
"$MKLIVE" build -q -c "$T/floppy.conf" --uefi no --timeout 1 --kernel "$T/vmlinuz-$ver" \
	--modules "$T/mods/$ver" "$T/tree" -o "$T/fl3.iso" 2>"$T/err"
check "[boot] floppy = yes does what --floppy does" cmp -s "$T/fl.iso" "$T/fl3.iso"
printf '[boot]\nfloppy = maybe\n' >"$T/bad.conf"
run_err "[boot] floppy = maybe" 1 "floppy" "$T/x7.iso" build -q -c "$T/bad.conf" "$T/tree" -o "$T/x7.iso"

# Debian's kernel: a clear error naming the sizes, and no ISO.
bigver=$(basename "$big" | sed 's/^vmlinuz-//')
mkdir -p "$T/mods/$bigver"
: >"$T/mods/$bigver/modules.dep"; : >"$T/mods/$bigver/modules.builtin"; : >"$T/mods/$bigver/modules.order"
run_err "build --floppy with Debian's kernel" 1 "--floppy: " "$T/x8.iso" build -q --floppy --uefi no \
	--kernel "$big" --modules "$T/mods/$bigver" "$T/tree" -o "$T/x8.iso"
grep -q "do not fit on a 1.44 MB floppy" "$T/err" && ok "the message gives the sizes: $(cat "$T/err")" ||
	fail "message: $(cat "$T/err")"
t_done
