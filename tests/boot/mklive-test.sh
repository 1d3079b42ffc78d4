#!/bin/bash
# `mklive test`: the boot matrix as a user command. Every row this machine
# can run passes for the demo ISO; an image that does not boot fails with a
# non-zero exit.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
t_tmpdir

require_qemu
iso=$(demo_iso) || { fail "building the demo ISO"; t_done; exit 1; }
ovmf=$(boot_cache)/usr/share/OVMF

"$MKLIVE" test --ovmf-dir "$ovmf" "$iso" >"$T/out" 2>&1
rc=$?
cat "$T/out"
check "exit 0 when every row passes" test "$rc" -eq 0
for fw in bios uefi secureboot; do
	for as in cd usb; do
		check "$fw $as: pass, known from the init's line after switch_root" \
			grep -Eq "^$fw +$as +pass +[0-9.]+s +mklive: starting /sbin/init" "$T/out"
	done
done

"$MKLIVE" test --ovmf-dir "$T/nowhere" --as cd "$iso" >"$T/out2" 2>&1
check "a row this machine cannot run is skipped with the reason" \
	grep -Eq '^uefi +cd +skip .*OVMF_CODE_4M.fd' "$T/out2"

head -c 4194304 /dev/zero >"$T/blank.iso"
"$MKLIVE" test --firmware bios --as cd --timeout 30 "$T/blank.iso" >"$T/out3" 2>&1
rc=$?
check "an image that does not boot: FAIL, the reason, exit 1 ($(grep FAIL "$T/out3"))" \
	bash -c '[ "$1" -eq 1 ] && grep -q "^bios *cd *FAIL" "$2"' _ "$rc" "$T/out3"
"$MKLIVE" test --firmware floppy "$iso" >/dev/null 2>&1
check "bad option: exit 2" test $? -eq 2
t_done
