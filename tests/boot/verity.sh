#!/bin/bash
# dm-verity (--verity): the demo tree built with a hash tree boots with its
# image on /dev/mapper/mklive-image, in overlay mode, with toram (the copy
# in RAM is what dm-verity reads) and in symlink mode (the writable root
# through dm-verity too), and every file of the image reads through it. One
# flipped byte in the image inside the ISO: a block the mount reads stops
# the boot with dm-verity's error named; a block read later is an I/O error
# in the running system, never other data. A wrong root hash does not
# mount. Without --verity the image is on the loop device as before, and no
# device-mapper module loads.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
t_tmpdir

require_qemu
iso=$(demo_iso) || { fail "building the demo ISO"; t_done; exit 1; }
efi=$(efi_root) || { fail "shim and GRUB for the build"; t_done; exit 1; }

# build NAME ARGS...: the demo tree with --verity into $T/NAME.iso; its
# kernel, initramfs and the menu's verity arguments into $T/NAME.*
build() {
	local name=$1
	shift
	"$MKLIVE" build -q --timeout 1 --level 3 --verity --efi-root "$efi" "$@" \
		"$TOP/build/test-demo/root" -o "$T/$name.iso" 2>"$T/$name.err" &&
		xorriso -osirrox on -indev "$T/$name.iso" -extract /live/vmlinuz "$T/$name.vmlinuz" \
			-extract /live/initrd.img "$T/$name.initrd" -extract /isolinux/isolinux.cfg "$T/$name.cfg" \
			>/dev/null 2>&1 &&
		grep -m1 -o 'mklive\.verity=[0-9a-f,]*' "$T/$name.cfg" >"$T/$name.args"
}

# boot_ok NAME LOG MARKER EXTRA-ARGS: boot NAME's kernel with its verity arguments
boot_iso() {
	local name=$1 log=$2 marker=$3 iso=$4
	shift 4
	boot_wait "$T/$log.log" "$marker" -kernel "$T/$name.vmlinuz" -initrd "$T/$name.initrd" -cdrom "$iso" \
		-append "console=ttyS0 $*"
}

ms_to_init() { sed -n 's/^mklive: \[ *\([0-9]*\) ms\] starting .*/\1/p' "$1" | head -n 1; }

if ! build ov --append console=ttyS0; then
	fail "build with --verity: $(cat "$T/ov.err")"
	t_done
	exit 1
fi
va=$(cat "$T/ov.args")
check "the menu carries the image's root hash ($va)" grep -Eq '^mklive\.verity=[0-9a-f]{64}$' "$T/ov.args"

# 1. overlay mode: the image through dm-verity, every file of it read
if boot_iso ov ov MKLIVE-BOOT-OK "$T/ov.iso" "$va mklive.debug mklive-demo.readall"; then
	check "overlay: the image is mounted from the dm-verity device" \
		grep -q 'mklive-demo: image: /dev/mapper/mklive-image squashfs' "$T/ov.log"
	check "overlay: dm-0 is mklive-image over the loop device" \
		grep -q 'mklive-demo: image device: dm-0 (mklive-image) over loop0' "$T/ov.log"
	check "overlay: the loop device reads the image on the medium" \
		grep -q 'image read from: /run/mklive/medium/live/filesystem.squashfs' "$T/ov.log"
	check "overlay: every file of the image reads through dm-verity ($(grep -Eo 'read-all [0-9.]+ s, [0-9]+ files' "$T/ov.log"))" \
		grep -Eq 'mklive-demo: read-all [0-9.]+ s, [0-9]+ files: ok' "$T/ov.log"
	check "overlay: the kernel's dm-verity made the device" grep -q 'device-mapper: verity' "$T/ov.log"
	check "overlay: no block was corrupt" bash -c '! grep -q "is corrupted" "$1"' _ "$T/ov.log"
else
	fail "overlay boot with --verity: no marker; last lines:"; tail -n 25 "$T/ov.log"
fi

# 2. without --verity (the shared demo ISO): as before
demo_kernel "$iso" "$T" || fail "extracting the demo's kernel"
if boot_wait "$T/plain.log" MKLIVE-BOOT-OK -kernel "$T/vmlinuz" -initrd "$T/initrd.img" -cdrom "$iso" \
	-append "console=ttyS0 mklive.debug"; then
	check "without --verity: the image is on the loop device" grep -q 'mklive-demo: image: /dev/loop0 squashfs' "$T/plain.log"
	check "without --verity: no device-mapper" bash -c '! grep -q "device-mapper" "$1"' _ "$T/plain.log"
	xorriso -osirrox on -indev "$iso" -extract /isolinux/isolinux.cfg "$T/plain.cfg" >/dev/null 2>&1
	check "without --verity: no verity argument in the menus" \
		bash -c 'grep -q APPEND "$1" && ! grep -q verity "$1"' _ "$T/plain.cfg"
	a=$(ms_to_init "$T/ov.log") b=$(ms_to_init "$T/plain.log")
	if [ -n "$a" ] && [ -n "$b" ]; then
		echo "# the init's time to the real init under TCG: $a ms with dm-verity, $b ms without (one boot each; bench/ measures)"
	fi
else
	fail "boot without --verity: no marker; last lines:"; tail -n 25 "$T/plain.log"
fi

# 3. toram: the copy in RAM is what dm-verity reads; the medium is released
if boot_iso ov toram MKLIVE-BOOT-OK "$T/ov.iso" "$va toram"; then
	check "toram: the image is mounted from the dm-verity device" \
		grep -q 'mklive-demo: image: /dev/mapper/mklive-image squashfs' "$T/toram.log"
	check "toram: dm-verity reads the copy in RAM" \
		grep -q 'image read from: /run/mklive/toram/filesystem.squashfs' "$T/toram.log"
	check "toram: the medium is released" grep -q 'mklive-demo: medium mounted: no' "$T/toram.log"
else
	fail "toram boot with --verity: no marker; last lines:"; tail -n 25 "$T/toram.log"
fi

# bad_boot NAME LOG FILE ARGS: NAME's ISO with one byte of FILE's id table
# (read by every mount) flipped, booted to the init's rescue path
bad_boot() {
	local idt
	cp "$T/$1.iso" "$T/$2.iso"
	idt=$(iso_sqfs_id_table "$T/$2.iso" "$3")
	check "$2: one byte of $3's id table flipped (at $idt)" iso_flip_byte "$T/$2.iso" "$3" "$idt"
	if boot_iso "$1" "$2" "reset the machine" "$T/$2.iso" "$4"; then
		ok "$2: a corrupt block read at mount: the init takes the rescue path"
	else
		fail "$2: a corrupt block read at mount: no rescue path; last lines:"; tail -n 25 "$T/$2.log"
	fi
}

# 4. the image's: the boot stops, dm-verity's error named
bad_boot ov bad /live/filesystem.squashfs "$va"
check "the kernel's dm-verity reports the block" grep -Eq 'device-mapper: verity: [0-9]+:[0-9]+: data block [0-9]+ is corrupted' "$T/bad.log"
check "the helper names it: $(grep -o 'dm-verity: the image is corrupt ([^,]*' "$T/bad.log" | head -n 1))" \
	grep -Eq 'mklive-helper: dm-verity: the image is corrupt \(data block [0-9]+ of /dev/loop0' "$T/bad.log"
check "the live system did not come up" test "$(grep -c MKLIVE-BOOT-OK "$T/bad.log")" = 0

# 5. a byte in the middle (a file's data, not read at boot): the system comes
# up and reading that file is an I/O error, never other bytes
cp "$T/ov.iso" "$T/mid.iso"
size=$(xorriso -indev "$T/mid.iso" -find /live/filesystem.squashfs -exec report_lba 2>/dev/null |
	awk -F' *, *' '/File data lba/ {print $4}')
check "one byte in the middle of the image flipped" iso_flip_byte "$T/mid.iso" /live/filesystem.squashfs $((size / 2))
if boot_iso ov mid MKLIVE-BOOT-OK "$T/mid.iso" "$va mklive-demo.readall"; then
	check "a corrupt block read later: an I/O error for the reader" \
		grep -Eq 'mklive-demo: read-all .*FAILED.*(I/O error|Input/output error)' "$T/mid.log"
	check "a corrupt block read later: dm-verity names it" \
		grep -Eq 'device-mapper: verity: [0-9]+:[0-9]+: data block [0-9]+ is corrupted' "$T/mid.log"
else
	fail "corrupt block read later: no marker; last lines:"; tail -n 25 "$T/mid.log"
fi

# 6. a root hash that is not the image's: nothing mounts
wrong="mklive.verity=$(printf '%064d' 0)"
if boot_iso ov wrong "reset the machine" "$T/ov.iso" "$wrong"; then
	check "a wrong root hash: the image is refused" grep -q 'dm-verity: the image is corrupt' "$T/wrong.log"
else
	fail "a wrong root hash: no rescue path; last lines:"; tail -n 25 "$T/wrong.log"
fi

# 7. symlink mode: the image and the writable root both through dm-verity;
# with toram the writable root's device goes after its copy
if build sym --append console=ttyS0 --root-mode symlink; then
	sa=$(cat "$T/sym.args")
	check "symlink: the menu carries both root hashes" grep -Eq '^mklive\.verity=[0-9a-f]{64},[0-9a-f]{64}$' "$T/sym.args"
	if boot_iso sym sym MKLIVE-BOOT-OK "$T/sym.iso" "$sa toram"; then
		check "symlink: /usr is a link into the image" grep -q 'mklive-demo: /usr is a link to /ro/usr' "$T/sym.log"
		check "symlink: the image is mounted from the dm-verity device" \
			grep -q 'mklive-demo: image: /dev/mapper/mklive-image squashfs' "$T/sym.log"
		check "symlink with toram: dm-verity reads the copy in RAM" \
			grep -q 'image read from: /run/mklive/toram/filesystem.squashfs' "$T/sym.log"
		check "symlink with toram: the writable root's device is gone, the medium released" \
			grep -q 'mklive-demo: medium mounted: no' "$T/sym.log"
		check "symlink: no warning from the init" bash -c '! grep -q "^mklive: warning" "$1"' _ "$T/sym.log"
	else
		fail "symlink boot with --verity: no marker; last lines:"; tail -n 25 "$T/sym.log"
	fi
	bad_boot sym symbad /live/root.squashfs "$sa"
	check "symlink: a corrupt writable root is named" \
		grep -q 'mklive-helper: dm-verity: the image is corrupt (data block [0-9]* of /dev/loop1' "$T/symbad.log"
else
	fail "build in symlink mode with --verity: $(cat "$T/sym.err")"
fi
t_done
