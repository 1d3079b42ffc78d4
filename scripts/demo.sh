#!/bin/bash
# make demo: build out/demo.iso from a Debian kernel + busybox tree, boot it
# in QEMU as a CD and say whether the live system came up.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
mkdir -p out
echo "demo: making the demo root tree in out/demo-root (Debian kernel + busybox)"
scripts/demo-tree.sh out/demo-root >/dev/null
echo "demo: building out/demo.iso"
# UEFI: Debian's signed shim and GRUB from the host, or from mklive's cache,
# which demo-tree.sh filled through scripts/fetch-boot.sh (mklive fetch-efi).
build/mklive build --label MKLIVE_DEMO --timeout 3 --append "console=tty0 console=ttyS0" \
	out/demo-root -o out/demo.iso
echo "demo: booting out/demo.iso in QEMU (TCG, serial console) ..."
log=out/demo-boot.log
: >"$log"
found=1
start=$SECONDS
coproc Q { exec timeout 300 qemu-system-x86_64 -accel tcg -m 1024 -nographic -no-reboot \
	-monitor none -serial stdio -cdrom out/demo.iso 2>&1 </dev/null; }
qpid=$Q_PID
while IFS= read -r line <&"${Q[0]}"; do
	printf '%s\n' "$line" >>"$log"
	case $line in
	*mklive-demo:*|*"mklive: "*) printf '  | %s\n' "$line" | tr -d '\r' ;;
	esac
	case $line in *MKLIVE-BOOT-OK*) found=0; break ;; esac
done
kill "$qpid" 2>/dev/null || true
wait "$qpid" 2>/dev/null || true
if [ $found -eq 0 ]; then
	echo "demo: the live system came up in $((SECONDS - start)) s (log: $log)."
	echo "demo: try it yourself: qemu-system-x86_64 -m 1G -cdrom out/demo.iso"
	echo "demo: or every firmware and medium: build/mklive test --ovmf-dir $(scripts/fetch-boot.sh)/usr/share/OVMF out/demo.iso"
else
	echo "demo: the live system did not come up; see $log" >&2
	tail -n 20 "$log" >&2
	exit 1
fi
