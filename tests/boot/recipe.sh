#!/bin/bash
# A recipe with the real mmdebstrap (examples/console.conf): it builds from
# Debian's packages; a second build with every proxy pointing nowhere takes
# the tree the first one kept and gives the same ISO (SOURCE_DATE_EPOCH);
# the recipe with one more hook, still without a way to the mirror, runs
# mmdebstrap from the package cache (~/.cache/mklive/packages, kept between
# runs) alone; and the ISO
# boots under TCG to the live user's shell on the serial console, logged in
# automatically: the system reports the recipe's [live] user, hostname,
# locale, keyboard and time zone. A second boot with mklive.hostname=,
# mklive.keyboard= and mklive.timezone= on the kernel command line: those
# win (unknown zones and layouts: tests/unit/test-init-live.c). The failures end
# with mmdebstrap's own message and no output file: an unknown package, a
# mirror that cannot be reached, a failing hook.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
t_tmpdir
export TZ=UTC SOURCE_DATE_EPOCH=1700000000
require_qemu
require_mmdebstrap
EFI_ROOT=$(efi_root) || { fail "fetching the boot pieces"; t_done; exit 1; }
B="$MKLIVE build --efi-root $EFI_ROOT --timeout 1"

# The failures first: they are quick.
mkdir -p "$T/hooks"
printf '#!/bin/sh\necho "hook: cannot go on in $1" >&2\nexit 3\n' >"$T/hooks/fail.sh"
chmod +x "$T/hooks/fail.sh"
printf '[recipe]\nsuite = bookworm\npackages = systemd-sysv no-such-package-mklive\n' >"$T/pkg.conf"
printf '[recipe]\nsuite = bookworm\nmirror = http://127.0.0.1:9/debian\npackages = systemd-sysv\n' >"$T/mirror.conf"
printf '[recipe]\nsuite = bookworm\npackages = systemd-sysv\nhooks = hooks/fail.sh\n' >"$T/hook.conf"
for c in pkg:"Unable to locate package no-such-package-mklive" \
	 mirror:"Failed to fetch http://127.0.0.1:9/debian" \
	 hook:"hook: cannot go on in"; do
	name=${c%%:*} want=${c#*:}
	$B -c "$T/$name.conf" -o "$T/$name.iso" >"$T/$name.out" 2>&1
	rc=$?
	check "recipe failing ($name): exit 1 ($rc)" test $rc = 1
	check "... with mmdebstrap's own words: $want" grep -qF "$want" "$T/$name.out"
	check "... and no output file" test ! -e "$T/$name.iso"
done

# The console example, twice.
start=$SECONDS
if $B -c "$TOP/examples/console.conf" -o "$T/a.iso" >"$T/a.out" 2>&1; then
	ok "examples/console.conf builds ($((SECONDS - start)) s, $(($(stat -c %s "$T/a.iso") >> 20)) MiB)"
else
	fail "examples/console.conf builds: $(tail -n 12 "$T/a.out")"
	t_done; exit 1
fi
noproxy() { http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 "$@"; }
start=$SECONDS
if noproxy $B -v -c "$TOP/examples/console.conf" -o "$T/b.iso" >"$T/b.out" 2>&1; then
	ok "built again with no way to the mirror ($((SECONDS - start)) s)"
else
	fail "built again with no way to the mirror: $(tail -n 12 "$T/b.out")"
fi
check "... from the tree the first build kept (mmdebstrap not run)" \
	grep -q "the recipe's tree as the last build made it" "$T/b.out"
check "the two builds are byte-identical (SOURCE_DATE_EPOCH)" cmp -s "$T/a.iso" "$T/b.iso"
# The recipe with one more hook: mmdebstrap runs, from the kept package
# lists and packages only, and the image's blocks are compressed ahead
# while it installs.
mkdir -p "$T/c"
cp -a "$TOP/examples/console" "$T/c/"
printf '#!/bin/sh\necho "made with one more hook" >"$1/etc/mklive-test"\n' >"$T/c/more.sh"
chmod +x "$T/c/more.sh"
# A file the tree has, of another group (utmp), replaced by the include's.
mkdir -p "$T/c/console/var/log"
echo "from the include" >"$T/c/console/var/log/lastlog"
{ cat "$TOP/examples/console.conf"; } | sed 's/^include = console$/include = console\nhooks = more.sh/' >"$T/c/console.conf"
start=$SECONDS
if noproxy $B -v -c "$T/c/console.conf" --uefi no -o "$T/c.iso" >"$T/c.out" 2>&1; then
	ok "a changed recipe, no way to the mirror: mmdebstrap installs from the package cache ($((SECONDS - start)) s)"
else
	fail "a changed recipe from the package cache: $(tail -n 12 "$T/c.out")"
fi
check "... with apt-get update skipped (the kept lists)" grep -q 'skipping update as requested' "$T/c.out"
check "... its files compressed ahead while mmdebstrap installed, and taken ($(grep -o 'compressed ahead:.*' "$T/c.out"))" \
	grep -Eq 'compressed ahead: [0-9]+ blocks .* the image took [1-9][0-9]* of them' "$T/c.out"
xorriso -osirrox on -indev "$T/c.iso" -extract /live/filesystem.squashfs "$T/c.sqfs" >/dev/null 2>&1
lastlog=$(unsquashfs -lln "$T/c.sqfs" 2>/dev/null | awk '$NF == "squashfs-root/var/log/lastlog" {print $1, $2}')
check "the include replaced /var/log/lastlog, which keeps its owner and group utmp ($lastlog)" \
	test "$lastlog" = "-rw-r--r-- 0/43"
check "... with the include's content" \
	bash -c "unsquashfs -cat '$T/c.sqfs' /var/log/lastlog 2>/dev/null | grep -qx 'from the include'"
rm -f "$T/c.sqfs"
# Blocks made ahead are the compressor's own bytes: the same recipe from its
# kept tree (no mmdebstrap, nothing ahead) gives the same ISO.
if noproxy $B -v -c "$T/c/console.conf" --uefi no -o "$T/c2.iso" >"$T/c2.out" 2>&1; then
	check "the changed recipe again, from the tree it kept" \
		grep -q "the recipe's tree as the last build made it" "$T/c2.out"
	check "... byte-identical to the build that compressed ahead" cmp -s "$T/c.iso" "$T/c2.iso"
else
	fail "the changed recipe again: $(tail -n 12 "$T/c2.out")"
fi
# (after the kept-tree rebuild: one tree is kept per recipe cache)
# Two mmdebstrap runs of the same tree (one more hook that does nothing;
# the same kept lists and packages: the same mirror state): the same ISO.
printf '#!/bin/sh\nexit 0\n' >"$T/c/noop.sh"
chmod +x "$T/c/noop.sh"
sed 's/^hooks = more.sh$/hooks = more.sh noop.sh/' "$T/c/console.conf" >"$T/c/console-d.conf"
if noproxy $B -v -c "$T/c/console-d.conf" --uefi no -o "$T/d.iso" >"$T/d.out" 2>&1; then
	check "mmdebstrap ran a second time (another hook: not the kept tree)" \
		bash -c "! grep -q \"the recipe's tree as the last build made it\" '$T/d.out'"
	check "... and the two runs give byte-identical ISOs (SOURCE_DATE_EPOCH, same mirror state)" \
		cmp -s "$T/c.iso" "$T/d.iso"
else
	fail "the recipe with a hook that does nothing: $(tail -n 12 "$T/d.out")"
fi
rm -f "$T/d.iso"
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
sudo -n sh -c 'echo "CHECK state=$(systemctl is-system-running --wait)"; systemctl --failed --no-legend --plain | sed "s/^/FAILED-UNIT /"'
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
if boot "$T/log1" -cdrom "$T/b.iso" -boot d; then
	ok "serial console: logged in automatically, no password asked ($((SECONDS - start)) s)"
else
	fail "no automatic login on the serial console: $(tail -n 8 "$T/log1")"
fi
L=$T/log1
check "the init made the live user ($(grep -o 'mklive: live user.*' "$L" | head -n 1))" \
	grep -q 'mklive: live user user: added to the root, logged in automatically' "$L"
check "agetty logged the user in" grep -q 'login: user (automatic login)' "$L"
check "id -un: user, uid 1000 ($(val "$L" user))" test "$(val "$L" user)" = "user uid=1000"
check "groups: its own and those the tree has ($(val "$L" groups))" \
	grep -Eq '^user,.*(audio|video|cdrom)' <<<"$(val "$L" groups)"
check "home /home/user 0700, the user's ($(val "$L" home))" test "$(val "$L" home)" = "user:user 700 /home/user"
check "skel copied, the user's" test "$(val "$L" skel)" = user
check "hostname mklive-console" test "$(val "$L" host)" = mklive-console
check "/etc/hosts 127.0.1.1 mklive-console ($(val "$L" hosts))" test "$(val "$L" hosts)" = "127.0.1.1 mklive-console"
check "/etc/default/locale ($(val "$L" locale))" test "$(val "$L" locale)" = "LANG=C.UTF-8"
check "/etc/default/keyboard ($(val "$L" kbd))" test "$(val "$L" kbd)" = "XKBLAYOUT=us XKBVARIANT= "
check "/etc/localtime and /etc/timezone ($(val "$L" tz))" \
	test "$(val "$L" tz)" = "/usr/share/zoneinfo/Etc/UTC Etc/UTC"
check "systemd: running, checked as root through sudo without a password ($(val "$L" state))" test "$(val "$L" state)" = running
check "no failed units ($(grep '^FAILED-UNIT' "$L" | head -n 3 | tr '\n' ' '))" \
	test "$(grep -c '^FAILED-UNIT' "$L")" = 0

xorriso -osirrox on -indev "$T/b.iso" -extract /live/vmlinuz "$T/vmlinuz" \
	-extract /live/initrd.img "$T/initrd.img" >/dev/null 2>&1
start=$SECONDS
if boot "$T/log2" -cdrom "$T/b.iso" -kernel "$T/vmlinuz" -initrd "$T/initrd.img" \
	-append "console=ttyS0 mklive.hostname=other mklive.keyboard=de(nodeadkeys) mklive.timezone=Europe/Berlin"; then
	ok "second boot with boot options: logged in automatically ($((SECONDS - start)) s)"
else
	fail "second boot: no automatic login: $(tail -n 8 "$T/log2")"
fi
L=$T/log2
check "mklive.hostname=other wins over [live] ($(val "$L" host))" test "$(val "$L" host)" = other
check "/etc/hosts follows ($(val "$L" hosts))" test "$(val "$L" hosts)" = "127.0.1.1 other"
check "mklive.keyboard= wins ($(val "$L" kbd))" test "$(val "$L" kbd)" = "XKBLAYOUT=de XKBVARIANT=nodeadkeys "
check "mklive.timezone= wins ($(val "$L" tz))" \
	test "$(val "$L" tz)" = "/usr/share/zoneinfo/Europe/Berlin Europe/Berlin"
check "the clock's zone is CET or CEST ($(val "$L" date))" grep -Eqx 'CES?T' <<<"$(val "$L" date)"
check "the rest of [live] as built ($(val "$L" user), $(val "$L" locale))" \
	test "$(val "$L" user)" = "user uid=1000" -a "$(val "$L" locale)" = "LANG=C.UTF-8"
t_done
