#!/bin/bash
# Build and run the libFuzzer harnesses (tests/fuzz/fuzz-*.c).
#
#   tests/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Each harness is built with clang (-fsanitize=fuzzer,address,undefined)
# together with the project sources it covers, into build/fuzz/, and run
# for SECONDS (default 60) on a fresh copy of its seed corpus
# (tests/fuzz/corpus/NAME/, copied to build/fuzz/corpus/NAME/). Targets run
# FUZZ_JOBS at a time (default 2; the compiler is FUZZ_CC, default clang).
# Per target one line: "ok - NAME: N runs ..." or "not ok - NAME: ..."
# naming the input saved in build/fuzz/; the libFuzzer log is
# build/fuzz/NAME.log. Without clang or libFuzzer's runtime: one line
# "skip - REASON" and exit status 77. Last line: "N passed, N failed"
# (passed: the target ran its time and found nothing). Exit status 0 when
# nothing failed.
set -u
cd "$(dirname "$0")/../.."
TOP=$PWD
SECONDS_PER=${1:-60}
shift $(($# > 0 ? 1 : 0))
OUT=$TOP/build/fuzz
JOBS=${FUZZ_JOBS:-2}
CLANG=${FUZZ_CC:-clang}
PKG_CONFIG=${PKG_CONFIG:-pkg-config}

case $SECONDS_PER in
'' | *[!0-9]*) echo "usage: $0 [SECONDS_PER_TARGET] [TARGET...]" >&2; exit 2 ;;
esac

# name | max_len | pkg-config packages | project sources linked in
TARGETS="
config      | 4096  |                               | src/cli/config.c src/cli/options.c src/cli/common.c src/pipeline/image.c src/tree/err.c src/tree/io.c src/tree/outfile.c
tar         | 65536 | libarchive                    | src/source/source.c src/source/tar.c src/source/dir.c src/tree/tree.c src/tree/err.c
cloop       | 65536 | zlib liblzma liblz4 libzstd   | src/fmt/cloop.c src/codec/block.c src/codec/codec.c src/tree/err.c src/tree/io.c src/tree/outfile.c
init-cloop  | 65536 | zlib liblzma liblz4 libzstd   | src/fmt/cloop.c src/codec/block.c src/codec/codec.c src/tree/err.c src/tree/io.c src/tree/outfile.c
init-unpack | 65536 | zlib liblz4                   |
medium      | 4096  |                               | src/init/medium.c src/init/util.c src/init/modules.c src/init/usb.c
cmdline     | 4096  |                               | src/init/util.c src/init/medium.c src/init/mount.c src/init/nbd.c src/init/unpack.c src/init/copy.c src/init/switch_root.c src/init/usb.c
modules     | 16384 |                               | src/pipeline/modules.c src/tree/err.c
media       | 69632 |                               | src/media/probe.c
pe          | 131072 | libcrypto                    | src/fmt/pe.c src/fmt/digest.c src/pipeline/efi.c src/pipeline/cache.c src/tree/err.c src/tree/io.c src/tree/outfile.c src/tree/run.c
varstore    | 65536 |                               | src/fmt/varstore.c src/tree/err.c
luks        | 1024  |                               | src/helper/luks.c src/helper/pbkdf2.c src/fmt/sha256.c
verity      | 4096  |                               | src/helper/verity_table.c
entry       | 4096  |                               | src/helper/entry_table.c
"

all_names() { echo "$TARGETS" | awk -F'|' 'NF > 1 { gsub(/ /, "", $1); print $1 }'; }
field() { echo "$TARGETS" | awk -F'|' -v n="$1" -v f="$2" '{ k = $1; gsub(/ /, "", k) } k == n { print $f }'; }

names=${*:-$(all_names)}
for n in $names; do
	[ -n "$(field "$n" 1)" ] || { echo "unknown target '$n' (targets: $(all_names | tr '\n' ' '))" >&2; exit 2; }
done

mkdir -p "$OUT/bin" "$OUT/corpus"

# Is there a compiler with libFuzzer's runtime? (Exit 77: skip.)
if ! command -v "$CLANG" >/dev/null 2>&1; then
	echo "skip - no clang ($CLANG) for the fuzz harnesses"
	exit 77
fi
printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return 0; }\n' >"$OUT/probe.c"
if ! "$CLANG" -fsanitize=fuzzer,address,undefined -o "$OUT/probe" "$OUT/probe.c" >"$OUT/probe.log" 2>&1; then
	echo "skip - $CLANG cannot link -fsanitize=fuzzer (libclang-rt-dev missing?): $(head -n 1 "$OUT/probe.log")"
	exit 77
fi

CFLAGS="-std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
	-fno-omit-frame-pointer -Wall -Wextra -Wno-unused-parameter -Wno-unused-function
	-D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -DMKLIVE_LIBEXECDIR=\"/nonexistent\"
	-Isrc -Itests/fuzz"

# build NAME: build/fuzz/bin/fuzz-NAME, unless it is newer than every source
build() {
	local n=$1 bin=$OUT/bin/fuzz-$1 pkgs srcs flags libs
	pkgs=$(field "$n" 3)
	srcs=$(field "$n" 4)
	if [ -x "$bin" ] && [ -z "$(find src tests/fuzz "$0" -newer "$bin" \( -name '*.[ch]' -o -name run.sh \) 2>/dev/null | head -n 1)" ]; then
		return 0
	fi
	flags=$([ -n "${pkgs// /}" ] && $PKG_CONFIG --cflags $pkgs)
	libs=$([ -n "${pkgs// /}" ] && $PKG_CONFIG --libs $pkgs)
	# shellcheck disable=SC2086
	"$CLANG" $CFLAGS $flags -o "$bin" "tests/fuzz/fuzz-$n.c" $srcs $libs -lpthread \
		>"$OUT/fuzz-$n.build.log" 2>&1
}

# run NAME: the fuzzing itself; writes build/fuzz/NAME.result
run() {
	local n=$1 bin=$OUT/bin/fuzz-$1 corpus=$OUT/corpus/$1 log=$OUT/$1.log rc runs secs unit
	rm -rf "$corpus" "$OUT/$n.result"
	mkdir -p "$corpus"
	[ -d "tests/fuzz/corpus/$n" ] && cp -r "tests/fuzz/corpus/$n/." "$corpus/"
	# -timeout: one input taking this long is a finding (a hang);
	# -rss_limit_mb/-malloc_limit_mb: so is asking for this much memory.
	"$bin" -max_total_time="$SECONDS_PER" -max_len="$(field "$n" 2 | tr -d ' ')" \
		-timeout=25 -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 \
		-artifact_prefix="$OUT/$n-" "$corpus" >"$log" 2>&1
	rc=$?
	runs=$(sed -nE 's/^Done ([0-9]+) runs in ([0-9]+) second.*/\1/p' "$log" | tail -n 1)
	secs=$(sed -nE 's/^Done ([0-9]+) runs in ([0-9]+) second.*/\2/p' "$log" | tail -n 1)
	unit=$(sed -nE 's/.*Test unit written to (.*)$/\1/p' "$log" | tail -n 1)
	if [ "$rc" -eq 0 ] && [ -n "$runs" ]; then
		echo "ok - $n: $runs runs in $secs s, $(grep -c . <<<"$(ls "$corpus")") inputs in the corpus, no findings" >"$OUT/$n.result"
	else
		local what
		what=$(grep -m 1 -E '^(==[0-9]+==ERROR|SUMMARY|.*check failed|ALARM|==[0-9]+== ERROR)' "$log")
		[ -n "$what" ] || what=$(grep -m 1 -E 'runtime error|out-of-memory|timeout|deadly signal' "$log")
		echo "not ok - $n: ${what:-libFuzzer exited $rc}; input: ${unit:-none saved}; log: ${log#"$TOP"/}" \
			>"$OUT/$n.result"
	fi
}

passed=0 failed=0
ok_names=
for n in $names; do
	if build "$n"; then
		ok_names="$ok_names $n"
	else
		echo "not ok - $n: the harness does not build (build/fuzz/fuzz-$n.build.log):"
		sed 's/^/    /' "$OUT/fuzz-$n.build.log" | head -n 20
		failed=$((failed + 1))
	fi
done

# at most JOBS at once
running=0
for n in $ok_names; do
	if [ "$running" -ge "$JOBS" ]; then
		wait -n
		running=$((running - 1))
	fi
	run "$n" &
	running=$((running + 1))
done
wait

for n in $ok_names; do
	if [ -f "$OUT/$n.result" ]; then
		cat "$OUT/$n.result"
		grep -q '^ok' "$OUT/$n.result" && passed=$((passed + 1)) || failed=$((failed + 1))
	else
		echo "not ok - $n: no result"
		failed=$((failed + 1))
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
