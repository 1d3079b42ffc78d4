#!/bin/bash
# Run every test: unit programs (build/tests/test-*), command tests
# (tests/cli/*.sh) and boot tests (tests/boot/*.sh; skipped with
# MKLIVE_SKIP_BOOT=1). Each prints "N passed, N failed[, N skipped]" last;
# this sums them and prints the same line for the whole run.
set -u
cd "$(dirname "$0")/.."
export MKLIVE_TOP=$PWD
# SANITIZE=1 builds: see tests/lib.sh.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}
logdir=build/test-logs
mkdir -p "$logdir"
tp=0 tf=0 ts=0

run_one() {
	local name=$1; shift
	local log=$logdir/$(basename "$name").log
	local start=$SECONDS
	"$@" >"$log" 2>&1
	local rc=$?
	local last
	last=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	local p=0 f=0 s=0
	if [ -n "$last" ]; then
		p=$(echo "$last" | sed -E 's/^([0-9]+) passed.*/\1/')
		f=$(echo "$last" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
		case $last in *skipped*) s=$(echo "$last" | sed -E 's/.*, ([0-9]+) skipped.*/\1/') ;; esac
	fi
	if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "not ok - $name exited $rc without reporting a failure" >>"$log"
	fi
	tp=$((tp + p)); tf=$((tf + f)); ts=$((ts + s))
	printf '%-32s %4d passed %3d failed %3d skipped  %4ds\n' "$name" "$p" "$f" "$s" $((SECONDS - start))
	if [ "$f" -gt 0 ]; then
		grep -E '^(not ok|FAIL)' "$log" | head -n 20 | sed 's/^/    /'
		echo "    (log: $log)"
	fi
	grep -E '^skip' "$log" | head -n 5 | sed 's/^/    /'
}

for t in build/tests/test-*; do
	[ -x "$t" ] || continue
	run_one "unit/$(basename "$t")" "$t"
done
for t in tests/cli/*.sh; do
	[ -f "$t" ] || continue
	run_one "cli/$(basename "$t" .sh)" bash "$t"
done
if [ "${MKLIVE_SKIP_BOOT:-0}" = 1 ]; then
	echo "boot tests skipped: MKLIVE_SKIP_BOOT=1"
else
	for t in tests/boot/*.sh; do
		[ -f "$t" ] && [ "$(basename "$t")" != lib.sh ] || continue
		run_one "boot/$(basename "$t" .sh)" bash "$t"
	done
fi
if [ "$ts" -gt 0 ]; then
	echo "$tp passed, $tf failed, $ts skipped"
else
	echo "$tp passed, $tf failed"
fi
[ "$tf" -eq 0 ]
