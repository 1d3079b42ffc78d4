#!/bin/bash
# Hotplug in the Debian example: with the live system up, a FAT stick and
# an ext4 stick are plugged in through QMP (device_add usb-storage); both
# show in /media/list by label, are read and written through it; one is
# unmounted and pulled out (device_del): it leaves the list and the other
# still works. Left alone, the other is unmounted by autofs after its idle
# timeout (--timeout=30 in the master map) and stays listed; the next access
# mounts it again. On the host, what the live system wrote is on each image
# (mcopy, debugfs) and both filesystems are clean (fsck.fat, e2fsck).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
t_tmpdir
require_qemu
require_mmdebstrap
if ! iso=$(SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000} debian_iso); then
	fail "examples/debian/build.sh: $(tail -n 5 "$TOP/build/test-debian/build.log")"; t_done; exit 1
fi
export MTOOLS_SKIP_CHECK=1
truncate -s 32M "$T/fat.img"; mkfs.vfat -n FATSTICK "$T/fat.img" >/dev/null
echo "on the FAT stick" >"$T/hello.txt"; mcopy -i "$T/fat.img" "$T/hello.txt" ::hello.txt
mkfs.ext4 -q -F -L EXTSTICK "$T/ext.img" 32M >/dev/null 2>&1

# wait_list NAME present|absent: a bounded wait in the guest for the list
# (90 s: under TCG a new USB disk takes about half a minute to appear).
wait_list() {
	local op=-e
	[ "$2" = absent ] && op='! -e'
	printf '%s\n' "for i in \$(seq 450); do [ $op /media/list/$1 ] && break; sleep 0.2; done; echo \"CHECK $1-$2=\$(ls /media/list | tr '\\n' ' ')\""
}
{
	echo 'systemctl is-system-running --wait >/dev/null; echo CHECK up=yes'
	echo '#QMP {"execute": "device_add", "arguments": {"driver": "usb-storage", "drive": "fat", "id": "s1"}}'
	echo '#QMP {"execute": "device_add", "arguments": {"driver": "usb-storage", "drive": "ext", "id": "s2"}}'
	wait_list FATSTICK present
	wait_list EXTSTICK present
	echo 'echo "CHECK fatread=$(cat /media/list/FATSTICK/hello.txt)"'
	echo 'echo "from the live system" >/media/list/FATSTICK/live.txt && echo CHECK fatwrite=yes'
	echo 'echo "ext from the live system" >/media/list/EXTSTICK/live.txt && echo CHECK extwrite=yes'
	echo 'echo "CHECK exttype=$(findmnt -n -o FSTYPE /media/.auto/EXTSTICK)"'
	echo 'umount /media/.auto/FATSTICK && echo CHECK fatumount=yes'
	echo '#QMP {"execute": "device_del", "arguments": {"id": "s1"}}'
	wait_list FATSTICK absent
	echo 'echo "CHECK extafter=$(cat /media/list/EXTSTICK/live.txt)"; t0=$(date +%s)'
	# The idle unmount: /proc/self/mountinfo is read, never the mount point
	# (a stat there would count as a use). Bounded at 120 s.
	echo 'm() { grep -c " /media/.auto/EXTSTICK " /proc/self/mountinfo; }; echo "CHECK extmounted=$(m)"'
	echo 'for i in $(seq 600); do [ "$(m)" = 0 ] && break; sleep 0.2; done; echo "CHECK idle=$(m) after=$(( $(date +%s) - t0 ))s"'
	echo 'echo "CHECK listed=$(ls /media/list | tr "\n" " ")"'
	echo 'echo "CHECK again=$(cat /media/list/EXTSTICK/live.txt) mounted=$(m)"'
	echo 'umount /media/.auto/EXTSTICK && echo CHECK extumount=yes'
} >"$T/commands"
BOOT_TIMEOUT=480 QMP_SOCKET=$T/qmp.sock "$TOP/tests/boot/serial_login.py" "$T/commands" "$QEMU" -accel tcg -m 1024 -nographic \
	-no-reboot -monitor none -serial stdio -qmp "unix:$T/qmp.sock,server=on,wait=off" -cdrom "$iso" \
	-boot d -device qemu-xhci -drive if=none,id=fat,format=raw,file="$T/fat.img" \
	-drive if=none,id=ext,format=raw,file="$T/ext.img" >"$T/boot.log" 2>&1 </dev/null
rc=$?
tr -d '\r' <"$T/boot.log" | sed 's/\x1b\[[?0-9;]*[a-zA-Z]//g' >"$T/log"
check "logged in, every step came back to the prompt" test $rc = 0
val() { sed -n "s/^CHECK $1=//p" "$T/log" | tail -n 1; }
check "QMP: both sticks plugged in" test "$(grep -c '^QMP-REPLY {"return": {}}' "$T/log")" -ge 2
check "/media/list shows the FAT stick ($(val FATSTICK-present))" grep -qw FATSTICK <<<"$(val FATSTICK-present)"
check "and the ext4 stick ($(val EXTSTICK-present))" grep -qw EXTSTICK <<<"$(val EXTSTICK-present)"
check "FAT: the host's file reads" test "$(val fatread)" = "on the FAT stick"
check "FAT: a file written" test "$(val fatwrite)" = yes
check "ext4: a file written, mounted as ext4 ($(val exttype))" test "$(val extwrite)" = yes -a "$(val exttype)" = ext4
check "FAT: unmounted before it is pulled" test "$(val fatumount)" = yes
check "pulled out (device_del): gone from the list ($(val FATSTICK-absent))" \
	test -n "$(val FATSTICK-absent)" -a -z "$(grep -w FATSTICK <<<"$(val FATSTICK-absent)")"
check "the other stick still works" test "$(val extafter)" = "ext from the live system"
idle=$(val idle)
secs=${idle#* after=}; secs=${secs%s}
check "ext4: mounted while in use ($(val extmounted) mount)" test "$(val extmounted)" = 1
check "ext4: unmounted by autofs when idle ($idle; timeout 30 s)" \
	test "${idle%% *}" = 0 -a "${secs:-0}" -ge 28 2>/dev/null
check "ext4: still listed after the idle unmount ($(val listed))" grep -qw EXTSTICK <<<"$(val listed)"
check "ext4: the next access mounts it again ($(val again))" \
	test "$(val again)" = "ext from the live system mounted=1"
check "ext4: unmounted" test "$(val extumount)" = yes
mcopy -n -i "$T/fat.img" ::live.txt "$T/fat-live.txt" 2>/dev/null
check "host: the FAT image holds what was written (mcopy)" grep -qx "from the live system" "$T/fat-live.txt"
check "host: the ext4 image holds what was written (debugfs)" \
	test "$(debugfs -R 'cat /live.txt' "$T/ext.img" 2>/dev/null)" = "ext from the live system"
check "host: fsck.fat -n clean" fsck.fat -n "$T/fat.img" >/dev/null
check "host: e2fsck -fn clean" e2fsck -fn "$T/ext.img" >/dev/null 2>&1
t_done
