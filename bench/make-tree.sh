#!/bin/bash
# Make (once) the benchmark tree: Debian 12 minbase with a kernel and systemd,
# as a tar, with mmdebstrap from Debian's archive. Prints its path.
set -euo pipefail
cache=${MKLIVE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mklive}/bench
tar=$cache/bookworm-minbase.tar
mkdir -p "$cache"
if [ ! -s "$tar" ]; then
	command -v mmdebstrap >/dev/null || apt-get install -y -qq mmdebstrap >&2
	mmdebstrap --variant=minbase --include=linux-image-amd64,systemd-sysv bookworm "$cache/partial.tar" >&2
	mv "$cache/partial.tar" "$tar"
fi
echo "$tar"
