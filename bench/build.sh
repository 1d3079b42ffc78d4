#!/bin/bash
# Benchmark: mklive build against what a user would otherwise run on the
# same tree with the same settings: mksquashfs then xorriso, one after the
# other; and against the raw compression limit, zstd -T0 over a tar of the
# same tree. Prints wall times, peak memory and the ratios.
#
#   bench/build.sh [TREE.tar]     default: a Debian 12 minbase + linux-image-amd64
#                                 tree made with mmdebstrap (bench/make-tree.sh)
#   LEVEL=6 BLOCK=131072 bench/build.sh
#
# Needs root to unpack the tree with its owners for mksquashfs (mklive itself
# needs no root). Record the results in bench/RESULTS.md.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
level=${LEVEL:-6}
block=${BLOCK:-131072}
threads=$(nproc)
tar=${1:-$("$top/bench/make-tree.sh")}
work=$(mktemp -d "${TMPDIR:-/var/tmp}/mklive-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/root"
tar --numeric-owner --xattrs --xattrs-include='*' -C "$work/root" -xf "$tar"
# Warm the page cache so every tool reads from memory.
tar -C "$work/root" -cf - . | cat >/dev/null
tree_mb=$(du -sm --apparent-size "$work/root" | cut -f1)

measure() { # NAME CMD...: wall seconds and peak RSS (KB) into $NAME_s, $NAME_kb
	local name=$1; shift
	/usr/bin/time -f '%e %M' -o "$work/$name.time" "$@" >/dev/null 2>"$work/$name.err" ||
		{ echo "bench: $name failed:" >&2; cat "$work/$name.err" >&2; exit 1; }
	read -r s kb <"$work/$name.time"
	printf -v "${name}_s" '%s' "$s"
	printf -v "${name}_kb" '%s' "$kb"
}

kver=$(basename "$(ls -d "$work/root"/lib/modules/*/ | head -n 1)")
measure mksquashfs mksquashfs "$work/root" "$work/peer.sqfs" -noappend -comp zstd \
	-Xcompression-level "$level" -b "$block" -processors "$threads" -no-progress
# xorriso gets the same ISO content mklive writes: isolinux, kernel, initrd, squashfs.
mkdir -p "$work/iso/isolinux" "$work/iso/live"
cp /usr/lib/ISOLINUX/isolinux.bin /usr/lib/syslinux/modules/bios/{ldlinux,menu,libutil,libcom32}.c32 "$work/iso/isolinux/"
cp "$work/root/boot/vmlinuz-$kver" "$work/iso/live/vmlinuz"
head -c 1400000 /dev/urandom >"$work/iso/live/initrd.img"
ln "$work/peer.sqfs" "$work/iso/live/filesystem.squashfs"
echo "DEFAULT live" >"$work/iso/isolinux/isolinux.cfg"
measure xorriso xorriso -as mkisofs -quiet -o "$work/peer.iso" -R -J -V MKLIVE \
	-b isolinux/isolinux.bin -c isolinux/boot.cat -no-emul-boot -boot-load-size 4 \
	-boot-info-table -isohybrid-mbr /usr/lib/ISOLINUX/isohdpfx.bin "$work/iso"
tar --numeric-owner -C "$work/root" -cf "$work/tree.tar" .
measure zstd zstd -q -T0 -"$level" -f "$work/tree.tar" -o "$work/tree.tar.zst"
rm -f "$work/tree.tar" "$work/tree.tar.zst"
measure mklive "$top/build/mklive" build -q --level "$level" --block-size "$block" \
	--compressor zstd "$work/root" -o "$work/mklive.iso"

peer_s=$(echo "$mksquashfs_s + $xorriso_s" | bc -l)
r() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }
cat <<R
tree: $tree_mb MB ($(basename "$tar")), zstd level $level, block $block, $threads threads, $(nproc) cores
| tool | wall s | peak RSS MB | output MB |
|---|---|---|---|
| mksquashfs | $mksquashfs_s | $((mksquashfs_kb / 1024)) | $(($(stat -c %s "$work/peer.sqfs") / 1048576)) |
| xorriso | $xorriso_s | $((xorriso_kb / 1024)) | $(($(stat -c %s "$work/peer.iso") / 1048576)) |
| zstd -T0 -$level (tar) | $zstd_s | $((zstd_kb / 1024)) | - |
| mklive build | $mklive_s | $((mklive_kb / 1024)) | $(($(stat -c %s "$work/mklive.iso") / 1048576)) |

mklive / (mksquashfs + xorriso) wall: $(r "$mklive_s" "$peer_s")   (target <= 0.8)
mklive / zstd limit wall:             $(r "$mklive_s" "$zstd_s")   (target <= 1.15)
mklive / mksquashfs peak memory:      $(r "$mklive_kb" "$mksquashfs_kb")   (target <= 0.10)
R
