#!/bin/sh
# Fetch the boot pieces the demo and the boot tests use: a Debian kernel with its modules,
# a static busybox, OVMF (UEFI firmware), and memtest86+ (a bzImage small enough for the
# legacy boot floppy's tests). They come from Debian's archive with `apt-get download` and
# are unpacked with `dpkg -x` into mklive's cache (CACHE: $MKLIVE_CACHE, else
# $XDG_CACHE_HOME/mklive, else ~/.cache/mklive, as mklive fetch-efi says), no root needed:
#   CACHE/debian/  (boot/vmlinuz-*, lib/modules/*,
#   bin/busybox, usr/share/OVMF, boot/memtest86+x64.bin)
# Debian's signed shim and GRUB, which every build that boots UEFI needs, go where mklive
# build looks for them, the cache's efi/: this runs `mklive fetch-efi` (MKLIVE, default
# build/mklive: run make first).
# Prints the debian/ directory on stdout.
set -eu
mklive=${MKLIVE:-$(cd "$(dirname "$0")/.." && pwd)/build/mklive}

if [ ! -x "$mklive" ]; then
	echo "fetch-boot: no $mklive to fetch Debian's signed shim and GRUB with (run make first)" >&2
	exit 1
fi
# mklive says where its cache is (CACHE/efi); the rest goes beside.
efi=$("$mklive" fetch-efi -q)
cache=${efi%/efi}
root=$cache/debian
stamp=$root/.complete-3
if [ -f "$stamp" ]; then
	echo "$root"
	exit 0
fi

mkdir -p "$cache/debs"
cd "$cache/debs"
# The kernel package that linux-image-amd64 points at today (a versioned name).
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n 1)
if [ -z "$kpkg" ]; then
	echo "fetch-boot: cannot find the kernel package behind linux-image-amd64 (run apt-get update?)" >&2
	exit 1
fi
# OVMF: UEFI firmware for the tests (shim and GRUB: mklive fetch-efi, above).
for p in "$kpkg" busybox-static ovmf memtest86+; do
	if ! ls "${p}"_*.deb >/dev/null 2>&1; then
		echo "fetch-boot: downloading $p" >&2
		apt-get download -q "$p" >&2
	fi
done
rm -rf "$root.tmp"
mkdir -p "$root.tmp"
for d in "${kpkg}"_*.deb busybox-static_*.deb ovmf_*.deb memtest86+_*.deb; do
	dpkg -x "$d" "$root.tmp"
done
rm -rf "$root"
mv "$root.tmp" "$root"
touch "$stamp"
echo "$root"
