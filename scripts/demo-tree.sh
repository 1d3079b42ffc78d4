#!/bin/bash
# Make the demo root tree: a Debian kernel with its modules and a static
# busybox, with an /sbin/init that says the live system came up.
#   scripts/demo-tree.sh DIR
# The tree has what the tests check arrives unchanged in the booted system:
# a file owned by uid 1000, a setuid file, a device node (when we may make
# one), a hard link, a symlink and a security.capability xattr.
set -euo pipefail
dest=${1:?usage: demo-tree.sh DIR}
top=$(cd "$(dirname "$0")/.." && pwd)
cache=$("$top/scripts/fetch-boot.sh")
kver=$(basename "$(ls -d "$cache"/lib/modules/*/ | head -n 1)")

rm -rf "$dest"
mkdir -p "$dest"/{bin,sbin,etc,proc,sys,dev,run,tmp,root,home/user,boot,lib/modules,usr/share/mklive-demo}
chmod 1777 "$dest/tmp"
cp "$cache/bin/busybox" "$dest/bin/busybox"
for applet in $("$dest/bin/busybox" --list); do
	[ "$applet" = busybox ] || ln -sf busybox "$dest/bin/$applet"
done
cp "$cache/boot/vmlinuz-$kver" "$dest/boot/"
cp -a "$cache/lib/modules/$kver" "$dest/lib/modules/"
depmod -b "$dest" "$kver"

cat >"$dest/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:Demo User:/home/user:/bin/sh
P
cat >"$dest/etc/group" <<'G'
root:x:0:
user:x:1000:
G
echo mklive-demo >"$dest/etc/hostname"
echo "hello from the live system" >"$dest/home/user/hello.txt"
chown -R 1000:1000 "$dest/home/user"
cp "$dest/bin/busybox" "$dest/usr/share/mklive-demo/setuid-example"
chmod 4755 "$dest/usr/share/mklive-demo/setuid-example"
ln "$dest/usr/share/mklive-demo/setuid-example" "$dest/usr/share/mklive-demo/hardlink-example"
ln -s /etc/hostname "$dest/usr/share/mklive-demo/symlink-example"
setfattr -n security.capability -v 0x0100000200200000000000000000000000000000 \
	"$dest/usr/share/mklive-demo/setuid-example" 2>/dev/null || true
mknod "$dest/dev/console" c 5 1 2>/dev/null || true
touch -d '2001-02-03 04:05:06 UTC' "$dest/home/user/hello.txt"

cat >"$dest/sbin/init" <<'INIT'
#!/bin/sh
# The demo's init: report what the live system sees, then offer a shell.
export PATH=/bin:/sbin
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sysfs /sys 2>/dev/null
mount -t devtmpfs devtmpfs /dev 2>/dev/null
hostname -F /etc/hostname
root=$(awk '$2 == "/" { print $3 }' /proc/mounts | tail -n 1)
echo "mklive-demo: pid $$, kernel $(uname -r), root filesystem: $root"
echo "mklive-demo: hostname $(hostname)"
echo "mklive-demo: /home/user/hello.txt: $(stat -c '%u:%g %a %Y' /home/user/hello.txt)"
echo "mklive-demo: setuid-example: $(stat -c '%a %h' /usr/share/mklive-demo/setuid-example)"
echo "mklive-demo: writable root: $(echo ok > /root/written && cat /root/written)"
echo "mklive-demo: /usr is $(if [ -L /usr ]; then echo "a link to $(readlink /usr)"; else echo a directory; fi)"
echo "mklive-demo: image: $(awk '$2 == "/run/mklive/ro" { print $1, $3 }' /proc/mounts)"
if [ -d /sys/firmware/efi ]; then
	# The kernel's own word (it read the SecureBoot variable at boot).
	sb=$(dmesg | sed -n 's/.*secureboot: Secure boot \([a-z]*\).*/\1/p' | head -n 1)
	echo "mklive-demo: firmware: UEFI, Secure Boot ${sb:-unknown}"
else
	echo "mklive-demo: firmware: BIOS"
fi
echo "mklive-demo: nbd server processes: $(for p in /proc/[0-9]*; do tr '\0' ' ' <"$p/cmdline"; echo; done 2>/dev/null | grep -c '^@mklive-nbd')"
echo "mklive-demo: read $(cat /usr/share/mklive-demo/setuid-example | wc -c) bytes from the image"
medium=$(awk '$3 == "iso9660" && $2 == "/run/mklive/medium" { print $1 }' /proc/mounts)
echo "mklive-demo: medium mounted: ${medium:-no}"
loop=$(awk '$2 == "/run/mklive/ro" { print $1 }' /proc/mounts | tail -n 1)
# through dm-verity (/dev/mapper/NAME, a node of the init's): the loop device under it
if [ -d /sys/block/dm-0 ] && set -- $(stat -L -c '%t %T' "$loop" 2>/dev/null) && [ $# = 2 ]; then
	dm=$(basename "$(readlink "/sys/dev/block/$((0x$1)):$((0x$2))")")
	echo "mklive-demo: image device: $dm ($(cat "/sys/block/$dm/dm/name" 2>/dev/null)) over $(ls "/sys/block/$dm/slaves" 2>/dev/null | tr '\n' ' ')"
	for s in /sys/block/"$dm"/slaves/*; do [ -e "$s/loop" ] && loop=/dev/${s##*/}; done
fi
echo "mklive-demo: image read from: $(cat "/sys/block/${loop#/dev/}/loop/backing_file" 2>/dev/null || echo "$loop")"
echo "mklive-demo: persistence: $(awk '$2 == "/run/mklive/persist" { print $1, $3 }' /proc/mounts | grep . || echo none)"
echo "mklive-demo: iso-host: $(awk '$2 == "/run/mklive/iso-host" { print $1, $3 }' /proc/mounts | grep . || echo none)"
echo "mklive-demo: usb-storage delay_use: $(cat /sys/module/usb_storage/parameters/delay_use 2>/dev/null || echo none)"
# Read every file of the compressed image once; say how long it took.
readall() {
	t0=$(cut -d' ' -f1 /proc/uptime)
	if find /run/mklive/ro -type f -exec cat {} + >/dev/null 2>/tmp/readall.err && [ ! -s /tmp/readall.err ]; then
		r=ok
	else
		r="FAILED: $(head -n 3 /tmp/readall.err | tr '\n' ' ')"
	fi
	t1=$(cut -d' ' -f1 /proc/uptime)
	echo "mklive-demo: read-all $(awk "BEGIN { print $t1 - $t0 }") s, $(find /run/mklive/ro -type f | wc -l) files: $r"
}
if grep -q mklive-demo.readall /proc/cmdline; then
	# bench/boot.sh
	readall
fi
if grep -q mklive-demo.after-eject /proc/cmdline; then
	# tests/boot/toram.sh: wait (at most 120 s) until the CD is taken out,
	# then show that the system still reads its image. The drive is gone
	# when its size drops to 0 or opening it says that it has no medium.
	echo "mklive-demo: after-eject: waiting for the CD to be removed"
	cd_gone() {
		[ "$(cat /sys/block/sr0/size 2>/dev/null)" = 0 ] ||
			dd if=/dev/sr0 of=/dev/null bs=2048 count=1 2>&1 | grep -q 'No medium'
	}
	n=0
	while ! cd_gone && [ $n -lt 120 ]; do
		sleep 1
		n=$((n + 1))
	done
	if cd_gone; then
		echo "mklive-demo: after-eject: the CD is gone"
		readall
		echo "mklive-demo: after-eject: $(cat /home/user/hello.txt)"
	else
		echo "mklive-demo: after-eject: the CD is still there after $n s"
	fi
fi
tok=$(sed -n 's/.*mklive-demo\.persist=\([^ ]*\).*/\1/p' /proc/cmdline)
if [ -z "$tok" ] && [ -f /root/persist.txt ]; then
	# a boot from the medium's own menu, which names no token
	echo "mklive-demo: persist: found $(cat /root/persist.txt)"
elif [ -n "$tok" ]; then
	# tests/boot/persistence.sh: the first boot writes the token, later
	# boots show what they find
	if [ -f /root/persist.txt ]; then
		echo "mklive-demo: persist: found $(cat /root/persist.txt)"
	else
		echo "$tok" >/root/persist.txt
		sync
		# a clean filesystem for the host's fsck: nothing writes after this
		if e=$(mount -o remount,ro /run/mklive/persist 2>&1); then
			ro="read-only now"
		else
			ro="still read-write: $e"
		fi
		echo "mklive-demo: persist: wrote $tok; persistence filesystem $ro"
	fi
fi
echo "MKLIVE-BOOT-OK $(cat /proc/cmdline)"
echo "mklive-demo: the live system is up. Type 'poweroff -f' to stop."
while :; do
	setsid cttyhack sh -l
done
INIT
chmod 755 "$dest/sbin/init"
echo "$dest"
