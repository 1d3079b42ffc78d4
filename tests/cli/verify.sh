#!/bin/bash
# The medium's checksums: mklive build writes /sha256sum.txt, which
# sha256sum -c (a reader we did not write) accepts on the extracted medium;
# mklive verify passes an intact image and names what is damaged in a
# flipped, truncated or foreign one, with the exit status to match.
. "$(dirname "$0")/../lib.sh"
t_tmpdir
export SOURCE_DATE_EPOCH=1700000000
command -v xorriso >/dev/null || { skip "xorriso missing (scripts/deps.sh check)"; t_done; exit 0; }
cache=$("$TOP/scripts/fetch-boot.sh") || { fail "fetching the boot pieces"; t_done; exit 1; }

# A small build: a tree of random data, the small memtest86+ bzImage as the
# kernel, no modules (what is checked here is the medium, not the boot).
ver=6.1.0-verify
mkdir -p "$T/tree/sbin" "$T/mods/$ver"
printf '#!/bin/sh\n' >"$T/tree/sbin/init"; chmod 755 "$T/tree/sbin/init"
head -c 3000000 /dev/urandom >"$T/tree/blob"
: >"$T/mods/$ver/modules.dep"; : >"$T/mods/$ver/modules.builtin"; : >"$T/mods/$ver/modules.order"
cp "$cache/boot/memtest86+x64.bin" "$T/vmlinuz-$ver"
if ! "$MKLIVE" build -q --uefi yes --timeout 1 --kernel "$T/vmlinuz-$ver" \
	--modules "$T/mods/$ver" "$T/tree" -o "$T/a.iso" 2>"$T/err"; then
	fail "build: $(cat "$T/err")"; t_done; exit 1
fi
mkdir "$T/x"
xorriso -osirrox on -indev "$T/a.iso" -extract / "$T/x" >/dev/null 2>&1
check "the medium has /sha256sum.txt" test -s "$T/x/sha256sum.txt"
check "sha256sum -c agrees with every line" bash -c "cd '$T/x' && sha256sum -c --quiet sha256sum.txt"
for f in live/filesystem.squashfs live/vmlinuz live/initrd.img boot/grub/efi.img isolinux/isolinux.cfg; do
	check "listed: ./$f" grep -q "  ./$f\$" "$T/x/sha256sum.txt"
done
check "not listed: isolinux.bin (libisofs patches its boot info table)" \
	test "$(grep -c isolinux.bin "$T/x/sha256sum.txt")" = 0
first=$(xorriso -indev "$T/a.iso" -find / -exec report_lba 2>/dev/null | awk -F' *, *' '/File data lba/ {print $2, $5}' |
	sort -n | head -n 1)
check "the list is the first file's data on the medium (a truncated copy still has it)" \
	grep -q "sha256sum.txt" <<<"$first"

out=$("$MKLIVE" verify "$T/a.iso" 2>&1); rc=$?
check "intact: exit 0" test $rc = 0
check "intact: 'all N files match'" grep -q 'all [0-9]* files match their checksums' <<<"$out"
out=$("$MKLIVE" verify -v "$T/a.iso" 2>&1)
check "-v names every file" test "$(grep -c ': ok$' <<<"$out")" = "$(wc -l <"$T/x/sha256sum.txt")"

flip() {	# ISO PATH-IN-ISO OUT
	local lba size off orig
	read -r lba size < <(xorriso -indev "$1" -find "/$2" -exec report_lba 2>/dev/null |
		awk -F' *, *' '/File data lba/ {print $2, $4}')
	off=$((lba * 2048 + size / 2))
	cp "$1" "$3"
	orig=$(od -An -tu1 -j"$off" -N1 "$3" | tr -d ' ')
	printf "$(printf '\\%03o' $(( (orig + 1) % 256 )))" | dd of="$3" bs=1 seek="$off" conv=notrunc 2>/dev/null
}
for f in live/filesystem.squashfs live/initrd.img boot/grub/efi.img; do
	flip "$T/a.iso" "$f" "$T/bad.iso"
	out=$("$MKLIVE" verify "$T/bad.iso" 2>&1); rc=$?
	check "$f flipped: exit 1" test $rc = 1
	check "$f flipped: named as damaged, and only it" \
		test "$(grep -c DAMAGED <<<"$out")" = 1 -a "$(grep -c "./$f: DAMAGED" <<<"$out")" = 1
done
# Cut in the middle of the image's data (the squashfs comes first on the
# medium after the checksum list, so the other files are past the end too).
read -r lba size < <(xorriso -indev "$T/a.iso" -find /live/filesystem.squashfs -exec report_lba 2>/dev/null |
	awk -F' *, *' '/File data lba/ {print $2, $4}')
head -c $(( lba * 2048 + size / 2 )) "$T/a.iso" >"$T/half.iso"
out=$("$MKLIVE" verify "$T/half.iso" 2>&1); rc=$?
check "truncated: exit 1" test $rc = 1
check "truncated: the files past the end are named unreadable or damaged" \
	grep -Eq 'live/filesystem.squashfs: (UNREADABLE|DAMAGED)' <<<"$out"
out=$("$MKLIVE" verify /etc/hostname 2>&1); rc=$?
check "not an ISO: exit 1 and says so" test $rc = 1 -a -n "$(grep "is not an ISO 9660 image" <<<"$out")"
xorriso -outdev "$T/foreign.iso" -map "$T/tree" / >/dev/null 2>&1
out=$("$MKLIVE" verify "$T/foreign.iso" 2>&1); rc=$?
check "an ISO without checksums: exit 1, 'no /sha256sum.txt'" test $rc = 1 -a -n "$(grep "no /sha256sum.txt" <<<"$out")"
out=$("$MKLIVE" verify 2>&1); rc=$?
check "no IMAGE: usage error, exit 2" test $rc = 2
t_done
