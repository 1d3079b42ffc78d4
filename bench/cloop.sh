#!/bin/bash
# mklive cloop create against cloop-utils' create_compressed_fs on the same
# ISO 9660 payload (~700 MB, made by xorriso from the Debian tree in
# $BENCH_TAR), same block size (64 KiB) and zlib level 9. Prints wall times,
# sizes and ratios; both images are checked to extract to the same bytes.
#   bench/cloop.sh [WORKDIR]     (default: a temp dir, removed at the end)
# Needs: cloop-utils (create_compressed_fs, extract_compressed_fs), xorriso.
set -eu
TOP=$(cd "$(dirname "$0")/.." && pwd)
MKLIVE=${MKLIVE:-$TOP/build/mklive}
BENCH_TAR=${BENCH_TAR:-/root/.cache/mklive/bench/bookworm-minbase.tar}
W=${1:-}
if [ -z "$W" ]; then
	W=$(mktemp -d "${TMPDIR:-/tmp}/mklive-bench-cloop.XXXXXX")
	trap 'rm -rf "$W"' EXIT
fi
for t in create_compressed_fs extract_compressed_fs xorriso; do
	command -v $t >/dev/null || { echo "bench/cloop.sh: $t missing (apt-get install cloop-utils xorriso)" >&2; exit 1; }
done
[ -f "$BENCH_TAR" ] || { echo "bench/cloop.sh: no $BENCH_TAR" >&2; exit 1; }

if [ ! -s "$W/payload.iso" ]; then
	mkdir -p "$W/tree"
	tar -xpf "$BENCH_TAR" -C "$W/tree" --numeric-owner 2>/dev/null || true
	xorriso -as mkisofs -quiet -R -o "$W/payload.iso" "$W/tree" 2>/dev/null
	rm -rf "$W/tree"
fi
in=$W/payload.iso
insz=$(stat -c %s "$in")

now() { date +%s.%N; }
t0=$(now); create_compressed_fs -q -B 65536 -L 9 "$in" "$W/ccfs.cloop" >/dev/null 2>&1; t1=$(now)
"$MKLIVE" cloop create --block-size 65536 --level 9 "$in" "$W/mklive.cloop"; t2=$(now)
"$MKLIVE" cloop create --block-size 65536 --level 9 --compat "$in" "$W/compat.cloop"; t3=$(now)

a=$(stat -c %s "$W/ccfs.cloop"); b=$(stat -c %s "$W/mklive.cloop"); c=$(stat -c %s "$W/compat.cloop")
ta=$(echo "$t1 - $t0" | bc); tb=$(echo "$t2 - $t1" | bc); tc=$(echo "$t3 - $t2" | bc)
same=$(cmp -s "$W/ccfs.cloop" "$W/compat.cloop" && echo yes || echo no)
ha=$(extract_compressed_fs "$W/mklive.cloop" - 2>/dev/null | sha256sum | cut -c1-16)
hb=$(extract_compressed_fs "$W/ccfs.cloop" - 2>/dev/null | sha256sum | cut -c1-16)

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "payload: ISO 9660 + RR of $(basename "$BENCH_TAR"), $insz bytes"
printf '%-34s %8s s %12s bytes\n' "create_compressed_fs -B 65536 -L 9" "$ta" "$a"
printf '%-34s %8s s %12s bytes\n' "mklive cloop create (default)" "$tb" "$b"
printf '%-34s %8s s %12s bytes\n' "mklive cloop create --compat" "$tc" "$c"
echo "speed-up (default): $(echo "scale=2; $ta / $tb" | bc)x, size ratio $(echo "scale=4; $b / $a" | bc)"
echo "speed-up (--compat): $(echo "scale=2; $ta / $tc" | bc)x, size ratio $(echo "scale=4; $c / $a" | bc), byte-identical: $same"
echo "extract_compressed_fs of both: $([ "$ha" = "$hb" ] && echo same bytes || echo DIFFERENT)"
