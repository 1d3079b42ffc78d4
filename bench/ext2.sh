#!/bin/bash
# mklive ext2 against genext2fs and mke2fs -d (e2fsprogs) on the same tree,
# same block size (4 KiB), same block and inode counts (mklive's, sized to
# the content), no reserved blocks. Each tool runs RUNS times (default 3);
# prints the median wall time, the peak RSS of that run, the image size,
# blocks in use and the ratios; every image must pass e2fsck -fn.
#   bench/ext2.sh [TREE.tar [SUBDIR]]
#       TREE.tar  default: the bench tree of bench/make-tree.sh when it is
#                 cached, else a copy of /usr/share
#       SUBDIR    only this directory of the tar: a small tree, e.g.
#                 usr/lib/x86_64-linux-gnu (78 MB of the bench tree), where
#                 start-up costs show
#   RUNS=5 TOOLS="mklive genext2fs" bench/ext2.sh ...
# Needs: genext2fs, e2fsprogs, /usr/bin/time. Record the results in
# bench/RESULTS.md.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
MKLIVE=${MKLIVE:-$top/build/mklive}
RUNS=${RUNS:-3}
TOOLS=${TOOLS:-mklive mke2fs genext2fs}
cache=${MKLIVE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mklive}/bench
tar=${1:-$cache/bookworm-minbase.tar}
sub=${2:-}
for t in genext2fs mke2fs e2fsck dumpe2fs /usr/bin/time; do
	command -v $t >/dev/null || { echo "bench/ext2.sh: $t missing (apt-get install genext2fs e2fsprogs time)" >&2; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/var/tmp}/mklive-bench-ext2.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/root"
if [ -f "$tar" ]; then
	what="$(basename "$tar")${sub:+:$sub}"
	tar --numeric-owner --xattrs --xattrs-include='*' -C "$work/root" -xf "$tar" ${sub:+"./$sub"}
else
	what="a copy of /usr/share (no $tar)"
	cp -a /usr/share/. "$work/root/"
fi
# Warm the page cache so every tool reads from memory.
tar -C "$work/root" -cf - . | cat >/dev/null
entries=$(find "$work/root" | wc -l)
tree_mb=$(du -sm --apparent-size "$work/root" | cut -f1)
export SOURCE_DATE_EPOCH=1700000000 E2FSPROGS_FAKE_TIME=1700000000

measure() { # NAME CMD...: median wall seconds of RUNS and that run's peak RSS (KB) into $NAME_s, $NAME_kb
	local name=$1 i; shift
	for ((i = 0; i < RUNS; i++)); do
		rm -f "$work/$name.img"	# every run writes a new file, as the first one did
		/usr/bin/time -f '%e %M' -o "$work/$name.time" "$@" >/dev/null 2>"$work/$name.err" ||
			{ echo "bench: $name failed:" >&2; cat "$work/$name.err" >&2; exit 1; }
		cat "$work/$name.time" >>"$work/$name.times"
	done
	read -r s kb < <(sort -n "$work/$name.times" | sed -n "$(( (RUNS + 1) / 2 ))p")
	printf -v "${name}_s" '%s' "$s"
	printf -v "${name}_kb" '%s' "$kb"
	printf -v "${name}_all" '%s' "$(cut -d' ' -f1 "$work/$name.times" | tr '\n' ' ')"
}
field() { dumpe2fs -h "$1" 2>/dev/null | sed -n "s/^$2: *//p"; }

measure mklive "$MKLIVE" ext2 -b 4096 "$work/root" -o "$work/mklive.img"
blocks=$(field "$work/mklive.img" 'Block count')
inodes=$(field "$work/mklive.img" 'Inode count')
case " $TOOLS " in *" mke2fs "*)
	measure mke2fs mke2fs -q -F -t ext2 -b 4096 -I 256 -N "$inodes" -m 0 -d "$work/root" "$work/mke2fs.img" "$blocks" ;;
esac
case " $TOOLS " in *" genext2fs "*)
	measure genext2fs genext2fs -B 4096 -b "$blocks" -N "$inodes" -m 0 -d "$work/root" "$work/genext2fs.img" ;;
esac

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "tree: $what, $entries entries, $tree_mb MB; 4 KiB blocks, $blocks blocks, $inodes inodes; median of $RUNS runs"
printf '%-12s %8s %10s %14s %12s %-11s %s\n' tool "wall s" "max RSS KB" "image bytes" "used blocks" "e2fsck -fn" "all runs (s)"
for t in $TOOLS; do
	img=$work/$t.img
	if e2fsck -fn "$img" >"$work/$t.fsck" 2>&1; then fsck=clean; else fsck="NOT CLEAN (rc $?)"; fi
	used=$(( $(field "$img" 'Block count') - $(field "$img" 'Free blocks') ))
	s=${t}_s kb=${t}_kb all=${t}_all
	printf '%-12s %8s %10s %14s %12s %-11s %s\n' "$t" "${!s}" "${!kb}" "$(stat -c %s "$img")" "$used" "$fsck" "${!all}"
done
for t in $TOOLS; do
	[ "$t" = mklive ] && continue
	s=${t}_s
	echo "speed-up over $t: $(echo "scale=2; ${!s} / $mklive_s" | bc)x"
done
