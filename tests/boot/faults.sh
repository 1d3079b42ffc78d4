#!/bin/bash
# Boot faults (DESIGN.md §4): the init says on the console exactly what is
# wrong and takes the rescue path, never "Attempted to kill init":
#  - the compressed image missing from the medium,
#  - an initramfs whose modules are for another kernel version,
#  - too little memory for the tmpfs root (symlink mode copies the writable
#    part into RAM; the tmpfs holds half of it).
# (No medium at all: tests/boot/buses.sh. A damaged medium: verify.sh.)
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
t_tmpdir

require_qemu
iso=$(demo_iso) || { fail "building the demo ISO"; t_done; exit 1; }
root=$TOP/build/test-demo/root
xorriso -osirrox on -indev "$iso" -extract /live/vmlinuz "$T/vmlinuz" \
	-extract /live/initrd.img "$T/initrd" >/dev/null 2>&1

# no_panic NAME LOG: the kernel did not see PID 1 die.
no_panic() { check "$1: no kernel panic" bash -c "! grep -q 'Kernel panic\|Attempted to kill init' '$2'"; }

# The image removed from the medium (the rest as built).
xorriso -indev "$iso" -outdev "$T/noimage.iso" -boot_image any keep \
	-rm /live/filesystem.squashfs -- >/dev/null 2>&1
if xorriso -indev "$T/noimage.iso" -find /live/filesystem.squashfs 2>/dev/null | grep -q squashfs; then
	fail "could not make a medium without the image"
elif boot_wait "$T/noimage.log" "rescue" -kernel "$T/vmlinuz" -initrd "$T/initrd" \
	-append "console=ttyS0" -cdrom "$T/noimage.iso"; then
	ok "image missing: the init stops with the rescue path (${BOOT_SECONDS}s)"
	check "image missing: the message names the file and the device" \
		grep -q 'has no compressed image (live/filesystem.squashfs)' "$T/noimage.log"
	check "image missing: and says what to do" grep -q 'write the image again' "$T/noimage.log"
	no_panic "image missing" "$T/noimage.log"
else
	fail "image missing: no rescue path"; tail -n 15 "$T/noimage.log"
fi

# Modules for another kernel: the same modules under another version name,
# with the kernel named to match, so the build accepts them; the running
# kernel then reports its real version.
kver=$(ls "$root/lib/modules" | head -n 1)
other=6.1.0-99-amd64
mkdir -p "$T/mods" "$T/tree/sbin"
cp -a "$root/lib/modules/$kver" "$T/mods/$other"
cp "$T/vmlinuz" "$T/vmlinuz-$other"
printf '#!/bin/sh\n' >"$T/tree/sbin/init"
if ! "$MKLIVE" build -q --uefi no --timeout 1 --kernel "$T/vmlinuz-$other" --modules "$T/mods/$other" \
	"$T/tree" -o "$T/other.iso" 2>"$T/err"; then
	fail "building with modules named $other: $(cat "$T/err")"
else
	xorriso -osirrox on -indev "$T/other.iso" -extract /live/initrd.img "$T/initrd-other" >/dev/null 2>&1
	if boot_wait "$T/other.log" "rescue" -kernel "$T/vmlinuz" -initrd "$T/initrd-other" \
		-append "console=ttyS0" -cdrom "$T/other.iso"; then
		ok "modules of another kernel: the init stops with the rescue path (${BOOT_SECONDS}s)"
		check "modules of another kernel: both versions named" \
			grep -q "has modules for kernel $other, but this kernel is $kver" "$T/other.log"
		check "modules of another kernel: no wait for a medium that cannot be found" \
			bash -c "! grep -q 'medium not found' '$T/other.log'"
		no_panic "modules of another kernel" "$T/other.log"
	else
		fail "modules of another kernel: no rescue path"; tail -n 15 "$T/other.log"
	fi
fi

# Too little memory: a 400 MB writable part, incompressible, for a tmpfs of
# half of 512 MB.
mkdir -p "$T/big/var" "$T/big/sbin"
printf '#!/bin/sh\n' >"$T/big/sbin/init"
head -c 400000000 /dev/urandom >"$T/big/var/big"
if ! "$MKLIVE" build -q --uefi no --timeout 1 --root-mode symlink --compressor lz4 \
	--kernel "$root/boot/vmlinuz-$kver" --modules "$root/lib/modules/$kver" \
	"$T/big" -o "$T/big.iso" 2>"$T/err"; then
	fail "building the 400 MB symlink-mode image: $(cat "$T/err")"
else
	rm -f "$T/big/var/big"
	xorriso -osirrox on -indev "$T/big.iso" -extract /live/initrd.img "$T/initrd-big" >/dev/null 2>&1
	if boot_wait "$T/big.log" "rescue" -m 512 -kernel "$T/vmlinuz" -initrd "$T/initrd-big" \
		-append "console=ttyS0" -cdrom "$T/big.iso"; then
		ok "too little memory: the init stops with the rescue path (${BOOT_SECONDS}s)"
		check "too little memory: the message says the tmpfs root is full, and why" \
			grep -q 'the tmpfs root is full: cannot .* too little memory' "$T/big.log"
		no_panic "too little memory" "$T/big.log"
	else
		fail "too little memory: no rescue path"; tail -n 15 "$T/big.log"
	fi
fi
t_done
