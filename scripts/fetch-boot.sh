#!/bin/sh
# Fetch the boot pieces the demo and the boot tests use: a Debian kernel with its modules,
# a static busybox, Debian's signed shim and GRUB, OVMF (UEFI firmware), and memtest86+
# (a bzImage small enough for the legacy boot floppy's tests). They come from Debian's archive with `apt-get download` and are
# unpacked with `dpkg -x` into a cache, no root needed:
#   ${MKLIVE_CACHE:-~/.cache/mklive}/debian/  (boot/vmlinuz-*, lib/modules/*, bin/busybox,
#   usr/lib/shim, usr/lib/grub/x86_64-efi-signed, usr/share/OVMF, boot/memtest86+x64.bin)
# Prints the cache directory on stdout.
set -eu
cache=${MKLIVE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mklive}
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
# UEFI: Debian's signed shim and GRUB, and OVMF firmware for the tests.
efi_pkgs="grub-efi-amd64-signed shim-signed ovmf"
for p in "$kpkg" busybox-static $efi_pkgs memtest86+; do
	if ! ls "${p}"_*.deb >/dev/null 2>&1; then
		echo "fetch-boot: downloading $p" >&2
		apt-get download -q "$p" >&2
	fi
done
rm -rf "$root.tmp"
mkdir -p "$root.tmp"
for d in "${kpkg}"_*.deb busybox-static_*.deb grub-efi-amd64-signed_*.deb shim-signed_*.deb ovmf_*.deb \
	memtest86+_*.deb; do
	dpkg -x "$d" "$root.tmp"
done
rm -rf "$root"
mv "$root.tmp" "$root"
touch "$stamp"
echo "$root"
