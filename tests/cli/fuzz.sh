#!/bin/bash
# The short fuzz run of make check: every libFuzzer harness of tests/fuzz
# (the parsers of data mklive did not make: mklive.conf, tar input, cloop
# images, the init's medium probe, command line and cloop reader) for
# MKLIVE_FUZZ_SECONDS each (default 10), two at a time, through
# tests/fuzz/run.sh. One check per harness: it built, ran its time and
# found nothing. Skipped without clang and libFuzzer's runtime. The long
# run is `make fuzz FUZZ_SECONDS=600`.
. "$(dirname "$0")/../lib.sh"

out=$("$TOP/tests/fuzz/run.sh" "${MKLIVE_FUZZ_SECONDS:-10}" 2>&1)
rc=$?
if [ "$rc" -eq 77 ]; then
	skip "${out#skip - }"
	t_done
	exit
fi
while IFS= read -r line; do
	case $line in
	"ok - "*) ok "fuzz ${line#ok - }" ;;
	"not ok - "*) fail "fuzz ${line#not ok - }" ;;
	*[0-9]" passed, "[0-9]*" failed") ;;
	*) echo "    $line" ;;
	esac
done <<<"$out"
if [ "$rc" -ne 0 ] && [ "$t_failed" -eq 0 ]; then
	fail "tests/fuzz/run.sh exited $rc"
fi
t_done
