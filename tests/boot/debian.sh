#!/bin/bash
# The Debian example (examples/debian/build.sh): a Debian 12 live system made
# from Debian's packages with mmdebstrap, built by mklive, boots under TCG to
# a login prompt on the serial console; the test logs in as root and checks
# the system: systemd reached its target, autofs runs, the root is the
# overlay over the image, and the system knows it is the example. A FAT
# stick attached at boot shows in /media/list by its label, is mounted on
# access through autofs, and what the live system writes there reads back
# on the host after a clean unmount. (Hotplug through QMP: not yet.)
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
t_tmpdir

require_qemu
require_mmdebstrap
if ! iso=$(SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000} debian_iso); then
	fail "examples/debian/build.sh: $(tail -n 5 "$TOP/build/test-debian/build.log")"
	t_done; exit 1
fi
ok "examples/debian/build.sh made an ISO ($(($(stat -c %s "$iso") >> 20)) MiB)"

# A USB stick (FAT, labelled) plugged in at boot, for /media/list.
truncate -s 32M "$T/stick.img"
mkfs.vfat -n 'MY STICK' "$T/stick.img" >/dev/null
echo "hello from the host" >"$T/hello.txt"
MTOOLS_SKIP_CHECK=1 mcopy -i "$T/stick.img" "$T/hello.txt" ::hello.txt

cat >"$T/commands" <<'CMDS'
echo "CHECK state=$(systemctl is-system-running --wait)"
echo "CHECK list=$(ls /media/list | tr '\n' ' ')"
echo "CHECK read=$(cat /media/list/MY_STICK/hello.txt)"
echo "CHECK fstype=$(findmnt -n -o FSTYPE,OPTIONS /media/.auto/MY_STICK | tr -s ' ' '_')"
echo "written in the live system" >/media/list/MY_STICK/from-live.txt && echo "CHECK wrote=yes"
umount /media/.auto/MY_STICK && echo "CHECK umount=yes"
echo "CHECK autofs=$(systemctl is-active autofs)"
echo "CHECK host=$(hostname)"
echo "CHECK root=$(findmnt -n -o FSTYPE /)"
echo "CHECK tty1=$(systemctl is-active getty@tty1)"
echo "CHECK os=$(. /etc/os-release; echo $ID-$VERSION_ID)"
systemctl --failed --no-legend --plain | sed 's/^/FAILED-UNIT /'
CMDS
start=$SECONDS
"$TOP/tests/boot/serial_login.py" "$T/commands" "$QEMU" -accel tcg -m 1024 -nographic -no-reboot \
	-monitor none -serial stdio -cdrom "$iso" -boot d -device qemu-xhci \
	-drive if=none,id=stick,format=raw,file="$T/stick.img" -device usb-storage,drive=stick \
	>"$T/boot.log" 2>&1 </dev/null
rc=$?
secs=$((SECONDS - start))
# Without carriage returns and terminal escapes (bash's bracketed paste).
tr -d '\r' <"$T/boot.log" | sed 's/\x1b\[[?0-9;]*[a-zA-Z]//g' >"$T/log"
if [ $rc = 0 ]; then
	ok "login prompt on the serial console; logged in as root ($secs s)"
else
	fail "no login on the serial console: $(tail -n 8 "$T/log")"
fi
val() { sed -n "s/^CHECK $1=//p" "$T/log" | tail -n 1; }
check "systemd: the system is running (is-system-running: $(val state))" test "$(val state)" = running
check "no failed units ($(grep -c '^FAILED-UNIT' "$T/log"))" test "$(grep -c '^FAILED-UNIT' "$T/log")" = 0
check "autofs is active" test "$(val autofs)" = active
check "hostname mklive-debian" test "$(val host)" = mklive-debian
check "the root is the overlay over the image" test "$(val root)" = overlay
check "a login on tty1 too (getty@tty1 active)" test "$(val tty1)" = active
check "Debian 12" test "$(val os)" = debian-12
check "/media/list shows the stick by its label ($(val list))" grep -qw MY_STICK <<<"$(val list)"
check "reading through the link mounts it (autofs): the host's file" test "$(val read)" = "hello from the host"
check "mounted as vfat, nosuid and nodev ($(val fstype))" grep -q '^vfat_.*nosuid.*nodev' <<<"$(val fstype)"
check "a file written in the live system" test "$(val wrote)" = yes
check "unmounted cleanly" test "$(val umount)" = yes
MTOOLS_SKIP_CHECK=1 mcopy -n -i "$T/stick.img" ::from-live.txt "$T/from-live.txt" 2>/dev/null
check "the host reads what the live system wrote (mcopy)" grep -qx "written in the live system" "$T/from-live.txt"
check "the stick's FAT is clean (fsck.fat -n)" fsck.fat -n "$T/stick.img" >/dev/null
grep '^FAILED-UNIT' "$T/log" | head -n 5
t_done
