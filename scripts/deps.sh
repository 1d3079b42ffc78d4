#!/bin/sh
# Install the Debian packages mklive needs to build (and, with "check", to test).
#   scripts/deps.sh          build dependencies
#   scripts/deps.sh check    build + test dependencies (readers we did not write, QEMU)
#   scripts/deps.sh bench    and the tools bench/ compares against (live-build)
#   scripts/deps.sh missing [build|check]   only print the missing packages, one
#                            line, and exit 1 when there are any (what make uses)
# Runs apt-get only when something is missing; needs root (or sudo) only then.
set -eu

build_pkgs="gcc make pkg-config libsquashfs-dev libisofs-dev libarchive-dev libzstd-dev
liblzma-dev liblz4-dev zlib1g-dev musl-tools libext2fs-dev libssl-dev"
check_pkgs="squashfs-tools xorriso sbsigntool openssl cpio libarchive-tools qemu-system-x86 isolinux
syslinux-common zstd xz-utils kmod file attr genisoimage bc time fdisk
dosfstools mtools cloop-utils qemu-utils e2fsprogs genext2fs gdb
clang libclang-rt-14-dev clang-tidy cppcheck valgrind mmdebstrap uidmap gdisk python3 groff-base
cryptsetup-bin"

report=
if [ "${1:-}" = missing ]; then
	report=1
	shift
fi
want=$build_pkgs
case "${1:-build}" in
	build) ;;
	check|demo) want="$build_pkgs $check_pkgs" ;;
	bench) want="$build_pkgs $check_pkgs live-build" ;;
	*) echo "usage: $0 [build|check|demo|bench]" >&2; exit 2 ;;
esac

missing=
for p in $want; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0
if [ -n "$report" ]; then
	echo "${missing# }"
	exit 1
fi

echo "deps: installing$missing" >&2
sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >&2
