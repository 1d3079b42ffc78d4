#!/bin/bash
# Build a Debian 12 live ISO from Debian's packages, the way a user would:
#
#   examples/debian/build.sh [OUTPUT.iso]        (or: make debian-demo)
#
# 1. mmdebstrap makes the root tree as a tar (minbase, systemd, udev, autofs,
#    a kernel), with a few customisations for a live system (below). It runs
#    once; the tar is kept in ~/.cache/mklive/debian-example/ and made again
#    when the suite, the package list or the customisations change.
# 2. mklive build turns the tar into a hybrid ISO (BIOS and UEFI with Secure
#    Boot, CD and USB) with the settings in mklive.conf beside this script.
#
# The live system: hostname mklive-debian, root without a password (a live
# system: anyone at the keyboard owns it anyway), a login prompt on tty1 and
# on the serial console (systemd starts one on every console the kernel
# command line names), autofs running.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
out=${1:-debian-live.iso}
mklive=${MKLIVE:-$top/build/mklive}
cache=${MKLIVE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mklive}/debian-example
suite=bookworm
packages=linux-image-amd64,systemd-sysv,udev,kmod,autofs,procps,iproute2,less

mkdir -p "$cache"
# What the tree is made of; the cached tar is keyed by it.
hooks=(
	'echo mklive-debian >"$1/etc/hostname"'
	'printf "127.0.0.1\tlocalhost\n127.0.1.1\tmklive-debian\n" >"$1/etc/hosts"'
	'chroot "$1" passwd --delete root >/dev/null'
	': >"$1/etc/machine-id"'
	'rm -f "$1/var/lib/dbus/machine-id"'
)
key=$(printf '%s\n' "$suite" "$packages" "${hooks[@]}" | sha256sum | cut -c1-16)
tar=$cache/$suite-$key.tar
if [ ! -s "$tar" ]; then
	command -v mmdebstrap >/dev/null || { echo "$0: mmdebstrap is missing (apt-get install mmdebstrap)" >&2; exit 1; }
	echo "debian example: making the root tree with mmdebstrap ($suite: $packages)" >&2
	rm -f "$cache"/*.tar.partial
	args=()
	for h in "${hooks[@]}"; do args+=(--customize-hook="$h"); done
	mmdebstrap --variant=minbase --format=tar --include="$packages" "${args[@]}" \
		"$suite" "$tar.partial" >&2
	mv "$tar.partial" "$tar"
	# Older trees of this example are of no more use.
	find "$cache" -name "$suite-*.tar" ! -name "$(basename "$tar")" -delete
fi
# UEFI and Secure Boot: Debian's signed shim and GRUB. mklive build takes them
# from the host when installed (shim-signed, grub-efi-amd64-signed), else from
# its cache, which mklive fetch-efi fills from Debian's archive (apt-get
# download and dpkg -x: nothing is installed).
if [ ! -f /usr/lib/shim/shimx64.efi.signed ] || [ ! -f /usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed ]; then
	"$mklive" fetch-efi >/dev/null
fi
"$mklive" build -c "$here/mklive.conf" "$tar" -o "$out"
