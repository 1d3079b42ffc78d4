#!/bin/bash
# Boot option toram: the image is copied into RAM and the medium released.
# Without toram the CD stays mounted; with it the copy shows a few progress
# lines, the CD is unmounted, and after the CD is ejected through the QEMU
# monitor the live system still reads every file of its image. With too
# little memory the init says so and boots from the CD. A cloop image is
# copied too.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
t_tmpdir

require_qemu
iso=$(demo_iso) || { fail "building the demo ISO"; t_done; exit 1; }
demo_kernel "$iso" "$T" || { fail "extracting the kernel and initramfs from $iso"; t_done; exit 1; }
boot=(-kernel "$T/vmlinuz" -initrd "$T/initrd.img" -cdrom "$iso")

# 1. Without toram: the image is read from the CD, which stays mounted.
if boot_wait "$T/1.log" MKLIVE-BOOT-OK "${boot[@]}" -append "console=ttyS0"; then
	check "without toram: the medium stays mounted" grep -q 'mklive-demo: medium mounted: /dev/sr0' "$T/1.log"
	check "without toram: the image is read from the medium" \
		grep -q 'image read from: /run/mklive/medium/live/filesystem.squashfs' "$T/1.log"
	check "without toram: nothing copied" bash -c '! grep -q "mklive: toram" "$1"' _ "$T/1.log"
else
	fail "boot without toram: no marker; last lines:"; tail -n 25 "$T/1.log"
fi

# 2. toram, then eject the CD through the monitor (a pair of FIFOs).
mkfifo "$T/mon.in" "$T/mon.out"
boot_start "$T/2.log" "${boot[@]}" -chardev "pipe,id=mon,path=$T/mon" -mon chardev=mon,mode=readline \
	-append "console=ttyS0 toram mklive-demo.after-eject"
cat "$T/mon.out" >"$T/mon.log" &
monpid=$!
if boot_expect "after-eject: waiting for the CD to be removed"; then
	ok "toram: the live system is up"
	check "toram: copy announced with its size" grep -Eq 'mklive: toram: copying filesystem.squashfs \([0-9]+ MB\) into RAM' "$T/2.log"
	n=$(grep -c 'mklive: toram:' "$T/2.log")
	check "toram: progress in a few lines ($n), not thousands" test "$n" -ge 4 -a "$n" -le 7
	check "toram: copy done with its time ($(grep -Eo '[0-9]+ MB copied in [0-9.]+ s' "$T/2.log"))" \
		grep -Eq 'mklive: toram: [0-9]+ MB copied in [0-9]+\.[0-9] s' "$T/2.log"
	check "toram: the init released the medium" grep -q 'mklive: toram: the medium is unmounted and may be removed' "$T/2.log"
	check "toram: the live system has no medium mounted" grep -q 'mklive-demo: medium mounted: no' "$T/2.log"
	check "toram: the image is read from RAM" grep -q 'image read from: /run/mklive/toram/filesystem.squashfs' "$T/2.log"
	printf 'eject -f ide1-cd0\n' >"$T/mon.in"
	if boot_expect "mklive-demo: after-eject: "; then
		check "after the eject the live system sees the CD gone" grep -q 'mklive-demo: after-eject: the CD is gone' "$T/2.log"
		if boot_expect "mklive-demo: read-all"; then
			check "after the eject every file of the image reads ($(grep -Eo 'read-all [0-9.]+ s, [0-9]+ files' "$T/2.log"))" \
				grep -Eq 'mklive-demo: read-all [0-9.]+ s, [0-9]+ files: ok' "$T/2.log"
		else
			fail "after the eject: no read-all line; last lines:"; tail -n 25 "$T/2.log"
		fi
		check "after the eject the system still reads its files" boot_expect 'after-eject: hello from the live system'
		check "after the eject the boot completes" boot_expect MKLIVE-BOOT-OK
	else
		fail "after the eject: no word from the live system; last lines:"; tail -n 25 "$T/2.log"
	fi
else
	fail "toram boot: the live system did not come up; last lines:"; tail -n 25 "$T/2.log"
fi
boot_stop
kill "$monpid" 2>/dev/null
wait "$monpid" 2>/dev/null

# 3. toram with too little memory: said, and booted from the CD.
if boot_wait "$T/3.log" MKLIVE-BOOT-OK "${boot[@]}" -m 256 -append "console=ttyS0 toram"; then
	check "little memory: the init says there is not enough" \
		grep -Eq 'mklive: warning: toram: not enough memory to copy filesystem.squashfs \([0-9]+ MB\) into RAM: [0-9]+ MB available, [0-9]+ MB needed; booting from the medium' "$T/3.log"
	check "little memory: booted from the medium, still mounted" grep -q 'mklive-demo: medium mounted: /dev/sr0' "$T/3.log"
else
	fail "toram with 256 MB: no marker; last lines:"; tail -n 25 "$T/3.log"
fi
# 4. A cloop image goes into RAM the same way; the nbd server reads the copy.
if "$MKLIVE" build -q --timeout 1 --level 1 --image-format cloop --append "console=ttyS0 toram" \
	"$TOP/build/test-demo/root" -o "$T/cloop.iso" 2>"$T/err"; then
	if boot_wait "$T/4.log" MKLIVE-BOOT-OK -cdrom "$T/cloop.iso"; then
		check "cloop: copied into RAM" grep -Eq 'mklive: toram: [0-9]+ MB copied in' "$T/4.log"
		check "cloop: the medium released" grep -q 'mklive-demo: medium mounted: no' "$T/4.log"
		check "cloop: the nbd server serves the image" grep -q 'mklive-demo: image: /dev/nbd0 iso9660' "$T/4.log"
		check "cloop: the nbd server reads the copy in RAM" \
			grep -q 'mklive: cloop /run/mklive/toram/filesystem.cloop: .* served on /dev/nbd0' "$T/4.log"
	else
		fail "cloop with toram: no marker; last lines:"; tail -n 25 "$T/4.log"
	fi
else
	fail "cloop build: $(cat "$T/err")"
fi
t_done
