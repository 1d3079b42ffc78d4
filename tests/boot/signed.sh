#!/bin/bash
# Signed UEFI boot (--sign-key, --sign-cert): the demo tree built with a key
# made here. Checked by readers we did not write: sbverify accepts every UKI
# and systemd-boot with the certificate (and not with another), mtools and
# fsck.fat read the ESP, OVMF with Secure Boot boots the image with the
# certificate in db (CD; also as db's only key, which starts shim by the
# signature added after Microsoft's) and, through shim, in the MOK list (USB stick: shim
# checks systemd-boot, systemd-boot asks shim about the UKI), and the kernel
# says Secure Boot is on, and the image is read through dm-verity with the
# root hash of the signed command line (one flipped byte of the image stops
# the boot with dm-verity's error); an image signed with another key is refused
# before any kernel runs (shim's error dialog has no newline on the serial
# console, so that boot ends at its 60 s timeout); two builds with the same
# SOURCE_DATE_EPOCH are byte for byte the same. The variable stores are
# written by `mklive test --vars-out` (src/fmt/varstore.c).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
t_tmpdir; [ -n "${KEEP:-}" ] && trap - EXIT

require_qemu
for tool in sbverify openssl mcopy fsck.fat; do
	if ! command -v $tool >/dev/null; then
		skip "no $tool (scripts/deps.sh check installs it)"; t_done; exit 0
	fi
done
demo_iso >/dev/null || { fail "building the demo tree"; t_done; exit 1; }
efi=$(efi_root) || { fail "fetching the EFI files"; t_done; exit 1; }
ovmf=$(boot_cache)/usr/share/OVMF
if [ ! -f "$ovmf/OVMF_CODE_4M.secboot.fd" ]; then
	skip "no OVMF firmware in $(boot_cache) (scripts/fetch-boot.sh fetches it)"; t_done; exit
fi
root=$TOP/build/test-demo/root
for k in a b; do
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/$k.key" -out "$T/$k.crt" -days 3650 \
		-subj "/CN=mklive test key $k" >/dev/null 2>&1 || { fail "openssl req ($k)"; t_done; exit 1; }
done
export SOURCE_DATE_EPOCH=1700000000
build() {	# KEY OUTPUT ARGS...
	local k=$1 out=$2; shift 2
	"$MKLIVE" build -q --timeout 1 --level 3 --append "console=ttyS0" --efi-root "$efi" \
		--sign-key "$T/$k.key" --sign-cert "$T/$k.crt" "$@" "$root" -o "$out"
}

start=$SECONDS
if ! build a "$T/a.iso" 2>"$T/err"; then
	fail "signed build: $(cat "$T/err")"; t_done; exit 1
fi
ok "signed build in $((SECONDS - start)) s, $(stat -c %s "$T/a.iso") bytes"
build a "$T/a2.iso" 2>/dev/null
check "two signed builds with the same SOURCE_DATE_EPOCH are byte-identical" cmp -s "$T/a.iso" "$T/a2.iso"
rm -f "$T/a2.iso"
# The same key and certificate from mklive.conf, relative to the file.
mkdir -p "$T/conf" && cp "$T/a.key" "$T/a.crt" "$T/conf/"
printf '[boot]\nsign-key = a.key\nsign-cert = a.crt\n' >"$T/conf/mklive.conf"
(cd / && "$MKLIVE" build -q --timeout 1 --level 3 --append "console=ttyS0" --efi-root "$efi" \
	-c "$T/conf/mklive.conf" "$root" -o "$T/conf.iso")
check "[boot] sign-key, sign-cert relative to mklive.conf: the same image" cmp -s "$T/a.iso" "$T/conf.iso"
rm -f "$T/conf.iso"

# --- the ESP, read by mtools and fsck.fat; every signature by sbverify ----------------------
xorriso -osirrox on -indev "$T/a.iso" -extract /boot/grub/efi.img "$T/esp.img" \
	-extract /mklive.cer "$T/iso.cer" >/dev/null 2>&1
check "fsck.fat: the ESP is clean" bash -c "fsck.fat -n '$T/esp.img' >/dev/null"
ukis=$(mdir -b -i "$T/esp.img" ::/EFI/Linux/ 2>/dev/null | sed 's|^::/||')
check "one UKI per menu entry: live, debug, toram, persistence, luks ($(echo $ukis))" \
	test "$(echo "$ukis" | sed 's|.*/||' | sort | tr '\n' ' ')" = \
	"mklive-debug.efi mklive-live.efi mklive-luks.efi mklive-persistence.efi mklive-toram.efi "
for u in $ukis EFI/BOOT/grubx64.efi; do
	n=$(basename "$u")
	mcopy -n -i "$T/esp.img" "::/$u" "$T/$n" 2>/dev/null
	check "sbverify --cert accepts $n" bash -c "sbverify --cert '$T/a.crt' '$T/$n' >/dev/null 2>&1"
	check "sbverify refuses $n with another certificate" bash -c "! sbverify --cert '$T/b.crt' '$T/$n' >/dev/null 2>&1"
done
check "the toram UKI's command line: the menu's toram entry" \
	bash -c "objcopy -O binary --only-section=.cmdline '$T/mklive-toram.efi' '$T/cmdline' && grep -q '^console=ttyS0,115200 console=tty0 toram mklive.verity=[0-9a-f]\{64\} console=ttyS0\$' '$T/cmdline'"
check "systemd-boot boots the default entry after the timeout" \
	bash -c "mtype -i '$T/esp.img' ::/loader/loader.conf | grep -qx 'default mklive-live.efi' && mtype -i '$T/esp.img' ::/loader/loader.conf | grep -qx 'timeout 1'"
mcopy -n -i "$T/esp.img" ::/EFI/BOOT/BOOTX64.EFI "$T/shim.efi" 2>/dev/null
mcopy -n -i "$T/esp.img" ::/EFI/BOOT/mmx64.efi "$T/mm.efi" 2>/dev/null
check "MokManager is Debian's, byte for byte" cmp -s "$T/mm.efi" "$efi/usr/lib/shim/mmx64.efi.signed"
n=$(sbverify --list "$efi/usr/lib/shim/shimx64.efi.signed" 2>/dev/null | grep -c '^signature [0-9]')
check "shim: Debian's $n signatures, then the user's (sbverify --list)" \
	test "$(sbverify --list "$T/shim.efi" 2>/dev/null | grep -c '^signature [0-9]')" = $((n + 1))
check "shim: Debian's bytes, only the headers' checksum and table size changed" \
	bash -c "test -z \"\$(cmp -l '$efi/usr/lib/shim/shimx64.efi.signed' '$T/shim.efi' 2>/dev/null | awk '\$1 > 512')\""
openssl x509 -in "$T/a.crt" -outform DER -out "$T/a.der"
mcopy -n -i "$T/esp.img" ::/mklive.cer "$T/esp.cer" 2>/dev/null
check "the certificate in DER on the ESP and the ISO, for enrolment" \
	bash -c "cmp -s '$T/esp.cer' '$T/a.der' && cmp -s '$T/iso.cer' '$T/a.der'"
check "no GRUB on the signed ESP" bash -c "! mdir -/ -b -i '$T/esp.img' :: | grep -qi 'gcd\\|grub.cfg'"
"$MKLIVE" verify "$T/a.iso" >/dev/null 2>&1
check "mklive verify: the medium's checksums hold" test $? = 0

# --- booted: db (firmware checks shim, shim systemd-boot, firmware the UKI) and MOK ----------
"$MKLIVE" test --ovmf-dir "$ovmf" --db "$T/a.crt" --vars-out "$T/db.fd" &&
	"$MKLIVE" test --ovmf-dir "$ovmf" --db-only "$T/a.crt" --vars-out "$T/db-only.fd" &&
	"$MKLIVE" test --ovmf-dir "$ovmf" --mok "$T/a.crt" --vars-out "$T/mok.fd"
check "mklive test --vars-out writes the variable stores" test -s "$T/db.fd" -a -s "$T/db-only.fd" -a -s "$T/mok.fd"
"$MKLIVE" test --ovmf-dir "$ovmf" --db "$T/a.crt" --db-only "$T/a.crt" --vars-out "$T/two.fd" 2>"$T/two.err"
check "--db and --db-only together: a usage error ($(head -n 1 "$T/two.err"))" \
	bash -c "test $? = 2 && grep -q 'one certificate for db' '$T/two.err' && test ! -e '$T/two.fd'"
echo junk >"$T/junk.crt"
"$MKLIVE" test --ovmf-dir "$ovmf" --db-only "$T/junk.crt" --vars-out "$T/junk.fd" 2>"$T/junk.err"
check "--db-only with a file that is no certificate: an error naming it, no store ($(head -n 1 "$T/junk.err"))" \
	bash -c "test $? = 1 && grep -q -- '--db-only: .*junk.crt' '$T/junk.err' && test ! -e '$T/junk.fd'"
sb() {	# VARS: Secure Boot firmware arguments with that store (a copy)
	cp "$1" "$1.run"
	echo "-M q35,smm=on -global driver=cfi.pflash01,property=secure,value=on -drive if=pflash,format=raw,unit=0,readonly=on,file=$ovmf/OVMF_CODE_4M.secboot.fd -drive if=pflash,format=raw,unit=1,file=$1.run"
}
# db-only: the user's certificate is the firmware's only key (Microsoft's
# gone), so the firmware can only have started shim by the user's signature.
for row in "db cd" "db-only cd" "mok usb"; do
	set -- $row
	# shellcheck disable=SC2207
	fw=($(sb "$T/$1.fd"))
	case $2 in
	cd) media=(-cdrom "$T/a.iso") ;;
	usb) media=(-device qemu-xhci -drive if=none,id=stick,format=raw,readonly=on,file="$T/a.iso"
		-device usb-storage,drive=stick,bootindex=1) ;;
	esac
	log=$T/boot-$1-$2.log
	if BOOT_TIMEOUT=300 boot_wait "$log" MKLIVE-BOOT-OK "${fw[@]}" "${media[@]}"; then
		ok "$1, $2: the signed image boots under Secure Boot in ${BOOT_SECONDS}s"
		check "$1, $2: the kernel says Secure Boot is on" grep -q 'secureboot: Secure boot enabled' "$log"
		check "$1, $2: the live system reports Secure Boot enabled" \
			grep -q 'firmware: UEFI, Secure Boot enabled' "$log"
		check "$1, $2: the UKI's own command line, with the image's root hash" \
			grep -Eq 'MKLIVE-BOOT-OK console=ttyS0,115200 console=tty0 mklive.verity=[0-9a-f]{64} console=ttyS0' "$log"
		check "$1, $2: the image is read through dm-verity" \
			grep -q 'mklive-demo: image: /dev/mapper/mklive-image squashfs' "$log"
	else
		fail "$1, $2: no marker"; tail -n 20 "$log"
	fi
done
"$MKLIVE" test --ovmf-dir "$ovmf" --db "$T/a.crt" --timeout 300 --as cd "$T/a.iso" >"$T/test.out" 2>&1
check "mklive test --db: the row passes ($(tail -n 1 "$T/test.out"))" grep -q '^secureboot  cd   pass' "$T/test.out"

# --- one flipped byte of the image (its id table, read by the mount): under
# Secure Boot the signed command line's root hash catches it: dm-verity's
# error, named by the init's helper, and no live system ------------------------------
cp "$T/a.iso" "$T/flip.iso"
idt=$(iso_sqfs_id_table "$T/flip.iso" /live/filesystem.squashfs)
check "one byte of the signed image's squashfs flipped" iso_flip_byte "$T/flip.iso" /live/filesystem.squashfs "$idt"
# shellcheck disable=SC2207
fw=($(sb "$T/db.fd"))
if BOOT_TIMEOUT=300 boot_wait "$T/boot-flip.log" "reset the machine" "${fw[@]}" -cdrom "$T/flip.iso"; then
	check "flipped byte: the kernel's dm-verity reports the block" \
		grep -Eq 'device-mapper: verity: [0-9]+:[0-9]+: data block [0-9]+ is corrupted' "$T/boot-flip.log"
	check "flipped byte: the init names it and stops" \
		grep -q 'mklive-helper: dm-verity: the image is corrupt (data block' "$T/boot-flip.log"
	check "flipped byte: the live system did not come up" test "$(grep -c MKLIVE-BOOT-OK "$T/boot-flip.log")" = 0
else
	fail "flipped byte under Secure Boot: no rescue path"; tail -n 20 "$T/boot-flip.log"
fi
rm -f "$T/flip.iso"

# --- loader.conf is not signed: it only picks which signed UKI boots. A copy
# of the image with 'default mklive-toram.efi' boots the toram UKI, whose
# command line is its own ---------------------------------------------------------------------
lba=$(xorriso -indev "$T/a.iso" -find /boot/grub/efi.img -exec report_lba -- 2>/dev/null |
	awk -F, '/File data lba/ { gsub(/ /, "", $2); print $2 }')
cp "$T/a.iso" "$T/toram.iso"
mtype -i "$T/esp.img" ::/loader/loader.conf | sed 's/^default .*/default mklive-toram.efi/' >"$T/loader.conf"
mcopy -o -i "$T/esp.img" "$T/loader.conf" ::/loader/loader.conf &&
	dd if="$T/esp.img" of="$T/toram.iso" bs=2048 seek="$lba" conv=notrunc status=none
# shellcheck disable=SC2207
fw=($(sb "$T/db.fd"))
if [ -n "$lba" ] && BOOT_TIMEOUT=300 boot_wait "$T/boot-toram.log" MKLIVE-BOOT-OK "${fw[@]}" -cdrom "$T/toram.iso"; then
	check "another default in loader.conf: the toram UKI boots, with its own command line" \
		grep -Eq 'MKLIVE-BOOT-OK console=ttyS0,115200 console=tty0 toram mklive.verity=[0-9a-f]{64} console=ttyS0' "$T/boot-toram.log"
else
	fail "loader.conf's default changed to the toram UKI: no marker"; tail -n 20 "$T/boot-toram.log"
fi
rm -f "$T/toram.iso"

# --- another key: refused before any kernel runs ----------------------------------------------
build b "$T/b.iso" 2>/dev/null || fail "build with key b"
# shellcheck disable=SC2207
fw=($(sb "$T/db.fd"))
BOOT_TIMEOUT=60 boot_wait "$T/boot-other.log" 'Security Violation' "${fw[@]}" -cdrom "$T/b.iso"
check "signed with another key: shim refuses systemd-boot (Security Violation)" \
	grep -aq 'Security Violation' "$T/boot-other.log"
check "signed with another key: no kernel ran" bash -c "! grep -aq 'Linux version\\|EFI stub' '$T/boot-other.log'"
t_done
