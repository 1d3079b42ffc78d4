#!/bin/bash
# mklive cloop create|extract|info, checked with readers we did not write:
# extract_compressed_fs and create_compressed_fs (cloop-utils), qemu-img
# convert -f cloop (qemu-utils). Round trips for V2.0 and V4.0 with each
# codec, byte identity with create_compressed_fs, thread independence,
# stdin/stdout, damaged images, bad options, no partial output.
. "$(dirname "$0")/../lib.sh"
t_tmpdir
C="$MKLIVE cloop"

# Inputs: compressible (binaries and text), random, and a mix; sizes around
# the block size. extract_compressed_fs 3.14 crashes (SIGFPE) on images of
# fewer than ~5 blocks, so the outside-reader inputs are larger.
{ cat /usr/bin/bash /usr/share/common-licenses/* 2>/dev/null; } | head -c 1500000 >"$T/text"
head -c 700000 /dev/urandom >"$T/random"
{ head -c 300000 "$T/random"; head -c 900000 "$T/text"; } >"$T/mix"
# pad FILE BS: FILE followed by zeros to a multiple of BS (what images hold)
pad() { local s; s=$(stat -c %s "$1"); cp "$1" "$1.pad"; truncate -s $(( (s + $2 - 1) / $2 * $2 )) "$1.pad"; }

# --- V2.0 defaults ---------------------------------------------------------
$C create "$T/text" "$T/v2.cloop"
check "create V2 defaults" test -s "$T/v2.cloop"
check "preamble is create_compressed_fs's" test "$(head -c 23 "$T/v2.cloop")" = $'#!/bin/sh\n#V2.0 Format'
$C info "$T/v2.cloop" >"$T/info" 2>&1
check "info: header line" grep -qx 'header: #V2.0 Format (header first)' "$T/info"
check "info: version" grep -qx 'version: 2.0' "$T/info"
check "info: block size" grep -qx 'block size: 65536' "$T/info"
check "info: block count" grep -qx 'blocks: 23' "$T/info"
check "info: codecs" grep -qx 'codecs: zlib 23' "$T/info"
check "info: original size" grep -qx 'original size: 1507328' "$T/info"
check "info: compressed size" grep -qx "compressed size: $(stat -c %s "$T/v2.cloop")" "$T/info"
check "info: ratio" grep -qE '^ratio: [0-9]+\.[0-9]+%$' "$T/info"
pad "$T/text" 65536
$C extract "$T/v2.cloop" "$T/v2.out"
check "extract gives back the (padded) input" cmp -s "$T/v2.out" "$T/text.pad"
$C extract "$T/v2.cloop" - >"$T/v2.stdout"
check "extract to stdout" cmp -s "$T/v2.stdout" "$T/text.pad"

if command -v extract_compressed_fs >/dev/null; then
	extract_compressed_fs "$T/v2.cloop" "$T/v2.ecfs" >/dev/null 2>&1
	check "extract_compressed_fs reads our V2" cmp -s "$T/v2.ecfs" "$T/text.pad"
else
	skip "extract_compressed_fs missing (apt-get install cloop-utils)"
fi
if command -v qemu-img >/dev/null; then
	qemu-img convert -f cloop -O raw "$T/v2.cloop" "$T/v2.qemu"
	check "qemu-img convert -f cloop reads our V2" cmp -s "$T/v2.qemu" "$T/text.pad"
else
	skip "qemu-img missing (apt-get install qemu-utils)"
fi

# --- byte identity with create_compressed_fs -------------------------------
if command -v create_compressed_fs >/dev/null; then
	for f in text mix; do
		for bs in 65536 16384; do
			create_compressed_fs -q -B $bs "$T/$f" "$T/ccfs.$f.$bs" >/dev/null 2>&1
			$C create --compat --block-size $bs "$T/$f" "$T/our.$f.$bs"
			check "--compat is byte-identical to create_compressed_fs ($f, $bs)" \
				cmp -s "$T/ccfs.$f.$bs" "$T/our.$f.$bs"
			$C create --block-size $bs "$T/$f" "$T/fast.$f.$bs"
			a=$(stat -c %s "$T/ccfs.$f.$bs") b=$(stat -c %s "$T/fast.$f.$bs")
			check "default is within 0.5% of create_compressed_fs ($f, $bs: $b vs $a)" \
				test $((b * 1000)) -le $((a * 1005))
		done
	done
	create_compressed_fs -q -B 4096 -L 5 "$T/mix" "$T/ccfs.l5" >/dev/null 2>&1
	$C create --block-size 4096 --level 5 "$T/mix" "$T/our.l5"
	check "level 5, 4 KiB blocks: byte-identical" cmp -s "$T/ccfs.l5" "$T/our.l5"
	$C extract "$T/ccfs.l5" "$T/ccfs.l5.out"
	pad "$T/mix" 4096
	check "we read create_compressed_fs's image" cmp -s "$T/ccfs.l5.out" "$T/mix.pad"
else
	skip "create_compressed_fs missing (apt-get install cloop-utils)"
fi

# --- threads, stdin --------------------------------------------------------
$C create -j 1 "$T/mix" "$T/j1"
$C create -j 4 "$T/mix" "$T/j4"
check "1 and 4 threads give the same image" cmp -s "$T/j1" "$T/j4"
cat "$T/mix" | $C create -j 3 - "$T/stdin"
check "stdin (spooled) gives the same image" cmp -s "$T/j1" "$T/stdin"
$C create "$T/mix" - >"$T/stdout"
check "create to stdout gives the same image" cmp -s "$T/j1" "$T/stdout"

# --- V4.0: each codec, several block and input sizes -----------------------
pad "$T/mix" 512
for codec in zlib xz lz4 none; do
	for bs in 512 65536 131072; do
		for f in mix random; do
			head -c $((bs + 1)) "$T/$f" >"$T/in.$f"
			for src in "$T/in.$f" "$T/$f"; do
				$C create --format v4 --codec $codec --block-size $bs "$src" "$T/v4" &&
				$C extract "$T/v4" "$T/v4.out" && pad "$src" $bs &&
				cmp -s "$T/v4.out" "$src.pad" || { fail "V4 $codec bs $bs $(basename "$src")"; continue 2; }
			done
		done
		ok "V4 round trips: $codec, $bs-byte blocks"
	done
done
$C create --format v4 "$T/mix" "$T/v4mix"
$C info "$T/v4mix" >"$T/info4"
check "V4: random blocks are stored as none" grep -qE '^codecs: zlib [0-9]+, none [0-9]+$' "$T/info4"
check "V4: header line" grep -qx 'header: #V4.0 Format (header first)' "$T/info4"
$C create --format v4 --codec xz "$T/text" "$T/v4xz"
check "V4 xz: info counts xz blocks" grep -qx 'codecs: xz 23' <($C info "$T/v4xz")
if command -v qemu-img >/dev/null; then
	# qemu and cloop-utils 3.14 know V2 only: they read a V4 image whose
	# blocks are all zlib (codec 0 = no flag bits) and nothing else.
	$C create --format v4 "$T/text" "$T/v4z"
	qemu-img convert -f cloop -O raw "$T/v4z" "$T/v4z.qemu"
	check "qemu-img reads a V4 image of zlib blocks" cmp -s "$T/v4z.qemu" "$T/text.pad"
fi
for n in 0 1; do
	head -c $n "$T/text" >"$T/tiny"
	$C create "$T/tiny" "$T/tiny.cloop" && $C extract "$T/tiny.cloop" "$T/tiny.out"
	check "input of $n bytes: $(stat -c %s "$T/tiny.out") bytes back" \
		test "$(stat -c %s "$T/tiny.out")" = $(( n ? 65536 : 0 ))
done

# --- damaged images ---------------------------------------------------------
cp "$T/v2.cloop" "$T/bad"
off=$(od -An -tu8 --endian=big -j $((136 + 17 * 8)) -N 8 "$T/bad" | tr -d ' ')
printf '\xff' | dd of="$T/bad" bs=1 seek=$((off + 9)) conv=notrunc status=none
$C extract "$T/bad" "$T/bad.out" 2>"$T/err"; rc=$?
check "flipped byte: exit 1" test $rc = 1
check "flipped byte: names the block ($(cat "$T/err"))" grep -q 'block 17 of 23: compressed data is corrupt' "$T/err"
check "flipped byte: no output left" test ! -e "$T/bad.out"
check "flipped byte: no temp file left" test -z "$(ls "$T" | grep 'bad.out')"
head -c 200 "$T/v2.cloop" >"$T/cut1"
$C info "$T/cut1" 2>"$T/err"; rc=$?
check "cut in the table: exit 1, '$(cat "$T/err")'" eval 'test $rc = 1 && grep -q "offset table truncated" "$T/err"'
head -c $(( $(stat -c %s "$T/v2.cloop") - 5000 )) "$T/v2.cloop" >"$T/cut2"
$C extract "$T/cut2" "$T/cut2.out" 2>"$T/err"; rc=$?
check "cut in the data: exit 1, '$(cat "$T/err")'" eval 'test $rc = 1 && grep -qE "block [0-9]+ of 23 ends past the end of the file" "$T/err"'
head -c 100 /dev/zero >"$T/zero"
$C info "$T/zero" 2>"$T/err"; rc=$?
check "not a cloop image: exit 1" eval 'test $rc = 1 && grep -q "not a cloop image" "$T/err"'
$C info "$T/missing" 2>"$T/err"; rc=$?
check "missing file: exit 1, names it" eval 'test $rc = 1 && grep -q "cannot open .*missing" "$T/err"'

# --- bad options: usage errors (exit 2) -------------------------------------
usage_err() { $C "$@" >/dev/null 2>&1; test $? = 2; }
check "--format v3 is a usage error" usage_err create --format v3 "$T/text" "$T/x"
check "--codec xz without v4 is a usage error" usage_err create --codec xz "$T/text" "$T/x"
check "--codec zstd is a usage error" usage_err create --format v4 --codec zstd "$T/text" "$T/x"
check "--codec lzo is a usage error" usage_err create --format v4 --codec lzo "$T/text" "$T/x"
check "--block-size 1000 is a usage error" usage_err create --block-size 1000 "$T/text" "$T/x"
check "--block-size 128M is a usage error" usage_err create --block-size 128M "$T/text" "$T/x"
check "--level 10 (zlib) is a usage error" usage_err create --level 10 "$T/text" "$T/x"
check "-j 0 is a usage error" usage_err create -j 0 "$T/text" "$T/x"
check "one argument is a usage error" usage_err create "$T/text"
check "unknown subcommand is a usage error" usage_err frobnicate
check "extract with one argument is a usage error" usage_err extract "$T/v2.cloop"
check "no output written by usage errors" test ! -e "$T/x"
$C --help | grep -q 'mklive cloop create'
check "--help prints usage" test $? = 0

# --- interrupted: no partial output ----------------------------------------
( head -c 2000000 "$T/text"; sleep 3; head -c 1000 "$T/text" ) | $C create - "$T/int.cloop" &
pid=$!
sleep 1
kill -INT $pid 2>/dev/null
wait $pid; rc=$?
check "SIGINT: exit 130 ($rc)" test $rc = 130
check "SIGINT: no output, no temp file" test -z "$(ls "$T" | grep int.cloop)"

t_done
