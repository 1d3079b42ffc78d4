#!/bin/bash
# The root modes and image formats of issue 3, booted: symlink mode (tmpfs
# root, read-only dirs linked to the image on /ro) with a squashfs image and
# with a cloop image served through nbd, and overlay mode with cloop (ISO
# 9660 payload, and ext2: cloop-ext2, which keeps hard links). The
# booted system's own init reports what it sees.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
t_tmpdir

require_qemu
demo_iso >/dev/null || { fail "building the demo tree"; t_done; exit 1; }
root=$TOP/build/test-demo/root

boot_variant() { # NAME ROOTFS USR IMAGE BUILD-ARGS...
	local name=$1 rootfs=$2 usr=$3 image=$4
	shift 4
	if ! "$MKLIVE" build -q --timeout 1 --append console=ttyS0 "$@" "$root" -o "$T/$name.iso" 2>"$T/err"; then
		fail "$name: build: $(cat "$T/err")"
		return
	fi
	if boot_wait "$T/$name.log" MKLIVE-BOOT-OK -cdrom "$T/$name.iso"; then
		ok "$name: boots to the live system's init in ${BOOT_SECONDS}s"
		check "$name: root filesystem is $rootfs" grep -q "root filesystem: $rootfs" "$T/$name.log"
		check "$name: /usr is $usr" grep -q "/usr is $usr" "$T/$name.log"
		check "$name: image on /run/mklive/ro is $image" grep -q "image: $image" "$T/$name.log"
		check "$name: owner, mode, mtime kept" grep -q 'hello.txt: 1000:1000 644 981173106' "$T/$name.log"
		check "$name: setuid bit kept" grep -q 'setuid-example: 4755' "$T/$name.log"
		check "$name: the root is writable" grep -q 'writable root: ok' "$T/$name.log"
		check "$name: files read from the image" grep -q 'read [1-9][0-9]* bytes from the image' "$T/$name.log"
		case $image in *ext2|*squashfs)	# payloads that keep hard links
			check "$name: a hard link is one inode with 2 links" grep -Eq 'setuid-example: 4755 2([^0-9]|$)' "$T/$name.log" ;;
		esac
		case $image in */dev/nbd*)
			check "$name: the nbd server runs on after switch_root, as @mklive-nbd (spared at shutdown)" \
				grep -q 'nbd server processes: [1-9]' "$T/$name.log" ;;
		esac
	else
		fail "$name: no marker"; tail -n 25 "$T/$name.log"
	fi
	rm -f "$T/$name.iso"
}

boot_variant symlink-squashfs tmpfs "a link to /ro/usr" "/dev/loop0 squashfs" --level 1 --root-mode symlink
boot_variant symlink-cloop tmpfs "a link to /ro/usr" "/dev/nbd0 iso9660" --root-mode symlink --image-format cloop --level 1
boot_variant overlay-cloop overlay "a directory" "/dev/nbd0 iso9660" --image-format cloop --level 1
boot_variant overlay-cloop-ext2 overlay "a directory" "/dev/nbd0 ext2" --image-format cloop-ext2 --level 1
t_done
