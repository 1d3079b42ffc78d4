#!/bin/bash
# Benchmark: the XFCE recipe (examples/xfce.conf) against live-build on the
# same package list, the way a user would run each:
#   - build, cold: empty package caches (mklive: MKLIVE_CACHE in a fresh
#     directory; live-build: a fresh config directory, so its cache/ is
#     empty); warm: the same build again, caches kept (live-build: lb clean,
#     then lb build, which keeps cache/);
#   - ISO sizes;
#   - boot: QEMU (TCG, 2 GB) from its start until a graphical session of the
#     live user is active (loginctl), told on the serial console by a probe
#     unit both trees get (bench/recipe-probe/).
# live-build: lb config --distribution bookworm --apt-recommends false
# --debian-installer none, the same mirror (the host's first Debian one),
# the recipe's packages as a package list, live-boot + live-config (its
# live user "user", autologin through lightdm) as live-build installs them.
# Needs root (live-build) and the live-build package (apt-get install
# live-build). Records go to bench/RESULTS.md by hand.
#
#   bench/recipe.sh            COLD=0 skips the cold builds, BUILDS=0 all of
#                              them (WORK=DIR: the directory of an earlier
#                              run, its caches, ISOs and timings)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tests/lib.sh"
. "$top/tests/boot/lib.sh"
command -v lb >/dev/null || { echo "bench/recipe.sh: live-build is missing (scripts/deps.sh bench installs it)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "bench/recipe.sh: live-build needs root" >&2; exit 1; }
work=${WORK:-$(mktemp -d /var/tmp/mklive-recipe-bench.XXXXXX)}
cold=${COLD:-1}
conf=$top/examples/xfce.conf
efi=$(efi_root)
mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Created-By: Packages' |
	awk '$2 == "bookworm" { sub("/$", "", $1); print $1; exit }')
mirror=${mirror:-http://deb.debian.org/debian}
# The recipe's package list, as mklive reads it (continuation lines).
packages=$(awk '/^\[recipe\]/ { r = 1; next } /^\[/ { r = 0 } r && /^packages *=/ { sub(/^packages *= */, ""); p = $0; c = 1; next }
	r && c && /^[ \t]/ { p = p " " $0; next } { c = 0 } END { print p }' "$conf" | tr -s ' \t,' ' ')
export SOURCE_DATE_EPOCH=1700000000

# The probe: a root service that waits for an active x11 session and says
# so on the serial console.
probe=$work/probe
mkdir -p "$probe/etc/systemd/system/multi-user.target.wants"
cat >"$probe/etc/systemd/system/bench-graphical.service" <<'UNIT'
[Unit]
Description=bench: say on ttyS0 when a graphical session is active
[Service]
Type=simple
ExecStart=/bin/sh -c 'until loginctl list-sessions --no-legend | while read -r s rest; do loginctl show-session "$s" -p Type -p State; done | tr "\\n" " " | grep -q "Type=x11 State=active"; do sleep 0.5; done; echo MKLIVE-BENCH-GRAPHICAL >/dev/ttyS0'
[Install]
WantedBy=multi-user.target
UNIT
ln -sf ../bench-graphical.service "$probe/etc/systemd/system/multi-user.target.wants/bench-graphical.service"

timed() { # NAME CMD...: wall seconds into $work/NAME.s, output into $work/NAME.log
	local name=$1 s; shift
	s=$(date +%s.%N)
	"$@" >"$work/$name.log" 2>&1 || { echo "bench: $name failed:" >&2; tail -n 20 "$work/$name.log" >&2; exit 1; }
	echo "$(date +%s.%N) - $s" | bc -l | xargs printf '%.0f\n' >"$work/$name.s"
}

# mklive: the recipe, with the probe added to its include directory.
mkdir -p "$work/m/inc"
cp -a "$top/examples/console/." "$work/m/inc/"
cp -a "$probe/." "$work/m/inc/"
sed -e "s|^include = .*|include = $work/m/inc|" "$conf" >"$work/m/xfce.conf"
# Its own package cache (cold: empty); the EFI files come from the tests' cache.
mk() { MKLIVE_CACHE=$work/m/cache "$top/build/mklive" build -c "$work/m/xfce.conf" --efi-root "$efi" -o "$work/m/$1.iso"; }
builds=${BUILDS:-1}
if [ "$builds" = 0 ]; then
	:	# the ISOs and timings of an earlier run in WORK
elif [ "$cold" = 1 ]; then
	timed mklive_cold mk cold
elif [ ! -e "$work/m/cold.iso" ]; then
	mk cold >"$work/mklive_fill.log" 2>&1	# a first build for the warm one to follow
fi
[ "$builds" = 0 ] || timed mklive_warm mk warm

# live-build, in its own directory.
lbdir=$work/lb
lbconf() {
	mkdir -p "$lbdir" && cd "$lbdir"
	lb config --distribution bookworm --archive-areas main --apt-recommends false \
		--debian-installer none --binary-images iso-hybrid \
		--mirror-bootstrap "$mirror" --mirror-chroot "$mirror" --mirror-binary "$mirror" \
		--mirror-chroot-security "${mirror%/debian}/debian-security" \
		--mirror-binary-security "${mirror%/debian}/debian-security" \
		--bootappend-live "boot=live components console=tty0 console=ttyS0,115200"
	echo "$packages" | tr ' ' '\n' | grep . >config/package-lists/mklive.list.chroot
	cp -a "$top/examples/console/." config/includes.chroot/
	cp -a "$probe/." config/includes.chroot/
}
lbbuild() { cd "$lbdir" && lb build; }
# lb clean keeps cache/ (packages, the bootstrap stage) and needs lb config again.
lbwarm() { cd "$lbdir" && lb clean && lbconf && lb build; }
if [ "$builds" = 1 ] && [ "$cold" = 1 ]; then
	rm -rf "$lbdir"
	lbconf >"$work/lb_config.log" 2>&1
	timed lb_cold lbbuild
fi
[ "$builds" = 0 ] || timed lb_warm lbwarm
lbiso=$(ls "$lbdir"/*.iso | head -n 1)

# boot ISO: seconds from QEMU start to the probe's line. live-build's menu
# waits for a key (isolinux timeout 0) and mklive's boots after its
# timeout: both get Enter, as a user would press it, once a second from the
# boot loader's banner until the kernel's first line on the serial console.
boot() {
	local start line mon=$work/mon.sock enter=0
	rm -f "$mon"
	start=$(date +%s.%N)
	coproc Q { exec timeout 600 qemu-system-x86_64 -accel tcg -m 2048 -smp 2 -nographic -no-reboot \
		-monitor "unix:$mon,server=on,wait=off" -serial stdio -vga std -cdrom "$1" 2>&1 </dev/null; }
	local qpid=$Q_PID
	while IFS= read -r -t 1 line <&"${Q[0]}" || [ $? -gt 128 ]; do
		case $line in
		*ISOLINUX*) enter=1 ;;
		*"Linux version"*|*"Run /init"*) enter=0 ;;
		*MKLIVE-BENCH-GRAPHICAL*) printf '%.0f\n' "$(echo "$(date +%s.%N) - $start" | bc -l)"; break ;;
		esac
		[ "$enter" = 1 ] && python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"sendkey ret\n")' "$mon" 2>/dev/null || true
		kill -0 "$qpid" 2>/dev/null || break
	done
	kill "$qpid" 2>/dev/null || true
	wait "$qpid" 2>/dev/null || true
}
mb=$(boot "$work/m/warm.iso")
lbb=$(boot "$lbiso")

r() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }
v() { cat "$work/$1.s" 2>/dev/null || echo -; }
cat <<R
xfce recipe ($(wc -w <<<"$packages") packages), $(date -u +%F), $(nproc) cores
| | mklive | live-build | ratio (target) |
|---|---|---|---|
| build, cold (empty caches) s | $(v mklive_cold) | $(v lb_cold) | $([ "$cold" = 1 ] && r "$(v mklive_cold)" "$(v lb_cold)") (<= 0.5) |
| build, warm s | $(v mklive_warm) | $(v lb_warm) | $(r "$(v mklive_warm)" "$(v lb_warm)") (<= 0.2) |
| ISO MiB | $(($(stat -c %s "$work/m/warm.iso") >> 20)) | $(($(stat -c %s "$lbiso") >> 20)) | |
| QEMU start to graphical session s (TCG) | ${mb:-none} | ${lbb:-none} | $([ -n "$mb" ] && [ -n "$lbb" ] && r "$mb" "$lbb") (<= 0.8) |
R
echo "work directory (logs, ISOs): $work"
