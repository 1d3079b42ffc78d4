#!/bin/bash
# Build the Debian example (examples/debian/mklive.conf, a recipe):
#
#   examples/debian/build.sh [OUTPUT.iso]        (or: make debian-demo)
#
# mklive runs mmdebstrap for the recipe and builds the hybrid ISO (BIOS and
# UEFI with Secure Boot, CD and USB) from the tar it streams; packages are
# kept in ~/.cache/mklive/packages. UEFI: Debian's signed shim and GRUB from
# the host when installed (shim-signed, grub-efi-amd64-signed), else from
# mklive's cache, where a recipe build fetches them along with its packages
# when they are not there yet (as mklive fetch-efi does: apt-get download
# and dpkg -x, nothing installed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
out=${1:-debian-live.iso}
mklive=${MKLIVE:-$top/build/mklive}
command -v mmdebstrap >/dev/null || { echo "$0: mmdebstrap is missing (apt-get install mmdebstrap)" >&2; exit 1; }
"$mklive" build -c "$here/mklive.conf" -o "$out"
