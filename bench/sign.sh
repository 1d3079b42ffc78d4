#!/bin/bash
# Benchmark what signing costs (--sign-key/--sign-cert: dm-verity, the
# signed UKI, systemd-boot) against the same build without a key (shim and
# GRUB), both with UEFI from the same EFI files:
#  - build: the same tree, zstd at LEVEL, RUNS builds of each, in turn
#    (the machine may be shared: pairs run back to back), medians of wall
#    and CPU time, peak memory, the ISO's and the image's sizes;
#  - boot: the demo tree built both ways, booted as a CD on OVMF with
#    Secure Boot (db = Microsoft's keys and the certificate, written by
#    mklive test --db --vars-out), BOOTS times each in turn: QEMU start to
#    the kernel's "Run /init" and to the demo's real init's first line.
#
#   bench/sign.sh [TREE.tar]     default: the minbase tree (bench/make-tree.sh)
#   LEVEL=6 RUNS=5 BOOTS=3 bench/sign.sh
#   BOOTS=0 bench/sign.sh        the build only
#
# Record the results in bench/RESULTS.md.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tests/lib.sh"
. "$top/tests/boot/lib.sh"
. "$top/bench/lib.sh"
level=${LEVEL:-6}
runs=${RUNS:-5}
boots=${BOOTS:-3}
tar=${1:-$("$top/bench/make-tree.sh")}
efi=$(efi_root)
work=$(mktemp -d "${TMPDIR:-/var/tmp}/mklive-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/k.pem" -out "$work/c.pem" -days 3650 \
	-subj "/CN=mklive bench key" >/dev/null 2>&1
mkdir "$work/root"
tar --numeric-owner -C "$work/root" -xf "$tar"
tar -C "$work/root" -cf - . | cat >/dev/null	# the page cache warm for both
export SOURCE_DATE_EPOCH=1700000000
declare -A wall cpu kb
signing=(--sign-key "$work/k.pem" --sign-cert "$work/c.pem")

# one NAME ARGS...: a build of the tree; wall, CPU (user + system), peak RSS
one() {
	local name=$1 w u s m
	shift
	/usr/bin/time -f '%e %U %S %M' -o "$work/time" "$MKLIVE" build -q --level "$level" \
		--efi-root "$efi" "$@" "$work/root" -o "$work/$name.iso" >/dev/null
	read -r w u s m <"$work/time"
	wall[$name]+="$w "
	cpu[$name]+="$(echo "$u + $s" | bc -l) "
	kb[$name]=$m
}

median() { tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

one unsigned; one signed "${signing[@]}"	# warm-up, not counted
unset wall cpu
declare -A wall cpu
for _ in $(seq "$runs"); do
	one unsigned
	one signed "${signing[@]}"
done
img() {	# ISO: the size of its *.squashfs
	xorriso -indev "$1" -find /live -name '*.squashfs' -exec lsdl -- 2>/dev/null |
		awk '/squashfs/ { print $5; exit }'
}
echo "build: $(du -sm --apparent-size "$work/root" | cut -f1) MB tree, zstd-$level, $runs runs each in turn"
echo "| build | median wall s | runs | median CPU s | peak RSS MiB | ISO bytes | image bytes |"
echo "|---|---|---|---|---|---|---|"
for n in unsigned signed; do
	printf '| %s | %s | %s| %s | %d | %s | %s |\n' "$n" "$(median <<<"${wall[$n]}")" "${wall[$n]}" \
		"$(median <<<"${cpu[$n]}")" $((kb[$n] / 1024)) "$(stat -c %s "$work/$n.iso")" "$(img "$work/$n.iso")"
done
wu=$(median <<<"${wall[unsigned]}") ws=$(median <<<"${wall[signed]}")
cu=$(median <<<"${cpu[unsigned]}") cs=$(median <<<"${cpu[signed]}")
printf 'signed / unsigned: wall %.3f (target <= 1.05), CPU %.3f, image %.4f (target <= 1.01)\n' \
	"$(echo "$ws / $wu" | bc -l)" "$(echo "$cs / $cu" | bc -l)" \
	"$(echo "$(img "$work/signed.iso") / $(img "$work/unsigned.iso")" | bc -l)"
rm -rf "$work/root" "$work"/*.iso

[ "$boots" -gt 0 ] || exit 0
demo_iso >/dev/null
root=$top/build/test-demo/root
for n in unsigned signed; do
	extra=()
	[ $n = signed ] && extra=("${signing[@]}")
	"$MKLIVE" build -q --timeout 1 --level 3 --append "console=ttyS0" --efi-root "$efi" \
		"${extra[@]}" "$root" -o "$work/$n.iso"
done
ovmf=$(boot_cache)/usr/share/OVMF
"$MKLIVE" test --ovmf-dir "$ovmf" --db "$work/c.pem" --vars-out "$work/vars.fd"

# boot ISO: "TO-RUN-INIT TO-REAL-INIT" seconds from QEMU's start, or nothing
boot() {
	cp "$work/vars.fd" "$work/vars.run"
	boot_times -M q35,smm=on -global driver=cfi.pflash01,property=secure,value=on \
		-drive "if=pflash,format=raw,unit=0,readonly=on,file=$ovmf/OVMF_CODE_4M.secboot.fd" \
		-drive "if=pflash,format=raw,unit=1,file=$work/vars.run" -cdrom "$1"
}
declare -A to_init to_real
for _ in $(seq "$boots"); do
	for n in unsigned signed; do
		read -r a b < <(boot "$work/$n.iso") || true
		to_init[$n]+="${a:-} " to_real[$n]+="${b:-} "
	done
done
echo
echo "boot: the demo ISO as a CD, OVMF with Secure Boot, $boots boots each in turn"
echo "| boot | to \"Run /init\" s (median) | runs | to the real init s (median) | runs |"
echo "|---|---|---|---|---|"
for n in unsigned signed; do
	printf '| %s | %s | %s| %s | %s|\n' "$n" "$(median <<<"${to_init[$n]}")" "${to_init[$n]}" \
		"$(median <<<"${to_real[$n]}")" "${to_real[$n]}"
done
printf 'signed / unsigned to the real init: %.3f (target <= 1.05)\n' \
	"$(echo "$(median <<<"${to_real[signed]}") / $(median <<<"${to_real[unsigned]}")" | bc -l)"
