#!/bin/bash
# The legacy boot floppy boots. Its loader is our own real-mode code, so it
# is checked two ways in QEMU (SeaBIOS):
#  - at the kernel's entry (gdb on QEMU's gdbstub, breakpoint at 1020:0000,
#    where the x86 boot protocol starts the real-mode kernel), memory holds
#    what the boot protocol asks for: the protected-mode kernel at 1 MiB, the
#    initrd where ramdisk_image says, the command line at cmd_line_ptr, and
#    the header fields a loader sets;
#  - a real kernel runs: memtest86+ (a 144 KB bzImage; Debian's kernel does
#    not fit on a floppy) reaches its own banner on the serial console, which
#    it writes only because the command line we passed told it to; from a
#    floppy drive, and from an ISO whose El Torito default entry is the floppy.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
t_tmpdir
export SOURCE_DATE_EPOCH=1700000000

require_qemu
cache=$("$TOP/scripts/fetch-boot.sh") || { fail "fetching the boot pieces"; t_done; exit 1; }
kernel=$cache/boot/memtest86+x64.bin
head -c 1250000 /dev/urandom >"$T/initrd"	# many tracks, across 64 KiB boundaries
cmdline="console=ttyS0,115200"
if ! "$MKLIVE" floppy "$kernel" --initrd "$T/initrd" --append "$cmdline" -o "$T/fd.img" 2>"$T/err"; then
	fail "mklive floppy: $(cat "$T/err")"; t_done; exit 1
fi
floppy="-drive file=$T/fd.img,if=floppy,format=raw,readonly=on -boot a"

# --- memory at the kernel's entry -------------------------------------------
u32() { od -An -tu4 -j"$2" -N4 "$1" | tr -d ' '; }
u16() { od -An -tu2 -j"$2" -N2 "$1" | tr -d ' '; }
u8() { od -An -tu1 -j"$2" -N1 "$1" | tr -d ' '; }
if ! command -v gdb >/dev/null; then
	skip "gdb not installed (scripts/deps.sh check installs it): loader memory checks"
else
	port=$((20000 + RANDOM % 20000))
	cat >"$T/g.gdb" <<-EOF
	target remote 127.0.0.1:$port
	hbreak *0x10200
	continue
	printf "entry %x:%x\n", \$cs, \$pc
	dump binary memory $T/rm.bin 0x10000 0x18000
	dump binary memory $T/cmd.bin 0x1e000 0x1e400
	set \$rd = *(unsigned int *)0x10218
	set \$sz = *(unsigned int *)0x1021c
	eval "dump binary memory $T/rd.bin %u %u", \$rd, \$rd + \$sz
	dump binary memory $T/pm.bin 0x100000 0x140000
	kill
	EOF
	timeout 120 "$QEMU" -accel tcg -m 256 $floppy -display none -serial null -monitor none \
		-gdb tcp:127.0.0.1:$port -S >"$T/q.log" 2>&1 &
	qpid=$!
	timeout 100 gdb -batch -nx -x "$T/g.gdb" >"$T/gdb.log" 2>&1
	kill $qpid 2>/dev/null; wait $qpid 2>/dev/null
	if grep -q '^entry 1020:0' "$T/gdb.log" && [ -s "$T/rm.bin" ]; then
		ok "the loader jumps to the real-mode kernel at 1020:0000"
		setup=$(u8 "$kernel" $((0x1f1))); [ "$setup" = 0 ] && setup=4
		rm_len=$(( (setup + 1) * 512 ))
		check "real-mode kernel at 0x10000: its first 0x1f1 bytes as in the file" \
			cmp -s <(head -c $((0x1f1)) "$T/rm.bin") <(head -c $((0x1f1)) "$kernel")
		check "real-mode kernel: the setup code after the header as in the file" \
			cmp -s <(tail -c +$((0x301)) "$T/rm.bin" | head -c $((rm_len - 0x300))) \
			<(tail -c +$((0x301)) "$kernel" | head -c $((rm_len - 0x300)))
		check "protected-mode kernel at 1 MiB, byte for byte" \
			cmp -s <(head -c $(( $(stat -c %s "$kernel") - rm_len )) "$T/pm.bin") <(tail -c +$((rm_len + 1)) "$kernel")
		check "type_of_loader 0xff (a loader with no assigned id)" test "$(u8 "$T/rm.bin" $((0x210)))" = 255
		check "loadflags: LOADED_HIGH and CAN_USE_HEAP" test $(( $(u8 "$T/rm.bin" $((0x211))) & 0x81 )) = $((0x81))
		check "heap_end_ptr 0xde00" test "$(u16 "$T/rm.bin" $((0x224)))" = $((0xde00))
		check "cmd_line_ptr 0x1e000" test "$(u32 "$T/rm.bin" $((0x228)))" = $((0x1e000))
		check "the command line at cmd_line_ptr" test "$(tr -d '\0' <"$T/cmd.bin")" = "$cmdline"
		rd=$(u32 "$T/rm.bin" $((0x218))) rdsize=$(u32 "$T/rm.bin" $((0x21c)))
		check "ramdisk_size is the initrd's" test "$rdsize" = 1250000
		check "ramdisk_image 4 KiB aligned, above the kernel ($(printf '0x%x' "$rd"))" \
			test $((rd % 4096)) = 0 -a "$rd" -ge $((0x100000 + $(stat -c %s "$kernel")))
		check "ramdisk_image within initrd_addr_max and 256 MiB of RAM" \
			test $((rd + rdsize)) -le $(( $(u32 "$kernel" $((0x22c))) + 1 )) -a $((rd + rdsize)) -le $((256 << 20))
		check "the initrd at ramdisk_image, byte for byte" cmp -s "$T/rd.bin" "$T/initrd"
	else
		fail "no stop at the kernel's entry: $(tail -n 5 "$T/gdb.log")"
	fi
fi

# --- a kernel runs -------------------------------------------------------------
# memtest86+ draws its screen on the serial port with escape sequences and
# ends no line for a long while, so boot_wait's line reader would not see
# the banner: poll the serial log for it instead.
serial_wait() {	# LOG MARKER QEMU-ARGS...
	local log=$1 marker=$2 start=$SECONDS qpid found=1
	shift 2
	: >"$log"
	timeout "$BOOT_TIMEOUT" "$QEMU" -accel tcg -m 256 -display none -no-reboot -monitor none \
		-serial file:"$log" "$@" >/dev/null 2>&1 &
	qpid=$!
	while kill -0 $qpid 2>/dev/null; do
		if grep -aqF "$marker" "$log"; then found=0; break; fi
		sleep 0.5
	done
	grep -aqF "$marker" "$log" && found=0
	BOOT_SECONDS=$((SECONDS - start))
	kill $qpid 2>/dev/null; wait $qpid 2>/dev/null
	return $found
}
# shellcheck disable=SC2086
if serial_wait "$T/fd.log" "Memtest86+" $floppy; then
	ok "from a floppy drive: memtest86+ runs and talks on ttyS0 as told (${BOOT_SECONDS}s)"
else
	fail "from a floppy drive: no memtest86+ banner on the serial console"; tail -c 600 "$T/fd.log"
fi

# From a CD whose El Torito default entry is the floppy (mklive build --floppy).
ver=6.1.0-floppy
mkdir -p "$T/tree/sbin" "$T/mods/$ver"
printf '#!/bin/sh\n' >"$T/tree/sbin/init"
: >"$T/mods/$ver/modules.dep"; : >"$T/mods/$ver/modules.builtin"; : >"$T/mods/$ver/modules.order"
cp "$kernel" "$T/vmlinuz-$ver"
if "$MKLIVE" build -q --floppy --uefi no --timeout 1 --append "$cmdline" --kernel "$T/vmlinuz-$ver" \
	--modules "$T/mods/$ver" "$T/tree" -o "$T/fl.iso" 2>"$T/err"; then
	if serial_wait "$T/cd.log" "Memtest86+" -cdrom "$T/fl.iso" -boot d; then
		ok "from CD, El Torito floppy emulation: the BIOS boots the floppy, memtest86+ runs (${BOOT_SECONDS}s)"
	else
		fail "from CD: no memtest86+ banner"; tail -c 600 "$T/cd.log"
	fi
else
	fail "build --floppy: $(cat "$T/err")"
fi
t_done
