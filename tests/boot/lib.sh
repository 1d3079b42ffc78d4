# Boot-test helpers: QEMU under TCG (KVM hangs on these machines), serial
# console on stdio, and a wait for a line that the booted system prints.
# Source after tests/lib.sh.

QEMU=${QEMU:-qemu-system-x86_64}
BOOT_TIMEOUT=${BOOT_TIMEOUT:-240}

# The demo tree and an ISO built from it with test settings, made once per
# test run and shared by the boot tests (build/test-demo/).
# Every caller then has shim and GRUB in mklive's cache (efi_root), where a
# build without --uefi no finds them.
demo_iso() {
	local dir=$TOP/build/test-demo efi
	efi=$(efi_root) || return 1
	mkdir -p "$dir"
	if [ ! -f "$dir/root/.complete" ] || [ "$TOP/scripts/demo-tree.sh" -nt "$dir/root/.complete" ]; then
		"$TOP/scripts/demo-tree.sh" "$dir/root" >/dev/null || return 1
		touch "$dir/root/.complete"
	fi
	if [ ! -f "$dir/demo.iso" ] || [ "$MKLIVE" -nt "$dir/demo.iso" ] || [ "$MKLIVE_INIT" -nt "$dir/demo.iso" ] ||
	   [ "$TOP/build/mklive-helper" -nt "$dir/demo.iso" ] ||
	   [ "$dir/root/.complete" -nt "$dir/demo.iso" ]; then
		"$MKLIVE" build -q --timeout 1 --level 3 --append "console=ttyS0" --efi-root "$efi" \
			"$dir/root" -o "$dir/demo.iso" || return 1
	fi
	echo "$dir/demo.iso"
}

# boot_wait LOG MARKER QEMU-ARGS...: boot and read the serial console until
# a line holds MARKER (return 0) or QEMU stops / BOOT_TIMEOUT passes (1).
# Prints the seconds to the marker in BOOT_SECONDS.
boot_wait() {
	local log=$1 marker=$2 line found=1 start=$SECONDS
	shift 2
	: >"$log"
	coproc QEMU_PROC { exec timeout "$BOOT_TIMEOUT" "$QEMU" -accel tcg -m 1024 -nographic \
		-no-reboot -monitor none -serial stdio "$@" 2>&1 </dev/null; }
	local qpid=$QEMU_PROC_PID
	while IFS= read -r line <&"${QEMU_PROC[0]}"; do
		printf '%s\n' "$line" >>"$log"
		case $line in *"$marker"*) found=0; break ;; esac
	done
	BOOT_SECONDS=$((SECONDS - start))
	# Keep reading what is already there a moment is not needed: we stop QEMU now.
	kill "$qpid" 2>/dev/null
	wait "$qpid" 2>/dev/null
	return $found
}

# The Debian example's ISO (examples/debian/build.sh: a recipe, so mmdebstrap
# runs for minutes), made once for the tests that boot it and kept in
# build/test-debian/, keyed by what it is made of: mklive, its init, the
# example's files, SOURCE_DATE_EPOCH. Prints its path; the build's output
# is in build/test-debian/build.log.
debian_iso() {
	local dir=$TOP/build/test-debian key
	key=$(cat "$MKLIVE" "$MKLIVE_INIT" "$TOP"/examples/debian/mklive.conf "$TOP"/examples/debian/build.sh \
		"$TOP"/examples/debian/hooks/* 2>/dev/null | sha256sum | cut -c1-16)-${SOURCE_DATE_EPOCH:-now}
	mkdir -p "$dir"
	if [ "$(cat "$dir/key" 2>/dev/null)" != "$key" ] || [ ! -s "$dir/debian.iso" ]; then
		rm -f "$dir/key" "$dir/debian.iso"
		MKLIVE=$MKLIVE "$TOP/examples/debian/build.sh" "$dir/debian.iso" >"$dir/build.log" 2>&1 || return 1
		echo "$key" >"$dir/key"
	fi
	echo "$dir/debian.iso"
}

# Where the boot pieces (kernel, busybox, OVMF, memtest86+) are unpacked
# (scripts/fetch-boot.sh, in mklive's cache).
boot_cache() {
	"$TOP/scripts/fetch-boot.sh"
}

# Where Debian's signed shim and GRUB are: mklive's cache, which
# fetch-boot.sh fills through mklive fetch-efi.
efi_root() {
	"$TOP/scripts/fetch-boot.sh" >/dev/null && "$MKLIVE" fetch-efi -q
}

# OVMF firmware arguments: ovmf_args uefi|secureboot VARS-COPY
ovmf_args() {
	local ovmf
	ovmf=$(boot_cache)/usr/share/OVMF
	case $1 in
	uefi)
		cp "$ovmf/OVMF_VARS_4M.fd" "$2"
		echo "-M q35 -drive if=pflash,format=raw,unit=0,readonly=on,file=$ovmf/OVMF_CODE_4M.fd -drive if=pflash,format=raw,unit=1,file=$2" ;;
	secureboot)
		cp "$ovmf/OVMF_VARS_4M.ms.fd" "$2"
		echo "-M q35,smm=on -global driver=cfi.pflash01,property=secure,value=on -drive if=pflash,format=raw,unit=0,readonly=on,file=$ovmf/OVMF_CODE_4M.secboot.fd -drive if=pflash,format=raw,unit=1,file=$2" ;;
	esac
}

have_qemu() {
	command -v "$QEMU" >/dev/null 2>&1
}

# Every boot test starts with this: without QEMU it is skipped, saying why.
# The real mmdebstrap, for the tests that build recipes.
require_mmdebstrap() {
	if ! command -v mmdebstrap >/dev/null; then
		skip "mmdebstrap not installed (scripts/deps.sh check installs it)"
		t_done
		exit 0
	fi
}

require_qemu() {
	if ! have_qemu; then
		skip "$QEMU not installed (scripts/deps.sh check installs qemu-system-x86)"
		t_done
		exit 0
	fi
}

# A boot driven step by step, for tests that act on the running machine:
#   boot_start LOG QEMU-ARGS...   start QEMU (serial console read into LOG;
#                                 give -monitor/-mon yourself, or none)
#   boot_expect MARKER            read on until a line holds MARKER (0), or
#                                 QEMU stops / BOOT_TIMEOUT passes (1)
#   boot_stop                     stop QEMU
# The session spans a boot and what the test does after it: QEMU is
# stopped after twice BOOT_TIMEOUT.
boot_start() {
	BOOT_LOG=$1
	shift
	: >"$BOOT_LOG"
	coproc QEMU_PROC { exec timeout "$((2 * BOOT_TIMEOUT))" "$QEMU" -accel tcg -m 1024 -nographic \
		-no-reboot -serial stdio "$@" 2>&1 </dev/null; }
	BOOT_PID=$QEMU_PROC_PID
	BOOT_FD=${QEMU_PROC[0]}
}

boot_expect() {
	local line
	while IFS= read -r line <&"$BOOT_FD"; do
		printf '%s\n' "$line" >>"$BOOT_LOG"
		case $line in *"$1"*) return 0 ;; esac
	done
	return 1
}

boot_stop() {
	kill "$BOOT_PID" 2>/dev/null
	wait "$BOOT_PID" 2>/dev/null
	return 0
}

# The demo ISO's kernel and initramfs into DIR (for -kernel/-initrd/-append
# boots with options the menu does not have).
demo_kernel() {
	xorriso -osirrox on -indev "$1" -extract /live/vmlinuz "$2/vmlinuz" \
		-extract /live/initrd.img "$2/initrd.img" >/dev/null 2>&1 &&
		[ -s "$2/vmlinuz" ] && [ -s "$2/initrd.img" ]
}

# iso_flip_byte ISO FILE-ON-MEDIUM OFFSET: one byte of that file changed
# inside the ISO, in place; fails if it did not change
iso_flip_byte() {
	local lba off orig
	lba=$(xorriso -indev "$1" -find "$2" -exec report_lba 2>/dev/null | awk -F' *, *' '/File data lba/ {print $2}')
	off=$((lba * 2048 + $3))
	orig=$(od -An -tu1 -j"$off" -N1 "$1" | tr -d ' ')
	printf "$(printf '\\%03o' $(( (orig + 1) % 256 )))" | dd of="$1" bs=1 seek="$off" conv=notrunc 2>/dev/null
	test "$(od -An -tu1 -j"$off" -N1 "$1" | tr -d ' ')" != "$orig"
}

# iso_sqfs_id_table ISO FILE-ON-MEDIUM: where the squashfs's id table
# (read by every mount) starts in the file, from its superblock
iso_sqfs_id_table() {
	local lba
	lba=$(xorriso -indev "$1" -find "$2" -exec report_lba 2>/dev/null | awk -F' *, *' '/File data lba/ {print $2}')
	od -An -tu8 -j$((lba * 2048 + 48)) -N8 "$1" | tr -d ' '
}

# guest_initrd DIR OUT 'MODULES' PROGRAM...: DIR (holding the caller's
# /init, a busybox sh script) made into an initramfs OUT (newc cpio) for a
# guest that runs the HOST's programs: each PROGRAM with the libraries and
# loader ldd lists, the cache's static busybox (its applets installed by
# /init: busybox --install -s /bin), and the demo tree's kernel modules
# MODULES (file names without .ko) with what modules.dep says they need,
# in /mod, their load order in /modules (one file a line: the guest has no
# modprobe). Run demo_iso first (the modules tree is the demo tree's).
guest_initrd() {
	local dir=$1 out=$2 mods=$3 moddir p lib m dep order=()
	shift 3
	moddir=$(ls -d "$TOP"/build/test-demo/root/lib/modules/*/ | head -n 1)
	mkdir -p "$dir"/{bin,sbin,usr/sbin,etc,proc,sys,dev,run,tmp,mod} || return 1
	cp "$(boot_cache)/bin/busybox" "$dir/bin/busybox" || return 1
	for p in "$@"; do
		p=$(command -v "$p") || return 1
		mkdir -p "$dir$(dirname "$p")" && cp -L "$p" "$dir$p" || return 1
		for lib in $(ldd "$p" | grep -o '/[^ ]*'); do
			mkdir -p "$dir$(dirname "$lib")" && cp -L "$lib" "$dir$lib" || return 1
		done
	done
	# modules.dep lists a module's needs nearest first: loaded in reverse
	for m in $mods; do
		dep=$(grep "/$m\.ko:" "$moddir/modules.dep") || { echo "guest_initrd: no module $m in $moddir" >&2; return 1; }
		# shellcheck disable=SC2086
		for p in $(printf '%s\n' ${dep#*:} | tac) "${dep%%:*}"; do
			case " ${order[*]} " in *" $(basename "$p") "*) continue ;; esac
			cp "$moddir/$p" "$dir/mod/" || return 1
			order+=("$(basename "$p")")
		done
	done
	printf '%s\n' "${order[@]}" >"$dir/modules"
	(cd "$dir" && find . | cpio -o -H newc --quiet) >"$out"
}
