#!/bin/bash
# Benchmark the boot path: the initramfs size, and the initramfs phase —
# from the kernel's "Run /init as init process" to the first line the real
# init prints after switch_root — under QEMU TCG, timed on the host as the
# serial lines arrive. Boots the demo ISO as CD, as USB stick and as virtio
# disk, BENCH_RUNS times each (default 3), and shows the median and the
# range: on a shared machine one run can be off by half a second.
#   bench/boot.sh [ISO]      default: builds the demo ISO (build/test-demo/demo.iso)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tests/lib.sh"
. "$top/tests/boot/lib.sh"
. "$top/bench/lib.sh"
iso=${1:-$(demo_iso)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
xorriso -osirrox on -indev "$iso" -extract /live/initrd.img "$work/initrd.img" >/dev/null 2>&1
size=$(stat -c %s "$work/initrd.img")

runs=${BENCH_RUNS:-3}

# once QEMU-ARGS...: one boot; prints "PHASE TOTAL" seconds, or nothing
once() {
	local a b
	read -r a b < <(boot_times "$@") || return 0
	printf '%.2f %.2f\n' "$(echo "$b - $a" | bc -l)" "$b"
}

# phase NAME QEMU-ARGS...: a table row, medians of $runs boots
phase() {
	local name=$1 out
	shift
	out=$(for _ in $(seq "$runs"); do once "$@"; done | sort -n)
	if [ -z "$out" ]; then
		echo "| $name | did not boot | | |"
		return
	fi
	printf '| %s | %s | %s–%s | %s |\n' "$name" \
		"$(echo "$out" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')" \
		"$(echo "$out" | head -n 1 | cut -d' ' -f1)" "$(echo "$out" | tail -n 1 | cut -d' ' -f1)" \
		"$(echo "$out" | sort -k2 -n | awk '{ a[NR] = $2 } END { print a[int((NR + 1) / 2)] }')"
}

echo "initramfs: $size bytes ($(echo "scale=2; $size / 1048576" | bc) MiB), target <= 1.5 MB"
echo "| medium | initramfs phase s, median of $runs (target <= 1.0) | range | QEMU start to live system s |"
echo "|---|---|---|---|"
phase "CD (-cdrom, IDE)" -cdrom "$iso"
phase "USB (qemu-xhci, usb-storage)" -device qemu-xhci \
	-drive if=none,id=stick,format=raw,readonly=on,file="$iso" -device usb-storage,drive=stick,bootindex=1
phase "virtio disk" -drive if=virtio,format=raw,readonly=on,file="$iso"

# Reading the whole image once in the booted system: squashfs (loop) against
# cloop (ISO 9660 through the init's nbd server), same tree.
readall() { # NAME ISO
	local name=$1 img=$2 line t=
	xorriso -osirrox on -indev "$img" -extract /live/vmlinuz "$work/vmlinuz" \
		-extract /live/initrd.img "$work/initrd" >/dev/null 2>&1
	coproc R { exec timeout 600 qemu-system-x86_64 -accel tcg -m 1024 -nographic -no-reboot \
		-monitor none -serial stdio -kernel "$work/vmlinuz" -initrd "$work/initrd" \
		-append "console=ttyS0 mklive-demo.readall" -cdrom "$img" 2>&1 </dev/null; }
	local rpid=$R_PID
	while IFS= read -r line <&"${R[0]}"; do
		case $line in *"read-all "*) t=${line##*read-all }; t=${t%% s*}; break ;; esac
	done
	kill "$rpid" 2>/dev/null || true
	wait "$rpid" 2>/dev/null || true
	echo "| $name | ${t:-failed} |"
}
if [ -z "${1:-}" ]; then
	root=$top/build/test-demo/root
	"$top/build/mklive" build -q --timeout 1 "$root" -o "$work/sq.iso"
	"$top/build/mklive" build -q --timeout 1 --image-format cloop "$root" -o "$work/cl.iso"
	echo
	echo "| image (demo tree, $(du -sm "$root" | cut -f1) MB) | find /run/mklive/ro -type f | xargs cat, s |"
	echo "|---|---|"
	readall "squashfs (zstd, loop)" "$work/sq.iso"
	readall "cloop (zlib V2.0, ISO 9660 via nbd)" "$work/cl.iso"
fi
