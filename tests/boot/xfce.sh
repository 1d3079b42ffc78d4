#!/bin/bash
# The XFCE recipe (examples/xfce.conf) builds with the real mmdebstrap (its
# packages kept in ~/.cache/mklive/packages between runs) and boots under
# TCG to an active graphical session of the live user: lightdm logs "user"
# in on seat0 by itself. Checked from the serial console (the same user,
# logged in there automatically): loginctl lists an x11 session of user,
# active, on seat0, with xfce4-session running.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
t_tmpdir
export TZ=UTC SOURCE_DATE_EPOCH=1700000000
require_qemu
require_mmdebstrap
EFI_ROOT=$(efi_root) || { fail "fetching the boot pieces"; t_done; exit 1; }
start=$SECONDS
if "$MKLIVE" build -c "$TOP/examples/xfce.conf" --efi-root "$EFI_ROOT" --timeout 1 \
	-o "$T/xfce.iso" >"$T/build.out" 2>&1; then
	ok "examples/xfce.conf builds ($((SECONDS - start)) s, $(($(stat -c %s "$T/xfce.iso") >> 20)) MiB)"
else
	fail "examples/xfce.conf builds: $(tail -n 12 "$T/build.out")"
	t_done; exit 1
fi

# Wait (up to 3 minutes) for lightdm's session, then describe it; and
# (up to a minute more) for XFCE's session manager in it.
cat >"$T/commands" <<'CMDS'
prop() { loginctl show-session "$1" -p "$2" --value; }
for i in $(seq 360); do for s in $(loginctl list-sessions --no-legend | awk '{print $1}'); do [ "$(prop $s Type)/$(prop $s State)/$(prop $s Name)" = x11/active/user ] && break 2; done; sleep 0.5; done
for s in $(loginctl list-sessions --no-legend | awk '{print $1}'); do echo "CHECK session=$(prop $s Type) $(prop $s State) $(prop $s Name) $(prop $s Seat)"; done
for i in $(seq 120); do pgrep -u user -x xfce4-session >/dev/null && break; sleep 0.5; done
echo "CHECK xfce=$(pgrep -u user -x xfce4-session >/dev/null && echo running)"
echo "CHECK lightdm=$(systemctl is-active lightdm)"
CMDS
start=$SECONDS
AUTOLOGIN=1 BOOT_TIMEOUT=400 "$TOP/tests/boot/serial_login.py" "$T/commands" "$QEMU" -accel tcg -m 2048 -smp 2 \
	-nographic -no-reboot -monitor none -serial stdio -vga std -cdrom "$T/xfce.iso" -boot d \
	>"$T/log.raw" 2>&1 </dev/null
rc=$?
tr -d '\r' <"$T/log.raw" | sed 's/\x1b\[[?0-9;]*[a-zA-Z]//g' >"$T/log"
if [ $rc = 0 ]; then
	ok "booted; the serial console logged user in ($((SECONDS - start)) s)"
else
	fail "no automatic login on the serial console: $(tail -n 8 "$T/log")"
fi
sessions=$(sed -n 's/^CHECK session=//p' "$T/log")
check "loginctl: an active x11 session of user on seat0 ($(tr '\n' ';' <<<"$sessions"))" \
	grep -qx 'x11 active user seat0' <<<"$sessions"
check "xfce4-session runs as user" grep -qx 'CHECK xfce=running' "$T/log"
check "lightdm is active" grep -qx 'CHECK lightdm=active' "$T/log"
t_done
