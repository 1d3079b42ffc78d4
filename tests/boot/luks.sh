#!/bin/bash
# Encrypted persistence (persistence=luks): the demo ISO on a 1 GiB "stick"
# (a virtio disk), the passphrase typed on the serial console.
#   1. first boot: asked twice (a first pair that differs is asked again),
#      a partition with a LUKS1 container made, ext4 inside, used at once:
#      the demo writes a token;
#   2. three wrong passphrases: the system boots, not persistent, and says so;
#   3. from the firmware (SeaBIOS, isolinux) through the menu's entry
#      "persistence, encrypted", the right passphrase: the token is there;
#   4. the same from OVMF with Secure Boot through GRUB's menu.
# On the host, with readers we did not write: cryptsetup luksDump (version,
# cipher, hash, key size, iterations), cryptsetup open --test-passphrase
# (right and wrong), QEMU's luks driver decrypting the partition (qemu-img
# convert), e2fsck -fn and debugfs on what it decrypted; sgdisk -v finds no
# new problem, mklive verify passes on the stick. Then the host's own
# cryptsetup open, in a QEMU guest (this host's kernel has no
# device-mapper): a wrong passphrase refused, the right one maps it,
# e2fsck -fn and debugfs on /dev/mapper/persist.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
t_tmpdir; [ -n "${KEEP:-}" ] && { trap - EXIT; echo "# KEEP: $T kept"; }

# A boot that did not go as expected: what serial_expect missed, the
# helper's and the init's own lines, then the last ones.
failed_boot() {	# WHAT LOG
	fail "$1: $(grep -a 'serial_expect:' "$2" | tail -n 1); the helper's and the init's lines, then the last:"
	grep -a 'mklive-helper\|assphrase\|persisten\|mklive-init\|device-mapper\|crypt' "$2" | tail -n 40
	tail -n 25 "$2"
}

require_qemu
for tool in cryptsetup qemu-img sgdisk e2fsck debugfs sfdisk python3; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		skip "$tool not installed (scripts/deps.sh check installs cryptsetup-bin, qemu-utils, gdisk, e2fsprogs, fdisk)"
		t_done; exit
	fi
done
iso=$(demo_iso) || { fail "building the demo ISO"; t_done; exit 1; }
demo_kernel "$iso" "$T" || { fail "extracting the kernel and initramfs from $iso"; t_done; exit 1; }
cp "$iso" "$T/stick"
truncate -s 1G "$T/stick"
qemu=("$QEMU" -accel tcg -m 1024 -nographic -no-reboot -serial stdio
	-drive "file=$T/stick,format=raw,if=virtio")
kern=(-monitor none -kernel "$T/vmlinuz" -initrd "$T/initrd.img")
pass='correct horse battery'
tok=luks-$$-$RANDOM
drive() {	# drive LOG QEMU-ARGS... (the steps on standard input)
	local log=$1
	shift
	cat >"$T/steps"
	BOOT_TIMEOUT=${BOOT_TIMEOUT:-300} python3 "$TOP/tests/boot/serial_expect.py" "$T/steps" "$@" >"$log" 2>&1
}

# 1. First boot: made, with the passphrase typed twice.
if drive "$T/1.log" "${qemu[@]}" "${kern[@]}" \
	-append "console=ttyS0 persistence=luks mklive-demo.persist=$tok" <<EOF
expect New passphrase for the encrypted persistence: 
send $pass
expect The same again: 
send not the same
expect the two differ: once more
expect New passphrase for the encrypted persistence: 
send $pass
expect The same again: 
send $pass
expect mklive-demo: persist: [^\\r\\n]*[\\r\\n]
EOF
then
	ok "first boot: asked twice, again after a mismatch, booted"
	check "boot 1: the medium is the stick's first partition, which leaves partition 3 free" \
		grep -aq 'found medium MKLIVE-[0-9a-f]* on /dev/vda1' "$T/1.log"
	check "mklive-helper made partition 3, encrypted ($(grep -ao '/dev/vda: partition 3.*' "$T/1.log" | tr -d '\r'))" \
		grep -aq '/dev/vda: partition 3, [0-9]* MiB, encrypted (LUKS1), opened as /dev/mapper/mklive-persist' "$T/1.log"
	check "the root is an overlay on /dev/mapper/mklive-persist" \
		grep -aq "overlay with /dev/mapper/mklive-persist .*: changes persist" "$T/1.log"
	check "the token written" grep -aq "mklive-demo: persist: wrote $tok" "$T/1.log"
	check "the passphrase was not echoed" bash -c "! grep -aq '$pass' '$T/1.log'"
else
	failed_boot "first boot" "$T/1.log"
fi

# 2. Three wrong passphrases: boots, not persistent, and says so.
if drive "$T/2.log" "${qemu[@]}" "${kern[@]}" \
	-append "console=ttyS0 persistence=luks mklive-demo.persist=other" <<EOF
expect Passphrase for the encrypted persistence on /dev/vda3: 
send wrong one
expect wrong passphrase \\(try 1 of 3\\)
expect Passphrase for the encrypted persistence on /dev/vda3: 
send wrong two
expect wrong passphrase \\(try 2 of 3\\)
expect Passphrase for the encrypted persistence on /dev/vda3: 
send $pass-no
expect MKLIVE-BOOT-OK
EOF
then
	ok "second boot: three wrong passphrases, booted"
	check "boot 2: the medium is the stick's first partition, which leaves partition 3 free" \
		grep -aq 'found medium MKLIVE-[0-9a-f]* on /dev/vda1' "$T/2.log"
	check "it says three wrong passphrases: without persistence" \
		grep -aq '3 wrong passphrases: booting without persistence' "$T/2.log"
	check "it says the system is not persistent" grep -aq 'this system is not persistent' "$T/2.log"
	check "the root's upper layer is not the encrypted one" \
		bash -c "! grep -aq 'overlay with /dev/mapper/mklive-persist' '$T/2.log'"
else
	failed_boot "second boot" "$T/2.log"
fi

# 3. From the firmware through isolinux's menu: the fifth entry
#    ("persistence, encrypted") chosen on the keyboard, the right passphrase.
if MONITOR_SOCKET=$T/mon.sock drive "$T/3.log" "${qemu[@]}" -boot c \
	-monitor "unix:$T/mon.sock,server=on,wait=off" <<EOF
expect boots the first entry in
monitor sendkey down
monitor sendkey down
monitor sendkey down
monitor sendkey down
monitor sendkey ret
expect Passphrase for the encrypted persistence on /dev/vda3: 
send $pass
expect mklive-demo: persist: [^\\r\\n]*[\\r\\n]
EOF
then
	ok "third boot, BIOS: isolinux's entry 'persistence, encrypted', the right passphrase"
	check "boot 3: the medium is the stick's first partition, which leaves partition 3 free" \
		grep -aq 'found medium MKLIVE-[0-9a-f]* on /dev/vda1' "$T/3.log"
	check "the menu's entry booted with persistence=luks" grep -aq 'Command line: .*persistence=luks' "$T/3.log"
	check "opened ($(grep -ao '/dev/vda3 opened as [^ ]*' "$T/3.log" | tr -d '\r'))" \
		grep -aq 'mklive-helper luks: /dev/vda3 opened as /dev/mapper/mklive-persist' "$T/3.log"
	check "the token from the first boot" grep -aq "mklive-demo: persist: found $tok" "$T/3.log"
else
	failed_boot "third boot" "$T/3.log"
fi

# 4. From OVMF with Secure Boot through GRUB's menu, the same entry: shim,
#    GRUB and the kernel checked, and lockdown takes dm-crypt's modules
#    (Debian's, byte for byte) from the image.
if [ -f "$(boot_cache)/usr/share/OVMF/OVMF_CODE_4M.secboot.fd" ]; then
	# shellcheck disable=SC2207
	fw=($(ovmf_args secureboot "$T/vars.fd"))
	if MONITOR_SOCKET=$T/mon.sock drive "$T/4.log" "$QEMU" -accel tcg -m 1024 -nographic -no-reboot \
		-serial stdio -monitor "unix:$T/mon.sock,server=on,wait=off" "${fw[@]}" -device qemu-xhci \
		-drive if=none,id=stick,format=raw,file="$T/stick" -device usb-storage,drive=stick,bootindex=1 <<EOF
expect GNU GRUB
monitor sendkey down
monitor sendkey down
monitor sendkey down
monitor sendkey down
monitor sendkey ret
expect Passphrase for the encrypted persistence on /dev/\\w+: 
send $pass
expect mklive-demo: persist: [^\\r\\n]*[\\r\\n]
EOF
	then
		ok "fourth boot, UEFI with Secure Boot: GRUB's entry 'persistence, encrypted', the right passphrase"
		check "Secure Boot was on" grep -aq 'firmware: UEFI, Secure Boot enabled' "$T/4.log"
		check "the token from the first boot" grep -aq "mklive-demo: persist: found $tok" "$T/4.log"
	else
		failed_boot "fourth boot" "$T/4.log"
	fi
else
	skip "no OVMF firmware in $(boot_cache) (scripts/fetch-boot.sh fetches it)"
fi

# 5. On the host.
sgdisk -v "$iso" >"$T/pristine.v" 2>&1
sgdisk -v "$T/stick" >"$T/stick.v" 2>&1
check "sgdisk -v: no problem beyond the pristine image's" diff "$T/pristine.v" "$T/stick.v"
check "mklive verify on the stick" bash -c "'$MKLIVE' verify '$T/stick' >/dev/null"
read -r start size < <(sfdisk -d "$T/stick" |
	sed -n 's/^.*stick3 : start= *\([0-9]*\), size= *\([0-9]*\), type=83$/\1 \2/p')
if [ -n "$start" ]; then
	dd if="$T/stick" of="$T/part" bs=512 skip="$start" count="$size" status=none conv=sparse
	cryptsetup luksDump "$T/part" >"$T/dump" 2>&1
	check "luksDump: version 1" grep -q '^Version:[[:space:]]*1$' "$T/dump"
	check "luksDump: aes, xts-plain64, sha256, 512-bit key" bash -c \
		"grep -q '^Cipher name:[[:space:]]*aes$' '$T/dump' && grep -q '^Cipher mode:[[:space:]]*xts-plain64$' '$T/dump' &&
		 grep -q '^Hash spec:[[:space:]]*sha256$' '$T/dump' && grep -q '^MK bits:[[:space:]]*512$' '$T/dump'"
	iter=$(sed -n 's/^[[:space:]]*Iterations:[[:space:]]*//p' "$T/dump" | head -n 1)
	check "luksDump: key slot 0 enabled, 4000 stripes, $iter iterations (measured for 2 s in the guest)" bash -c \
		"grep -q '^Key Slot 0: ENABLED' '$T/dump' && grep -q 'AF stripes:[[:space:]]*4000' '$T/dump' && [ '${iter:-0}' -ge 1000 ]"
	check "luksDump: the other seven slots disabled" test "$(grep -c 'DISABLED' "$T/dump")" = 7
	check "cryptsetup --test-passphrase: the right one opens it" \
		bash -c "printf %s '$pass' | cryptsetup open --test-passphrase --key-file=- '$T/part'"
	check "cryptsetup --test-passphrase: a wrong one does not" \
		bash -c "! printf %s 'wrong' | cryptsetup open --test-passphrase --key-file=- '$T/part' 2>/dev/null"
	printf %s "$pass" >"$T/pass"
	printf %s wrong >"$T/wrong"
	check "qemu-img (QEMU's luks driver): a wrong passphrase opens nothing" bash -c \
		"! qemu-img convert --object secret,id=k,file='$T/wrong' --image-opts \
		   driver=luks,key-secret=k,file.filename='$T/part' -O raw '$T/bad' 2>/dev/null"
	if qemu-img convert --object "secret,id=k,file=$T/pass" --image-opts \
		"driver=luks,key-secret=k,file.filename=$T/part" -O raw "$T/plain" 2>"$T/qerr"; then
		ok "qemu-img (QEMU's luks driver) decrypts the partition with the passphrase"
		out=$(e2fsck -fn "$T/plain" 2>&1)
		check "e2fsck -fn: the ext4 inside is clean" test $? = 0
		check "its label is persistence" bash -c "e2label '$T/plain' | grep -qx persistence"
		got=$(debugfs -R 'cat /mklive/upper/root/persist.txt' "$T/plain" 2>/dev/null)
		check "debugfs: the token in the upper layer ($got)" test "$got" = "$tok"
	else
		fail "qemu-img could not decrypt the partition: $(cat "$T/qerr")"
	fi
	rm -f "$T/part" "$T/plain"
else
	fail "sfdisk: no partition 3 on the stick: $(sfdisk -d "$T/stick" 2>&1 | tail -n 4)"
fi

# 6. cryptsetup open itself (this host's kernel has no device-mapper): in a
#    guest whose initramfs holds the host's cryptsetup, e2fsck and debugfs
#    (with their libraries), busybox and the demo kernel's dm-crypt modules,
#    the stick read-only on virtio. A wrong passphrase, then the right one;
#    e2fsck -fn and debugfs on /dev/mapper/persist.
g=$T/guest
mkdir -p "$g"
printf %s "$pass" >"$g/pass"
printf %s "$pass-no" >"$g/wrong"
cat >"$g/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/usr/sbin:/sbin:/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev; mount -t tmpfs run /run
ln -s /proc/mounts /etc/mtab
while read -r m; do insmod "/mod/$m" || echo "guest: insmod $m failed"; done </modules
cryptsetup open --readonly --type luks1 --key-file=/wrong /dev/vda3 wrong
echo "guest: wrong passphrase: exit $?"
cryptsetup open --readonly --type luks1 --key-file=/pass /dev/vda3 persist
echo "guest: right passphrase: exit $?"
cryptsetup status persist | sed 's/^/guest: status: /'
e2fsck -fn /dev/mapper/persist
echo "guest: e2fsck -fn: exit $?"
echo "guest: token [$(debugfs -R 'cat /mklive/upper/root/persist.txt' /dev/mapper/persist 2>/dev/null)]"
cryptsetup close persist
echo "guest: close: exit $?"
echo GUEST-DONE
poweroff -f
EOF
chmod +x "$g/init"
if ! guest_initrd "$g" "$T/guest.cpio" "virtio_pci virtio_blk dm-crypt xts ecb algif_skcipher" \
	cryptsetup e2fsck debugfs; then
	fail "making the guest's initramfs (host cryptsetup, e2fsck, debugfs, busybox, modules)"
elif boot_wait "$T/6.log" GUEST-DONE -kernel "$T/vmlinuz" -initrd "$T/guest.cpio" \
	-append "console=ttyS0 panic=-1" -drive "file=$T/stick,format=raw,if=virtio,readonly=on"; then
	ok "guest with the host's cryptsetup: booted and ran ($BOOT_SECONDS s, initramfs $(($(stat -c %s "$T/guest.cpio") / 1048576)) MiB)"
	check "the modules loaded ($(paste -sd' ' "$g/modules"))" bash -c "! grep -aq 'guest: insmod .* failed' '$T/6.log'"
	check "cryptsetup open: a wrong passphrase: exit 2 (no key available)" grep -aq 'guest: wrong passphrase: exit 2' "$T/6.log"
	check "cryptsetup open --type luks1 /dev/vda3 persist: the right passphrase opens it" \
		grep -aq 'guest: right passphrase: exit 0' "$T/6.log"
	check "cryptsetup status: LUKS1, aes-xts-plain64, 512-bit key, read-only" bash -c \
		"grep -aq 'status: *type: *LUKS1' '$T/6.log' && grep -aq 'status: *cipher: *aes-xts-plain64' '$T/6.log' &&
		 grep -aq 'status: *keysize: *512 bits' '$T/6.log' && grep -aq 'status: *mode: *readonly' '$T/6.log'"
	check "e2fsck -fn /dev/mapper/persist: clean" grep -aq 'guest: e2fsck -fn: exit 0' "$T/6.log"
	got=$(sed -n 's/^guest: token \[\(.*\)\]\r*$/\1/p' "$T/6.log")
	check "debugfs on /dev/mapper/persist: the first boot's token ($got)" test "$got" = "$tok"
	check "cryptsetup close persist" grep -aq 'guest: close: exit 0' "$T/6.log"
else
	fail "the guest with the host's cryptsetup did not finish; last lines:"; tail -n 25 "$T/6.log"
fi
t_done
