#!/bin/bash
# mklive-media, the program map behind /media/list, run on a made-up
# /sys/class/block and /dev: images made by mkfs.vfat and mkfs.ext4 (tools
# we did not write) stand in for the devices. Checked: which devices are
# listed and under which names (labels, hostile ones made safe, kernel
# names, -2 for a second device with one name), the map entries autofs
# gets, keys that must get nothing, and the list following removals.
. "$(dirname "$0")/../lib.sh"
t_tmpdir
MEDIA=${MEDIA:-$TOP/build/mklive-media}
for tool in mkfs.vfat mkfs.ext4; do
	command -v $tool >/dev/null || { skip "$tool missing (dosfstools, e2fsprogs)"; t_done; exit 0; }
done
[ -x "$MEDIA" ] || { fail "$MEDIA not built (make)"; t_done; exit 1; }

sys=$T/sys dev=$T/dev
mkdir -p "$sys" "$dev"
add() {	# KNAME [PARENT]: a block device in the fake sysfs
	if [ -n "${2:-}" ]; then
		mkdir -p "$sys/$2/$1"; : >"$sys/$2/$1/partition"; ln -s "$2/$1" "$sys/$1"
	else
		mkdir -p "$sys/$1"
	fi
}
add sdb; add sdb1 sdb; add sdb2 sdb; add sdc; add sdd; add sr0; add loop0; add vda
truncate -s 8M "$dev/sdb"				# a disk with partitions: listed by them
truncate -s 8M "$dev/sdb1"; mkfs.vfat -n 'MY STICK' "$dev/sdb1" >/dev/null
truncate -s 8M "$dev/sdb2"; mkfs.vfat "$dev/sdb2" >/dev/null	# no label: kernel name
mkfs.ext4 -q -F -L '$(reboot) ../x' "$dev/sdc" 4M >/dev/null 2>&1	# a hostile label
mkfs.ext4 -q -F -L 'MY STICK' "$dev/sdd" 4M >/dev/null 2>&1		# the same name as sdb1's
mkfs.ext4 -q -F -L 'LOOPED' "$dev/loop0" 4M >/dev/null 2>&1		# loop devices are not media
truncate -s 1M "$dev/vda"				# no filesystem
# sr0: no medium in the drive (no node to open)
printf 'root:x:0:0::/root:/bin/sh\nuser:x:1000:1001::/home/user:/bin/sh\n' >"$T/passwd"
m() { "$MEDIA" --sysfs "$sys" --dev "$dev" --list "$T/list" --mounts /media/.auto --passwd "$T/passwd" "$@"; }

out=$(m --show); rc=$?
check "--show: exit 0" test $rc = 0
check "--show: four devices (partitions, not their disk; no loop, no empty, no absent medium)" \
	test "$(wc -l <<<"$out")" = 4
check "the FAT label, made a name" grep -q $'^MY_STICK\t/dev/sdb1\tvfat\tMY STICK$' <<<"$out"
check "no label: the kernel name" grep -q $'^sdb2\t/dev/sdb2\tvfat\t$' <<<"$out"
check "the same name again: -2, in kernel-name order" grep -q $'^MY_STICK-2\t/dev/sdd\text4\t' <<<"$out"
hostile=$(awk -F'\t' '$2 == "/dev/sdc" {print $1}' <<<"$out")
check "a hostile label ('\$(reboot) ../x') becomes a plain name: '$hostile'" \
	grep -Eq '^[A-Za-z0-9_+][A-Za-z0-9._+-]*$' <<<"$hostile"

check "--sync: exit 0" m --sync
check "the list holds a link per device" test "$(ls "$T/list" | wc -l)" = 4
check "each a link to the autofs mount point" test "$(readlink "$T/list/MY_STICK")" = /media/.auto/MY_STICK
check "the hostile one too" test "$(readlink "$T/list/$hostile")" = "/media/.auto/$hostile"

check "map MY_STICK: FAT for the first user" test "$(m MY_STICK)" = \
	"-fstype=vfat,rw,nosuid,nodev,uid=1000,gid=1001,fmask=0133,dmask=0022,utf8,shortname=mixed :/dev/sdb1"
check "map MY_STICK-2: ext4" test "$(m MY_STICK-2)" = "-fstype=ext4,rw,nosuid,nodev :/dev/sdd"
check "map of the hostile name: its device" grep -q ':/dev/sdc$' <<<"$(m "$hostile")"
for key in nothing '..' '../sdb1' 'a b' '$(reboot)' sdb loop0 LOOPED ''; do
	out=$(m "$key" 2>&1); rc=$?
	check "map '$key': nothing, exit 1" test $rc = 1 -a -z "$out"
done

rm "$dev/sdb1"	# unplugged
out=$(m --show)
check "after a removal: three devices" test "$(wc -l <<<"$out")" = 3
check "the other 'MY STICK' is now the only one with that name" grep -q $'^MY_STICK\t/dev/sdd' <<<"$out"
m --sync
check "--sync drops the link of the name no device has now" test ! -L "$T/list/MY_STICK-2"
check "and the name that stays points at the mount point, now sdd's" \
	test "$(readlink "$T/list/MY_STICK")" = /media/.auto/MY_STICK -a "$(m MY_STICK)" = "-fstype=ext4,rw,nosuid,nodev :/dev/sdd"
check "the others stay" test -L "$T/list/sdb2" -a -L "$T/list/$hostile"
check "no temporary links left" test -z "$(ls -A "$T/list" | grep '^\.')"
check "usage: no mode is an error (exit 2)" bash -c "'$MEDIA' >/dev/null 2>&1; test \$? = 2"

# The build installs it where autofs and udev are (--media auto), and only there.
command -v unsquashfs >/dev/null || { skip "unsquashfs missing (squashfs-tools): build checks"; t_done; exit 0; }
cache=$("$TOP/scripts/fetch-boot.sh") || { fail "fetching the boot pieces"; t_done; exit 1; }
ver=6.1.0-media
mkdir -p "$T/tree/sbin" "$T/tree/usr/sbin" "$T/tree/etc/udev/rules.d" "$T/mods/$ver"
printf '#!/bin/sh\n' >"$T/tree/sbin/init"; chmod 755 "$T/tree/sbin/init"
: >"$T/mods/$ver/modules.dep"; : >"$T/mods/$ver/modules.builtin"; : >"$T/mods/$ver/modules.order"
cp "$cache/boot/memtest86+x64.bin" "$T/vmlinuz-$ver"
b() { "$MKLIVE" build -q --uefi no --timeout 1 --kernel "$T/vmlinuz-$ver" --modules "$T/mods/$ver" "$@"; }
sq() { xorriso -osirrox on -indev "$1" -extract /live/filesystem.squashfs "$T/sq" >/dev/null 2>&1 &&
	unsquashfs -lls "$T/sq" 2>/dev/null; }
b "$T/tree" -o "$T/no.iso"
l=$(sq "$T/no.iso")
check "no autofs in the tree: nothing added (but the tree is there)" \
	test "$(grep -c 'mklive-media\|media/list' <<<"$l")" = 0 -a "$(grep -c 'squashfs-root/sbin/init$' <<<"$l")" = 1
"$MKLIVE" build -q --media yes --uefi no --kernel "$T/vmlinuz-$ver" --modules "$T/mods/$ver" "$T/tree" \
	-o "$T/yes.iso" 2>"$T/err"; rc=$?
check "--media yes without autofs: exit 1, says what to install" test $rc = 1 -a -n "$(grep 'install the autofs' "$T/err")"
check "--media yes without autofs: no output" test ! -e "$T/yes.iso"
printf '#!/bin/sh\n' >"$T/tree/usr/sbin/automount"; chmod 755 "$T/tree/usr/sbin/automount"
b "$T/tree" -o "$T/auto.iso"
l=$(sq "$T/auto.iso")
check "with autofs and udev: the program, executable" grep -Eq '^-rwxr-xr-x root/root .* squashfs-root/usr/lib/mklive/mklive-media$' <<<"$l"
check "the auto.master.d entry" grep -q 'squashfs-root/etc/auto.master.d/mklive.autofs$' <<<"$l"
check "the udev rule" grep -q 'squashfs-root/etc/udev/rules.d/90-mklive-media.rules$' <<<"$l"
check "/media/list -> /run/mklive-media" grep -q 'squashfs-root/media/list -> /run/mklive-media$' <<<"$l"
unsquashfs -d "$T/x" "$T/sq" usr/lib/mklive/mklive-media etc/auto.master.d/mklive.autofs >/dev/null 2>&1
check "the program is the one built, byte for byte" cmp -s "$T/x/usr/lib/mklive/mklive-media" "$MEDIA"
check "the map: a program map on /media/.auto" grep -q '^/media/.auto program:/usr/lib/mklive/mklive-media' "$T/x/etc/auto.master.d/mklive.autofs"
b --media no "$T/tree" -o "$T/nomedia.iso"
l=$(sq "$T/nomedia.iso")
check "--media no: nothing added" test "$(grep -c 'mklive-media\|media/list' <<<"$l")" = 0 -a -n "$l"
t_done
