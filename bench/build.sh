#!/bin/bash
# Benchmark: mklive build against what a user would otherwise run on the
# same tree with the same settings: mksquashfs then xorriso, one after the
# other; and against the raw compression limit, zstd -T$(nproc) over a tar
# of the same tree. zstd at LEVEL, and (unless XZ=0) xz at its default
# level against mksquashfs -comp xz. Each tool runs RUNS times, interleaved
# (the machine may be shared: ratios come from the same runs); the table
# shows every run's wall time and the medians, peak memory and sizes.
#
#   bench/build.sh [TREE.tar]     default: a Debian 12 minbase + linux-image-amd64
#                                 tree made with mmdebstrap (bench/make-tree.sh)
#   LEVEL=6 BLOCK=131072 RUNS=3 XZ=1 bench/build.sh
#   BEFORE=/path/to/old/mklive bench/build.sh    also an older mklive (zstd), in the same runs
#   VERITY=1 bench/build.sh       also mklive --verity (the dm-verity tree), in the same runs
#                                 (the boot side: bench/boot.sh ISO with an ISO built --verity)
#
# Needs root to unpack the tree with its owners for mksquashfs (mklive itself
# needs no root). Record the results in bench/RESULTS.md.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
level=${LEVEL:-6}
block=${BLOCK:-131072}
runs=${RUNS:-3}
xz=${XZ:-1}
threads=$(nproc)
tar=${1:-$("$top/bench/make-tree.sh")}
work=$(mktemp -d "${TMPDIR:-/var/tmp}/mklive-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/root"
tar --numeric-owner --xattrs --xattrs-include='*' -C "$work/root" -xf "$tar"
# Warm the page cache so every tool reads from memory.
tar -C "$work/root" -cf - . | cat >/dev/null
tree_mb=$(du -sm --apparent-size "$work/root" | cut -f1)
tar --numeric-owner -C "$work/root" -cf "$work/tree.tar" .

declare -A wall cpu kb size
# NAME CMD...: wall seconds (appended to wall[NAME]), CPU seconds, user +
# system (cpu[NAME]: steadier than wall time on a shared machine), peak RSS
# (KB, the largest of the runs)
measure() {
	local name=$1 s k u y; shift
	/usr/bin/time -f '%e %M %U %S' -o "$work/$name.time" "$@" >/dev/null 2>"$work/$name.err" ||
		{ echo "bench: $name failed:" >&2; cat "$work/$name.err" >&2; exit 1; }
	read -r s k u y <"$work/$name.time"
	wall[$name]="${wall[$name]:-} $s"
	cpu[$name]="${cpu[$name]:-} $(echo "$u + $y" | bc -l)"
	[ "${kb[$name]:-0}" -ge "$k" ] || kb[$name]=$k
}
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
r() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }
mb() { echo $(( $1 / 1048576 )); }
sqfs_in_iso() { xorriso -indev "$1" -find /live/filesystem.squashfs -exec report_lba 2>/dev/null |
	awk -F' *, *' '/File data lba/ {print $4}'; }

kver=$(basename "$(ls -d "$work/root"/lib/modules/*/ | head -n 1)")
# xorriso gets the same ISO content mklive writes: isolinux, kernel, initrd, squashfs.
mkdir -p "$work/iso/isolinux" "$work/iso/live"
cp /usr/lib/ISOLINUX/isolinux.bin /usr/lib/syslinux/modules/bios/{ldlinux,menu,libutil,libcom32}.c32 "$work/iso/isolinux/"
cp "$work/root/boot/vmlinuz-$kver" "$work/iso/live/vmlinuz"
head -c 1400000 /dev/urandom >"$work/iso/live/initrd.img"
echo "DEFAULT live" >"$work/iso/isolinux/isolinux.cfg"
peer_iso() { # NAME SQUASHFS: xorriso over the ISO tree with that squashfs
	rm -f "$work/iso/live/filesystem.squashfs"
	ln "$2" "$work/iso/live/filesystem.squashfs"
	measure "$1" xorriso -as mkisofs -quiet -o "$work/$1.iso" -R -J -V MKLIVE \
		-b isolinux/isolinux.bin -c isolinux/boot.cat -no-emul-boot -boot-load-size 4 \
		-boot-info-table -isohybrid-mbr /usr/lib/ISOLINUX/isohdpfx.bin "$work/iso"
	rm -f "$work/$1.iso"
}

for run in $(seq "$runs"); do
	rm -f "$work/peer.sqfs"
	measure mksquashfs mksquashfs "$work/root" "$work/peer.sqfs" -noappend -comp zstd \
		-Xcompression-level "$level" -b "$block" -processors "$threads" -no-progress
	size[mksquashfs]=$(stat -c %s "$work/peer.sqfs")
	peer_iso xorriso "$work/peer.sqfs"
	measure zstd zstd -q -T"$threads" -"$level" -f "$work/tree.tar" -o "$work/tree.tar.zst"
	rm -f "$work/tree.tar.zst"
	rm -f "$work/mklive.iso"	# as the peers: no old output to replace
	# --uefi no: the peers' ISO boots BIOS only (isolinux), so the same work.
	measure mklive "$top/build/mklive" build -q --uefi no --level "$level" --block-size "$block" \
		--compressor zstd "$work/root" -o "$work/mklive.iso"
	size[mklive]=$(sqfs_in_iso "$work/mklive.iso")
	size[mklive_iso]=$(stat -c %s "$work/mklive.iso")
	if [ "${VERITY:-0}" = 1 ]; then
		rm -f "$work/verity.iso"
		measure verity "$top/build/mklive" build -q --uefi no --level "$level" --block-size "$block" \
			--compressor zstd --verity "$work/root" -o "$work/verity.iso"
		size[verity]=$(sqfs_in_iso "$work/verity.iso")
	fi
	if [ -n "${BEFORE:-}" ]; then
		rm -f "$work/before.iso"
		measure before "$BEFORE" build -q --uefi no --level "$level" --block-size "$block" \
			--compressor zstd "$work/root" -o "$work/before.iso"
		size[before]=$(sqfs_in_iso "$work/before.iso")
	fi
	if [ "$xz" = 1 ]; then
		rm -f "$work/peer.sqfs"
		measure mksquashfs_xz mksquashfs "$work/root" "$work/peer.sqfs" -noappend -comp xz \
			-b "$block" -processors "$threads" -no-progress
		size[mksquashfs_xz]=$(stat -c %s "$work/peer.sqfs")
		peer_iso xorriso_xz "$work/peer.sqfs"
		rm -f "$work/mklive-xz.iso"
		measure mklive_xz "$top/build/mklive" build -q --uefi no --block-size "$block" \
			--compressor xz "$work/root" -o "$work/mklive-xz.iso"
		size[mklive_xz]=$(sqfs_in_iso "$work/mklive-xz.iso")
	fi
done

declare -A med cmed
for n in "${!wall[@]}"; do med[$n]=$(median "${wall[$n]}"); cmed[$n]=$(median "${cpu[$n]}"); done
row() { printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "${wall[$2]# }" "${med[$2]}" "${cmed[$2]}" \
	"$((kb[$2] / 1024))" "$3"; }
cat <<R
tree: $tree_mb MB ($(basename "$tar")), block $block, $threads threads, $(nproc) cores, $runs runs, $(date -u +%F)
| tool | wall s (each run) | median wall s | median CPU s | peak RSS MB | output MB |
|---|---|---|---|---|---|
R
row "mksquashfs zstd-$level" mksquashfs "$(mb "${size[mksquashfs]}") squashfs"
row "xorriso" xorriso "-"
row "zstd -T$threads -$level (tar)" zstd "-"
row "mklive build zstd-$level" mklive "$(mb "${size[mklive]}") squashfs, $(mb "${size[mklive_iso]}") ISO"
[ -z "${BEFORE:-}" ] || row "before: $BEFORE zstd-$level" before "$(mb "${size[before]}") squashfs"
[ "${VERITY:-0}" != 1 ] || row "mklive build zstd-$level --verity" verity "$(mb "${size[verity]}") squashfs with its hash tree"
if [ "$xz" = 1 ]; then
	row "mksquashfs xz" mksquashfs_xz "$(mb "${size[mksquashfs_xz]}") squashfs (${size[mksquashfs_xz]} B)"
	row "xorriso (xz image)" xorriso_xz "-"
	row "mklive build xz" mklive_xz "$(mb "${size[mklive_xz]}") squashfs (${size[mklive_xz]} B)"
fi
peer=$(echo "${med[mksquashfs]} + ${med[xorriso]}" | bc -l)
cat <<R

zstd-$level: mklive / (mksquashfs + xorriso) wall: $(r "${med[mklive]}" "$peer")   (target <= 0.8)
zstd-$level: mklive / zstd -T$threads limit wall:       $(r "${med[mklive]}" "${med[zstd]}")   (target <= 1.0)
zstd-$level: the same, CPU s (peers / limit):      $(r "${cmed[mklive]}" "$(echo "${cmed[mksquashfs]} + ${cmed[xorriso]}" | bc -l)") / $(r "${cmed[mklive]}" "${cmed[zstd]}")
zstd-$level: mklive / mksquashfs peak memory:      $(r "${kb[mklive]}" "${kb[mksquashfs]}")   (target <= 0.10)
R
[ "${VERITY:-0}" != 1 ] || echo "--verity: wall $(r "${med[verity]}" "${med[mklive]}") of without (target <= 1.05), image $(r "${size[verity]}" "${size[mklive]}") (target <= 1.01)"
if [ "$xz" = 1 ]; then
	peer=$(echo "${med[mksquashfs_xz]} + ${med[xorriso_xz]}" | bc -l)
	cat <<R
xz:     mklive / (mksquashfs + xorriso) wall: $(r "${med[mklive_xz]}" "$peer")   (target <= 0.8)
xz:     the same, CPU s:                      $(r "${cmed[mklive_xz]}" "$(echo "${cmed[mksquashfs_xz]} + ${cmed[xorriso_xz]}" | bc -l)")
xz:     mklive / mksquashfs squashfs size:    $(printf '%.4f' "$(echo "${size[mklive_xz]} / ${size[mksquashfs_xz]}" | bc -l)")   (target <= 1.0)
xz:     mklive / mksquashfs peak memory:      $(r "${kb[mklive_xz]}" "${kb[mksquashfs_xz]}")   (target <= 0.10)
R
fi
