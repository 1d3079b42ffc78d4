#!/bin/bash
# Boot option persistence: the overlay's upper layer on a filesystem found
# by its label keeps changes across reboots. An empty ext2 image from
# `mklive ext2` is a second (virtio) disk; the demo's init writes a token
# to /root/persist.txt on the first boot and shows it on the second; the
# host then reads it from the image with debugfs. Without the option the
# disk is left alone, and without the disk the system boots, saying that it
# is not persistent. A FAT stick holding an ext2 image file works too
# (persistence=LABEL:/FILE); symlink root mode refuses persistence, says
# so and boots. The live user and hostname (mklive.user=, mklive.hostname=)
# go to the persistent upper layer: the user made once over two boots, the
# hostname set on each; in symlink mode into the writable root.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
t_tmpdir

require_qemu
for tool in e2fsck debugfs mcopy; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		skip "$tool not installed (e2fsprogs, mtools)"
		t_done; exit
	fi
done
iso=$(demo_iso) || { fail "building the demo ISO"; t_done; exit 1; }
demo_kernel "$iso" "$T" || { fail "extracting the kernel and initramfs from $iso"; t_done; exit 1; }
boot=(-kernel "$T/vmlinuz" -initrd "$T/initrd.img" -cdrom "$iso")
tok=persist-$$-$RANDOM

if ! "$MKLIVE" ext2 --empty --size 64M --label persistence -o "$T/p.img" 2>"$T/err"; then
	fail "mklive ext2 --empty --label persistence: $(cat "$T/err")"
	t_done; exit 1
fi
disk=(-drive "file=$T/p.img,format=raw,if=virtio")

# 0. The disk is there but the option is not: a tmpfs upper, said so, disk untouched.
if boot_wait "$T/0.log" MKLIVE-BOOT-OK "${boot[@]}" "${disk[@]}" -append "console=ttyS0"; then
	check "no option: the init says changes are lost and how to keep them" \
		grep -q 'overlay with tmpfs: changes are lost at power-off (boot option persistence keeps them)' "$T/0.log"
	check "no option: the persistence filesystem is not mounted" grep -q 'mklive-demo: persistence: none' "$T/0.log"
	check "no option: nothing written to the disk" bash -c '! debugfs -R "ls /mklive" "$1" 2>/dev/null | grep -q upper' _ "$T/p.img"
else
	fail "boot without persistence: no marker; last lines:"; tail -n 25 "$T/0.log"
fi

# 1. First boot with persistence: the token goes to the disk.
if boot_wait "$T/1.log" "mklive-demo: persist:" "${boot[@]}" "${disk[@]}" \
	-append "console=ttyS0 persistence mklive-demo.persist=$tok mklive.user=keeper mklive.hostname=first"; then
	ok "first boot with persistence in ${BOOT_SECONDS}s"
	check "first boot: the root is an overlay on /dev/vda (label 'persistence')" \
		grep -q "overlay with /dev/vda (label 'persistence'): changes persist" "$T/1.log"
	check "first boot: the live system sees the persistence filesystem" \
		grep -q 'mklive-demo: persistence: /dev/vda ext4' "$T/1.log"
	check "first boot: no persist.txt yet, the token written" grep -q "mklive-demo: persist: wrote $tok" "$T/1.log"
else
	fail "first boot with persistence: no marker; last lines:"; tail -n 25 "$T/1.log"
fi

# 2. Second boot: the token is there.
if boot_wait "$T/2.log" "mklive-demo: persist:" "${boot[@]}" "${disk[@]}" \
	-append "console=ttyS0 persistence mklive-demo.persist=other mklive.user=keeper mklive.hostname=second"; then
	check "second boot: /root/persist.txt kept from the first boot" grep -q "mklive-demo: persist: found $tok" "$T/2.log"
	check "second boot: the live user made on the first is the root's now" \
		grep -q 'mklive: live user keeper: the root' "$T/2.log"
else
	fail "second boot with persistence: no marker; last lines:"; tail -n 25 "$T/2.log"
fi

# On the host: the filesystem is sound and holds the file in the upper layer.
if out=$(e2fsck -fn "$T/p.img" 2>&1); then
	ok "e2fsck -fn: the persistence image is clean"
else
	fail "e2fsck -fn: $out"
fi
got=$(debugfs -R 'cat /mklive/upper/root/persist.txt' "$T/p.img" 2>/dev/null)
check "debugfs: /mklive/upper/root/persist.txt holds the token ($got)" test "$got" = "$tok"
check "first boot: the init made the live user on the persistent root" grep -q 'mklive: live user keeper: added to the root' "$T/1.log"
got=$(debugfs -R 'cat /mklive/upper/etc/passwd' "$T/p.img" 2>/dev/null | grep -c '^keeper:')
check "debugfs: the live user once in the upper layer's /etc/passwd after two boots ($got)" test "$got" = 1
check "first boot: mklive.hostname= set the system's name" grep -q 'mklive-demo: hostname first' "$T/1.log"
check "second boot: mklive.hostname= over the persistent root's" grep -q 'mklive-demo: hostname second' "$T/2.log"
got=$(debugfs -R 'cat /mklive/upper/etc/hostname' "$T/p.img" 2>/dev/null)
check "debugfs: the hostname in the upper layer ($got; the first boot syncs, the second is stopped without)" \
	test "$got" = first
check "debugfs: the overlay's work directory mklive/work" bash -c 'debugfs -R "stat /mklive/work" "$1" 2>/dev/null | grep -q "Type: directory"' _ "$T/p.img"

# 3. persistence asked for, no such disk: boots anyway and says so.
if boot_wait "$T/3.log" MKLIVE-BOOT-OK "${boot[@]}" -append "console=ttyS0 persistence"; then
	ok "persistence without the disk: the live system comes up (${BOOT_SECONDS}s)"
	check "no disk: the init names the label it did not find" \
		grep -q "no ext2/3/4 or FAT filesystem labelled 'persistence' found (waited 5 s" "$T/3.log"
	check "no disk: the init says the system is not persistent" \
		grep -q 'mklive: warning: this system is not persistent: changes are lost at power-off' "$T/3.log"
	check "no disk: the init says what to do" grep -q "to keep changes, attach an ext2/3/4 filesystem labelled 'persistence'" "$T/3.log"
	check "no disk: the root is the tmpfs overlay" grep -Eq 'overlay with tmpfs: changes are lost at power-off.?$' "$T/3.log"
else
	fail "persistence without the disk: no marker; last lines:"; tail -n 25 "$T/3.log"
fi

# 4. A FAT stick labelled LIVEDATA holding an ext2 image file, twice.
mkdir -p "$T/fat/live"
if "$MKLIVE" ext2 --empty --size 8M --label unused -o "$T/fat/live/persist.img" 2>"$T/err" &&
   "$MKLIVE" fat "$T/fat" --label LIVEDATA -o "$T/fat.img" 2>>"$T/err"; then
	stick=(-drive "file=$T/fat.img,format=raw,if=virtio")
	if boot_wait "$T/4.log" "mklive-demo: persist:" "${boot[@]}" "${stick[@]}" \
		-append "console=ttyS0 persistence=livedata:/live/persist.img mklive-demo.persist=$tok-fat" &&
	   boot_wait "$T/5.log" "mklive-demo: persist:" "${boot[@]}" "${stick[@]}" \
		-append "console=ttyS0 persistence=livedata:/live/persist.img mklive-demo.persist=other"; then
		check "FAT stick: found by its label (any case), the file mounted" \
			grep -q "overlay with /live/persist.img on /dev/vda (label 'livedata'): changes persist" "$T/4.log"
		check "FAT stick: the second boot finds the file" grep -q "mklive-demo: persist: found $tok-fat" "$T/5.log"
		mcopy -n -i "$T/fat.img" ::/live/persist.img "$T/back.img" 2>/dev/null
		got=$(debugfs -R 'cat /mklive/upper/root/persist.txt' "$T/back.img" 2>/dev/null)
		check "FAT stick: the image file holds the token ($got)" test "$got" = "$tok-fat"
	else
		fail "FAT stick with a persistence file: no marker; last lines:"; tail -n 25 "$T/4.log" "$T/5.log" 2>/dev/null
	fi
else
	fail "making the FAT stick: $(cat "$T/err")"
fi
# 6. Symlink root mode has no overlay: persistence is refused, said, and the
# system boots without it.
if "$MKLIVE" build -q --timeout 1 --level 1 --root-mode symlink --append "console=ttyS0 persistence mklive.user=linker" \
	"$TOP/build/test-demo/root" -o "$T/sym.iso" 2>"$T/err"; then
	if boot_wait "$T/6.log" MKLIVE-BOOT-OK -cdrom "$T/sym.iso" "${disk[@]}"; then
		check "symlink mode: the init says persistence needs overlay mode" \
			grep -q "warning: persistence: needs the overlay root mode, this system boots in symlink mode: it is not persistent" "$T/6.log"
		check "symlink mode: booted with a tmpfs root" grep -q 'root filesystem: tmpfs' "$T/6.log"
		check "symlink mode: the persistence filesystem is not mounted" grep -q 'mklive-demo: persistence: none' "$T/6.log"
		check "symlink mode: the live user made in the writable root" \
			grep -q 'mklive: live user linker: added to the root' "$T/6.log"
	else
		fail "symlink mode with persistence: no marker; last lines:"; tail -n 25 "$T/6.log"
	fi
else
	fail "symlink mode build: $(cat "$T/err")"
fi
t_done
