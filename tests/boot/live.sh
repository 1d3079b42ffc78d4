#!/bin/bash
# The live user ([live], issue 13 point 5) on the Debian example's tree (a
# Debian 12 systemd tree, the tar examples/debian/build.sh keeps in
# ~/.cache/mklive/debian-example): built with [live] settings, booted under
# TCG, the serial console logs the live user in without a password prompt
# (agetty's autologin, written by the init), and the booted system has the
# user, its home and groups, the hostname, locale, keyboard and time zone
# asked for. Booted again from the ISO's kernel and initramfs with
# mklive.hostname=other on the command line: the boot option wins.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
t_tmpdir

require_qemu
cache=${MKLIVE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mklive}/debian-example
tar=$(ls -t "$cache"/*.tar 2>/dev/null | head -n 1)
if [ -z "$tar" ]; then
	skip "no Debian example tree in $cache (tests/boot/debian.sh or make debian-demo makes it)"
	t_done; exit 0
fi

cat >"$T/live.conf" <<'CONF'
[live]
user = live
autologin = yes
hostname = livebox
locale = C.UTF-8
keyboard = de(nodeadkeys)
timezone = Europe/Berlin
CONF
if ! "$MKLIVE" build -c "$T/live.conf" --uefi no --timeout 1 --level 1 --append console=ttyS0 \
	"$tar" -o "$T/live.iso" >"$T/build.log" 2>&1; then
	fail "build with [live]: $(tail -n 5 "$T/build.log")"
	t_done; exit 1
fi
ok "built with [live] from $(basename "$tar")"
check "no build warning (the tree has the zone)" bash -c "! grep -q warning '$T/build.log'"

cat >"$T/commands" <<'CMDS'
echo "CHECK user=$(id -un) uid=$(id -u)"
echo "CHECK groups=$(id -Gn | tr ' ' ,)"
echo "CHECK home=$(stat -c '%U:%G %a' "$HOME") $HOME"
echo "CHECK skel=$(stat -c %U ~/.bashrc)"
echo "CHECK host=$(hostname)"
echo "CHECK hosts=$(grep '^127.0.1.1' /etc/hosts | tr '\t' ' ')"
echo "CHECK locale=$(cat /etc/default/locale)"
echo "CHECK kbd=$(grep -E '^XKB(LAYOUT|VARIANT)=' /etc/default/keyboard | tr -d '"' | tr '\n' ' ')"
echo "CHECK tz=$(readlink /etc/localtime) $(cat /etc/timezone)"
echo "CHECK date=$(date +%Z)"
su -c 'echo "CHECK state=$(systemctl is-system-running --wait)"; systemctl --failed --no-legend --plain | sed "s/^/FAILED-UNIT /"' root
CMDS
boot() {	# LOG QEMU-ARGS...
	local log=$1; shift
	AUTOLOGIN=1 "$TOP/tests/boot/serial_login.py" "$T/commands" "$QEMU" -accel tcg -m 1024 \
		-nographic -no-reboot -monitor none -serial stdio "$@" >"$log.raw" 2>&1 </dev/null
	local rc=$?
	tr -d '\r' <"$log.raw" | sed 's/\x1b\[[?0-9;]*[a-zA-Z]//g' >"$log"
	return $rc
}
val() { sed -n "s/^CHECK $2=//p" "$1" | tail -n 1; }

start=$SECONDS
if boot "$T/log1" -cdrom "$T/live.iso" -boot d; then
	ok "serial console: logged in automatically, no password asked ($((SECONDS - start)) s)"
else
	fail "no automatic login on the serial console: $(tail -n 8 "$T/log1")"
fi
L=$T/log1
check "the init made the user ($(grep -o 'mklive: live user.*' "$L" | head -n 1))" \
	grep -q 'mklive: live user live: added to the root, logged in automatically' "$L"
check "agetty logged in live" grep -q 'login: live (automatic login)' "$L"
check "id -un: live, uid 1000 ($(val "$L" user))" test "$(val "$L" user)" = "live uid=1000"
check "groups: its own and those the tree has ($(val "$L" groups))" \
	grep -Eq '^live,.*(audio|video|cdrom)' <<<"$(val "$L" groups)"
check "home /home/live 0700, the user's ($(val "$L" home))" test "$(val "$L" home)" = "live:live 700 /home/live"
check "skel copied, the user's" test "$(val "$L" skel)" = live
check "hostname livebox" test "$(val "$L" host)" = livebox
check "/etc/hosts 127.0.1.1 livebox ($(val "$L" hosts))" test "$(val "$L" hosts)" = "127.0.1.1 livebox"
check "/etc/default/locale ($(val "$L" locale))" test "$(val "$L" locale)" = "LANG=C.UTF-8"
check "/etc/default/keyboard ($(val "$L" kbd))" test "$(val "$L" kbd)" = "XKBLAYOUT=de XKBVARIANT=nodeadkeys "
check "/etc/localtime and /etc/timezone ($(val "$L" tz))" \
	test "$(val "$L" tz)" = "/usr/share/zoneinfo/Europe/Berlin Europe/Berlin"
check "the clock's zone is CET or CEST ($(val "$L" date))" grep -Eqx 'CES?T' <<<"$(val "$L" date)"
# systemctl needs root here (no D-Bus in the tree): su, root has no password
check "systemd: running, checked as root through su ($(val "$L" state))" test "$(val "$L" state)" = running
check "no failed units ($(grep '^FAILED-UNIT' "$L" | head -n 3 | tr '\n' ' '))" \
	test "$(grep -c '^FAILED-UNIT' "$L")" = 0

# A boot option overrides [live]: the ISO's own kernel and initramfs,
# booted directly with one more word on the command line.
xorriso -osirrox on -indev "$T/live.iso" -extract /live/vmlinuz "$T/vmlinuz" \
	-extract /live/initrd.img "$T/initrd.img" >/dev/null 2>&1
start=$SECONDS
if boot "$T/log2" -cdrom "$T/live.iso" -kernel "$T/vmlinuz" -initrd "$T/initrd.img" \
	-append "console=ttyS0 mklive.hostname=other mklive.timezone=Nowhere/Zone"; then
	ok "second boot with mklive.hostname=other: logged in automatically ($((SECONDS - start)) s)"
else
	fail "second boot: no automatic login: $(tail -n 8 "$T/log2")"
fi
L=$T/log2
check "mklive.hostname=other wins over [live] ($(val "$L" host))" test "$(val "$L" host)" = other
check "/etc/hosts follows ($(val "$L" hosts))" test "$(val "$L" hosts)" = "127.0.1.1 other"
check "an unknown zone: a warning on the console" \
	grep -q 'mklive: warning: unknown time zone Nowhere/Zone' "$L"
check "... and the system boots, the tree's zone kept ($(val "$L" tz))" \
	test "$(val "$L" tz)" = "/usr/share/zoneinfo/Etc/UTC Etc/UTC"
check "the rest of [live] as built ($(val "$L" user), $(val "$L" kbd))" \
	test "$(val "$L" user)" = "live uid=1000" -a "$(val "$L" kbd)" = "XKBLAYOUT=de XKBVARIANT=nodeadkeys "
t_done
