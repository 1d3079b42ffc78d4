#!/bin/bash
# Signed UEFI boot (--sign-key, --sign-cert): the demo tree built with a key
# made here. Checked by readers we did not write: sbverify accepts the UKI
# and systemd-boot with the certificate (and not with another), mtools and
# fsck.fat read the ESP, OVMF with Secure Boot boots the image with the
# certificate in db (CD; also as db's only key, which starts shim by the
# signature added after Microsoft's) and, through shim, in the MOK list (USB stick: shim
# checks systemd-boot, systemd-boot asks shim about the UKI), and the kernel
# says Secure Boot is on, and the image is read through dm-verity with the
# root hash of the signed command line (one flipped byte of the image stops
# the boot with dm-verity's error); systemd-boot's menu entries all start the
# one UKI, and the one chosen (a copy whose unsigned loader.conf names the
# toram entry) takes effect through the signed table in the initramfs, the
# same with Secure Boot off, while an entry not in the table (with an options
# line asking for toram) boots the default; an image signed with another key is refused
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
# One UKI, outside EFI/Linux (which systemd-boot would list as an entry of
# its own), and systemd-boot's menu: an entry per row, each starting it.
check "one UKI: EFI/mklive/mklive.efi, nothing in EFI/Linux" \
	bash -c "mdir -b -i '$T/esp.img' ::/EFI/mklive/ 2>/dev/null | grep -qx '::/EFI/mklive/mklive.efi' && ! mdir -b -i '$T/esp.img' ::/EFI/Linux/ >/dev/null 2>&1"
entries=$(mdir -b -i "$T/esp.img" ::/loader/entries/ 2>/dev/null | sed 's|.*/||' | sort | tr '\n' ' ')
check "systemd-boot's menu: live, debug, toram, persistence, luks ($entries)" \
	test "$entries" = "mklive-debug.conf mklive-live.conf mklive-luks.conf mklive-persistence.conf mklive-toram.conf "
for e in $entries; do
	mtype -i "$T/esp.img" "::/loader/entries/$e" >"$T/$e" 2>/dev/null
	check "$e starts the UKI, no options line" \
		bash -c "grep -qx 'efi /EFI/mklive/mklive.efi' '$T/$e' && grep -q '^title ' '$T/$e' && ! grep -q '^options' '$T/$e'"
done
order=$(for e in $entries; do sed -n 's/^sort-key //p' "$T/$e" | tr '\n' ' '; echo "$e"; done | sort | cut -d' ' -f2 | tr '\n' ' ')
check "the menu's order (sort keys): $order" \
	test "$order" = "mklive-live.conf mklive-debug.conf mklive-toram.conf mklive-persistence.conf mklive-luks.conf "
for u in EFI/mklive/mklive.efi EFI/BOOT/grubx64.efi; do
	n=$(basename "$u")
	mcopy -n -i "$T/esp.img" "::/$u" "$T/$n" 2>/dev/null
	check "sbverify --cert accepts $n" bash -c "sbverify --cert '$T/a.crt' '$T/$n' >/dev/null 2>&1"
	check "sbverify refuses $n with another certificate" bash -c "! sbverify --cert '$T/b.crt' '$T/$n' >/dev/null 2>&1"
done
check "the UKI's command line: the default entry's" \
	bash -c "objcopy -O binary --only-section=.cmdline '$T/mklive.efi' '$T/cmdline' && grep -q '^console=ttyS0,115200 console=tty0 mklive.verity=[0-9a-f]\{64\} console=ttyS0\$' '$T/cmdline'"
# The choices' table, in the initramfs the UKI's signature covers.
objcopy -O binary --only-section=.initrd "$T/mklive.efi" "$T/initrd" 2>/dev/null
(mkdir -p "$T/initrd.d" && cd "$T/initrd.d" && { zstd -dcq "$T/initrd" 2>/dev/null || xz -dc "$T/initrd" 2>/dev/null ||
	gzip -dc "$T/initrd" 2>/dev/null || cat "$T/initrd"; } | cpio -id --quiet mklive.conf 'lib/modules/*/efivarfs.ko' 2>/dev/null)
check "the signed initramfs's /mklive.conf: the table, efivarfs loaded first" \
	bash -c "grep -qx 'entries=yes' '$T/initrd.d/mklive.conf' && grep -qx 'entry.mklive-toram.conf=toram' '$T/initrd.d/mklive.conf' && grep -qx 'entry.mklive-live.conf=' '$T/initrd.d/mklive.conf' && grep -q '^modules=.* efivarfs' '$T/initrd.d/mklive.conf' && ls '$T'/initrd.d/lib/modules/*/kernel/fs/efivarfs/efivarfs.ko >/dev/null"
check "systemd-boot boots the default entry after the timeout" \
	bash -c "mtype -i '$T/esp.img' ::/loader/loader.conf | grep -qx 'default mklive-live.conf' && mtype -i '$T/esp.img' ::/loader/loader.conf | grep -qx 'timeout 1' && mtype -i '$T/esp.img' ::/loader/loader.conf | grep -qx 'editor no'"
esp_bytes=$(stat -c %s "$T/esp.img")
check "the ESP fits El Torito's 32 MiB ($esp_bytes bytes; the UKI $(stat -c %s "$T/mklive.efi"))" \
	test "$esp_bytes" -le $((32 << 20))
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
rc=$?	# before the check's words: their $(...) sets $? again
check "--db and --db-only together: a usage error ($(head -n 1 "$T/two.err"))" \
	bash -c "test $rc = 2 && grep -q 'one certificate for db' '$T/two.err' && test ! -e '$T/two.fd'"
echo junk >"$T/junk.crt"
"$MKLIVE" test --ovmf-dir "$ovmf" --db-only "$T/junk.crt" --vars-out "$T/junk.fd" 2>"$T/junk.err"
rc=$?
check "--db-only with a file that is no certificate: an error naming it, no store ($(head -n 1 "$T/junk.err"))" \
	bash -c "test $rc = 1 && grep -q -- '--db-only: .*junk.crt' '$T/junk.err' && test ! -e '$T/junk.fd'"
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
		check "$1, $2: systemd-boot's default entry, read by the helper, adds nothing" \
			grep -q 'mklive-helper: boot entry mklive-live.conf (the default)' "$log"
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

# --- the menu's choices: systemd-boot's entry id (LoaderEntrySelected) picks
# a row of the signed table; the entries and loader.conf are not signed.
# Copies of the image whose loader.conf names another entry: toram (under
# Secure Boot, and with it off: the same), and an entry not in the table,
# added with an options line, which boots the default -------------------------------------
lba=$(xorriso -indev "$T/a.iso" -find /boot/grub/efi.img -exec report_lba -- 2>/dev/null |
	awk -F, '/File data lba/ { gsub(/ /, "", $2); print $2 }')
esp_copy() {	# NAME SED-SCRIPT: $T/NAME.iso, its loader.conf edited by SED-SCRIPT
	cp "$T/a.iso" "$T/$1.iso" && cp "$T/esp.img" "$T/$1.esp" &&
	mtype -i "$T/$1.esp" ::/loader/loader.conf | sed "$2" >"$T/loader.conf" &&
	mcopy -o -i "$T/$1.esp" "$T/loader.conf" ::/loader/loader.conf &&
	dd if="$T/$1.esp" of="$T/$1.iso" bs=2048 seek="$lba" conv=notrunc status=none
}
# shellcheck disable=SC2207
fw=($(sb "$T/db.fd"))
default_line='MKLIVE-BOOT-OK console=ttyS0,115200 console=tty0 mklive.verity=[0-9a-f]{64} console=ttyS0'
if [ -n "$lba" ] && esp_copy toram 's/^default .*/default mklive-toram.conf/' &&
	BOOT_TIMEOUT=300 boot_wait "$T/boot-toram.log" MKLIVE-BOOT-OK "${fw[@]}" -cdrom "$T/toram.iso"; then
	check "toram entry, Secure Boot: the helper read systemd-boot's choice from the signed table" \
		grep -q 'mklive-helper: boot entry mklive-toram.conf: toram' "$T/boot-toram.log"
	check "toram entry, Secure Boot: the init copied the image into RAM" grep -q 'toram: copying' "$T/boot-toram.log"
	check "toram entry, Secure Boot: the kernel's command line is the UKI's own" grep -Eq "$default_line" "$T/boot-toram.log"
	check "toram entry, Secure Boot: the kernel says Secure Boot is on" \
		grep -q 'secureboot: Secure boot enabled' "$T/boot-toram.log"
else
	fail "loader.conf's default changed to the toram entry: no marker"; tail -n 20 "$T/boot-toram.log"
fi
# With Secure Boot off systemd-boot passes no command line either (the
# entries have no options line): the stub keeps its own, the same boot.
# shellcheck disable=SC2207
fw=($(ovmf_args uefi "$T/plain.fd"))
if [ -f "$T/toram.iso" ] && BOOT_TIMEOUT=300 boot_wait "$T/boot-toram-nosb.log" MKLIVE-BOOT-OK "${fw[@]}" -cdrom "$T/toram.iso"; then
	check "toram entry, Secure Boot off: the same choice, the same command line" \
		bash -c "grep -q 'mklive-helper: boot entry mklive-toram.conf: toram' '$T/boot-toram-nosb.log' && grep -q 'toram: copying' '$T/boot-toram-nosb.log' && grep -Eq '$default_line' '$T/boot-toram-nosb.log' && ! grep -q 'secureboot: Secure boot enabled' '$T/boot-toram-nosb.log'"
else
	fail "toram entry, Secure Boot off: no marker"; tail -n 20 "$T/boot-toram-nosb.log"
fi
rm -f "$T/toram.iso" "$T/toram.esp"
# An entry the image does not have, whose options ask for toram: the id is
# in no row of the table, the options are not the signed command line.
printf 'title Not ours\nefi /EFI/mklive/mklive.efi\noptions toram console=ttyS0\n' >"$T/other.conf"
# shellcheck disable=SC2207
fw=($(sb "$T/db.fd"))
if [ -n "$lba" ] && esp_copy other 's/^default .*/default other.conf/' && mcopy -i "$T/other.esp" "$T/other.conf" ::/loader/entries/other.conf &&
	dd if="$T/other.esp" of="$T/other.iso" bs=2048 seek="$lba" conv=notrunc status=none &&
	BOOT_TIMEOUT=300 boot_wait "$T/boot-other-entry.log" MKLIVE-BOOT-OK "${fw[@]}" -cdrom "$T/other.iso"; then
	check "an entry not in the table: the helper says so and boots the default" \
		grep -q "mklive-helper: entry: 'other.conf' is none of this image's boot entries: the default entry" \
		"$T/boot-other-entry.log"
	check "an entry not in the table: no toram, the UKI's own command line" \
		bash -c "! grep -q 'toram: copying' '$T/boot-other-entry.log' && grep -Eq '$default_line' '$T/boot-other-entry.log'"
else
	fail "an entry not in the table: no marker"; tail -n 20 "$T/boot-other-entry.log"
fi
rm -f "$T/other.iso" "$T/other.esp"
# The menu by key presses on the machine's keyboard (QEMU's monitor): a copy
# whose loader.conf waits 30 s instead of 1, so that the keys come while the
# menu is up; down twice and Enter take the third row, toram.
# shellcheck disable=SC2207
fw=($(sb "$T/db.fd"))
printf '%s\n' "expect persistence, encrypted" "monitor sendkey down" "monitor sendkey down" \
	"monitor sendkey ret" "expect MKLIVE-BOOT-OK[^\\r\\n]*[\\r\\n]" >"$T/keys.steps"
if [ -n "$lba" ] && esp_copy keys 's/^timeout .*/timeout 30/' &&
	MONITOR_SOCKET=$T/mon.sock BOOT_TIMEOUT=300 python3 "$TOP/tests/boot/serial_expect.py" "$T/keys.steps" \
		"$QEMU" -accel tcg -m 1024 -nographic -no-reboot -serial stdio \
		-monitor "unix:$T/mon.sock,server=on,wait=off" "${fw[@]}" -cdrom "$T/keys.iso" >"$T/boot-keys.log" 2>&1; then
	ok "systemd-boot's menu, Secure Boot: the toram row chosen by key presses"
	check "keys: the helper read that choice from the signed table" \
		grep -q 'mklive-helper: boot entry mklive-toram.conf: toram' "$T/boot-keys.log"
	check "keys: the init copied the image into RAM" grep -q 'toram: copying' "$T/boot-keys.log"
	check "keys: the kernel's command line is the UKI's own" grep -Eq "$default_line" "$T/boot-keys.log"
else
	fail "systemd-boot's menu by key presses: $(grep -a 'serial_expect:' "$T/boot-keys.log" | tail -n 1)"
	tail -n 20 "$T/boot-keys.log"
fi
rm -f "$T/keys.iso" "$T/keys.esp"

# --- BIOS (isolinux, not verified): no EFI variable, the menu's command line
# stands, nothing added -----------------------------------------------------------------------
if BOOT_TIMEOUT=300 boot_wait "$T/boot-bios.log" MKLIVE-BOOT-OK -cdrom "$T/a.iso"; then
	check "BIOS: the helper adds nothing, the isolinux entry's command line boots" \
		bash -c "grep -q 'mklive-helper: entry: not started by UEFI (no systemd-boot entry): nothing added' '$T/boot-bios.log' && grep -q 'MKLIVE-BOOT-OK BOOT_IMAGE=/live/vmlinuz' '$T/boot-bios.log'"
else
	fail "BIOS boot of the signed image: no marker"; tail -n 20 "$T/boot-bios.log"
fi

# --- another key: refused before any kernel runs ----------------------------------------------
build b "$T/b.iso" 2>/dev/null || fail "build with key b"
# shellcheck disable=SC2207
fw=($(sb "$T/db.fd"))
BOOT_TIMEOUT=60 boot_wait "$T/boot-other.log" 'Security Violation' "${fw[@]}" -cdrom "$T/b.iso"
check "signed with another key: shim refuses systemd-boot (Security Violation)" \
	grep -aq 'Security Violation' "$T/boot-other.log"
check "signed with another key: no kernel ran" bash -c "! grep -aq 'Linux version\\|EFI stub' '$T/boot-other.log'"
t_done
