#!/bin/bash
# mklive.verify: with one byte of the squashfs flipped inside the ISO, the
# init names the damaged file on the console and goes to the rescue path
# instead of booting into I/O errors; an intact medium passes the check and
# boots. (The host side, mklive verify, is tests/cli/verify.sh.)
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
t_tmpdir

require_qemu
iso=$(demo_iso) || { fail "building the demo ISO"; t_done; exit 1; }
xorriso -osirrox on -indev "$iso" -extract /live/vmlinuz "$T/vmlinuz" \
	-extract /live/initrd.img "$T/initrd" >/dev/null 2>&1
args="console=ttyS0 mklive.verify"

if boot_wait "$T/good.log" MKLIVE-BOOT-OK -kernel "$T/vmlinuz" -initrd "$T/initrd" -append "$args" \
	-cdrom "$iso"; then
	ok "intact medium with mklive.verify boots (${BOOT_SECONDS}s)"
else
	fail "intact medium with mklive.verify does not boot"; tail -n 15 "$T/good.log"
fi
check "the init reports the check passed" grep -q 'medium check: all [0-9]* files match' "$T/good.log"
check "progress is shown, in a few lines" test "$(grep -c 'checking the medium:' "$T/good.log")" -le 12 -a \
	"$(grep -c 'checking the medium:' "$T/good.log")" -ge 1

# One byte in the middle of the squashfs, inside the ISO.
cp "$iso" "$T/bad.iso"
read -r lba size < <(xorriso -indev "$iso" -find /live/filesystem.squashfs -exec report_lba 2>/dev/null |
	awk -F' *, *' '/File data lba/ {print $2, $4}')
off=$((lba * 2048 + size / 2))
orig=$(od -An -tu1 -j"$off" -N1 "$T/bad.iso" | tr -d ' ')
printf "$(printf '\\%03o' $(( (orig + 1) % 256 )))" | dd of="$T/bad.iso" bs=1 seek="$off" conv=notrunc 2>/dev/null
check "one byte of the squashfs flipped at $off" test "$(od -An -tu1 -j"$off" -N1 "$T/bad.iso" | tr -d ' ')" != "$orig"

if boot_wait "$T/bad.log" "rescue" -kernel "$T/vmlinuz" -initrd "$T/initrd" -append "$args" \
	-cdrom "$T/bad.iso"; then
	ok "damaged medium: the init stops before using it (${BOOT_SECONDS}s)"
else
	fail "damaged medium: no rescue path"; tail -n 15 "$T/bad.log"
fi
check "the message names the damaged file" \
	grep -q 'the medium is damaged: live/filesystem.squashfs does not match its checksum' "$T/bad.log"
check "and says what to do" grep -q 'write the image to the medium again' "$T/bad.log"
check "the live system did not come up" test "$(grep -c MKLIVE-BOOT-OK "$T/bad.log")" = 0
t_done
