# Shell test helpers: source this, call ok/fail/skip, end with t_done.
# Each check prints one line; t_done prints "N passed, N failed[, N skipped]".
t_passed=0 t_failed=0 t_skipped=0
TOP=${MKLIVE_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
MKLIVE=${MKLIVE:-$TOP/build/mklive}
MKLIVE_INIT=${MKLIVE_INIT:-$TOP/build/mklive-init}
# For a SANITIZE=1 build (ignored otherwise): undefined behaviour fails, and
# the one known leak of libsquashfs is suppressed (tests/lsan.supp says why).
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$TOP/tests/lsan.supp:print_suppressions=0}

ok()   { t_passed=$((t_passed + 1)); echo "ok - $*"; }
fail() { t_failed=$((t_failed + 1)); echo "not ok - $*"; }
skip() { t_skipped=$((t_skipped + 1)); echo "skip - $*"; }
# check NAME CMD...: pass when CMD succeeds
check() { local n=$1; shift; if "$@"; then ok "$n"; else fail "$n"; fi; }
t_done() {
	if [ "$t_skipped" -gt 0 ]; then
		echo "$t_passed passed, $t_failed failed, $t_skipped skipped"
	else
		echo "$t_passed passed, $t_failed failed"
	fi
	[ "$t_failed" -eq 0 ]
}
t_tmpdir() { T=$(mktemp -d "${TMPDIR:-/tmp}/mklive-test.XXXXXX"); trap 'rm -rf "$T"' EXIT; }
