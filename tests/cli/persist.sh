#!/bin/bash
# mklive-helper (what the init runs at first boot with `persistence` and
# no persistence filesystem): on the hybrid ISO written to a larger "stick"
# (a disk image file), a partition after the image in the MBR and the
# hybrid GPT, with an ext4 filesystem labelled persistence. Checked with
# readers we did not write: sfdisk and gdisk list it, sgdisk -v finds no
# problem beyond the pristine image's own, e2fsck -fn finds nothing,
# blkid says ext4, debugfs sees the root and lost+found, and mklive verify
# still passes. The image's own bytes are untouched; refusals (no room, a
# damaged GPT, a second run, a read-only disk) change nothing.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/boot/lib.sh"
t_tmpdir
P=$TOP/build/mklive-helper
for tool in sgdisk gdisk e2fsck blkid debugfs sfdisk; do
	if ! command -v "$tool" >/dev/null; then
		skip "$tool not installed (scripts/deps.sh check installs gdisk, e2fsprogs, fdisk)"
		t_done; exit 0
	fi
done
check "mklive-helper is static and small ($(stat -c %s "$P") bytes)" \
	bash -c "file -L '$P' | grep -q 'statically linked' && [ \$(stat -c %s '$P') -le 65536 ]"

demo_iso >/dev/null || { fail "making the demo ISO"; t_done; exit 1; }
iso=$TOP/build/test-demo/demo.iso
isz=$(stat -c %s "$iso")
sgdisk -v "$iso" >"$T/pristine.v" 2>&1

# A 1 GiB stick with the UEFI image on it (isohybrid MBR and GPT).
cp "$iso" "$T/stick"
truncate -s 1G "$T/stick"
if "$P" persist "$T/stick" >"$T/out" 2>"$T/err"; then
	ok "made the partition: $(cat "$T/out")"
else
	fail "mklive-helper on a 1 GiB stick: $(cat "$T/err")"
fi
check "it is partition 3 (after the image's two)" grep -q "stick: partition 3, " "$T/out"
sfdisk -d "$T/stick" >"$T/sfdisk" 2>&1
start=$(sed -n 's/^.*stick3 : start= *\([0-9]*\), size= *\([0-9]*\), type=83$/\1/p' "$T/sfdisk")
size=$(sed -n 's/^.*stick3 : start= *\([0-9]*\), size= *\([0-9]*\), type=83$/\2/p' "$T/sfdisk")
check "sfdisk: partition 3, type 83 ($start + $size sectors)" test -n "$start" -a -n "$size"
check "... on a MiB boundary after the image ($isz bytes)" \
	test $((start % 2048)) = 0 -a $((start * 512)) -ge "$isz"
check "... ending before the GPT's backup at the disk's end (63 sectors)" \
	test $((start + size)) -le $((2097152 - 63))
check "... the image's two MBR entries as they were" \
	bash -c "diff <(sfdisk -d '$iso' | grep -E 'demo.iso[12] ' | sed 's/.*: //') <(grep -E 'stick[12] ' '$T/sfdisk' | sed 's/.*: //')"
printf '2\n' | gdisk -l "$T/stick" >"$T/gdisk" 2>&1
check "gdisk: the GPT holds it too, named persistence, same sectors" \
	grep -Eq "^ +[0-9]+ +$start +$((start + size - 1)) .* 8300 +persistence$" "$T/gdisk"
sgdisk -v "$T/stick" >"$T/stick.v" 2>&1
check "sgdisk -v: nothing beyond what it says of the pristine image (backup header at the end)" \
	diff "$T/pristine.v" "$T/stick.v"
dd if="$T/stick" of="$T/part" bs=512 skip="$start" count="$size" status=none conv=sparse
e2fsck -fn "$T/part" >"$T/fsck" 2>&1
rc=$?
check "e2fsck -fn: clean ($(tail -n 1 "$T/fsck"))" test $rc = 0
check "blkid: ext4 labelled persistence" \
	bash -c "blkid '$T/part' | grep -q 'LABEL=\"persistence\".*TYPE=\"ext4\"'"
check "debugfs: the root holds lost+found" \
	bash -c "debugfs -R 'ls -l /' '$T/part' 2>/dev/null | grep -q ' 40700 .* lost+found'"
check "the image's bytes after its system area are untouched" \
	cmp -s -i 32768 -n $((isz - 32768 - 63 * 512)) "$iso" "$T/stick"
check "mklive verify on the stick still passes" bash -c "'$MKLIVE' verify '$T/stick' >/dev/null"

# refused WHAT DISK MESSAGE: mklive-helper on DISK exits 1 saying MESSAGE,
# and DISK is byte for byte as it was.
refused() {
	local rc
	cp "$2" "$2.before"
	"$P" persist "$2" >/dev/null 2>"$T/refused.err"
	rc=$?
	check "$1: exit 1 and says '$3' ($(cat "$T/refused.err"))" \
		bash -c "[ $rc = 1 ] && grep -q '$3' '$T/refused.err'"
	check "$1: nothing written" cmp -s "$2.before" "$2"
	rm -f "$2.before"
}

# Again: the free space is taken now.
refused "a second run" "$T/stick" "less than 256 MiB free"
rm -f "$T/part"

# Too small a stick.
cp "$iso" "$T/small"
truncate -s $((isz + 200 * 1048576)) "$T/small"
refused "200 MiB free" "$T/small" "less than 256 MiB free"
rm -f "$T/small"

# A GPT whose entries do not match their CRC: left alone.
cp "$iso" "$T/bad"
truncate -s 1G "$T/bad"
printf '\x42' | dd of="$T/bad" bs=1 seek=$((2 * 512 + 300)) conv=notrunc status=none
refused "a damaged GPT" "$T/bad" "GPT is damaged"
rm -f "$T/bad"

# The BIOS-only image: an MBR and no GPT.
EFI_ROOT=$(efi_root)
if "$MKLIVE" build -q --uefi no --timeout 1 --level 1 "$TOP/build/test-demo/root" -o "$T/bios.iso" 2>"$T/berr"; then
	truncate -s 600M "$T/bios.iso"
	if "$P" persist "$T/bios.iso" >"$T/bout" 2>"$T/berr2"; then
		ok "BIOS-only image: $(cat "$T/bout")"
	else
		fail "BIOS-only image: $(cat "$T/berr2")"
	fi
	bstart=$(sfdisk -d "$T/bios.iso" | sed -n 's/^.*iso2 : start= *\([0-9]*\), size= *\([0-9]*\), type=83$/\1/p')
	bsize=$(sfdisk -d "$T/bios.iso" | sed -n 's/^.*iso2 : start= *\([0-9]*\), size= *\([0-9]*\), type=83$/\2/p')
	check "... sfdisk: partition 2, type 83, to the disk's end ($bstart + $bsize)" \
		test -n "$bstart" -a $((bstart + bsize)) -le 1228800 -a $((bstart + bsize)) -gt $((1228800 - 2048))
	dd if="$T/bios.iso" of="$T/bpart" bs=512 skip="$bstart" count="$bsize" status=none conv=sparse
	check "... e2fsck -fn: clean" bash -c "e2fsck -fn '$T/bpart' >/dev/null 2>&1"
	rm -f "$T/bpart"
else
	fail "building the BIOS-only image: $(cat "$T/berr")"
fi

chmod 444 "$T/stick"
if [ "$(id -u)" != 0 ]; then
	"$P" persist "$T/stick" >/dev/null 2>"$T/err5"
	rc=$?
	check "a read-only disk: exit 1 ($(cat "$T/err5"))" test $rc = 1
fi
"$P" >/dev/null 2>&1
check "no job: usage, exit 2" test $? = 2
"$P" persist >/dev/null 2>&1
check "no disk: usage, exit 2" test $? = 2
"$P" persistence "$T/stick" >/dev/null 2>"$T/err6"
rc=$?
check "an unknown job: exit 2, the jobs listed" eval 'test $rc = 2 && grep -q "^  persist " "$T/err6" && grep -q "^  luks " "$T/err6"'
"$P" luks >/dev/null 2>&1
check "luks without a disk: usage, exit 2" test $? = 2
"$P" luks "$T/stick" extra >/dev/null 2>&1
check "luks with a label: usage, exit 2 (it takes none)" test $? = 2
"$P" persist "$T/stick" "a-label-longer-than-16" >/dev/null 2>&1
check "a label over 16 bytes: exit 2" test $? = 2
t_done
