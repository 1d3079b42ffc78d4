#!/bin/bash
# Warnings and linters: the sources build with -Werror under gcc and clang
# (each into a build directory of its own, make BUILDDIR=...), the static
# init with musl-gcc -Werror, and cppcheck and clang-tidy find nothing
# (clang-tidy's checks are in .clang-tidy at the top, with the reasons for
# what is left out; cppcheck's few suppressions are inline, each with its
# reason). A missing tool is a skip that names the package.
. "$(dirname "$0")/../lib.sh"
t_tmpdir

lib_src=$(cd "$TOP" && ls src/tree/*.c src/codec/*.c src/source/*.c src/fmt/*.c src/pipeline/*.c src/cli/*.c)

# --- gcc and clang, -Werror -----------------------------------------------------------------
for cc in gcc clang; do
	if ! command -v $cc >/dev/null; then
		skip "$cc missing (package $cc): no -Werror build with it"
		continue
	fi
	if make -C "$TOP" -s -j2 BUILDDIR="$T/$cc" CC=$cc WERROR=1 "$T/$cc/mklive" unit >"$T/$cc.log" 2>&1; then
		ok "$cc -Werror: mklive, its library and the unit tests build without a warning"
	else
		fail "$cc -Werror: $(grep -E 'warning|error' "$T/$cc.log" | head -n 5)"
	fi
done
if command -v musl-gcc >/dev/null; then
	for p in mklive-init mklive-media mklive-helper; do
		if make -C "$TOP" -s BUILDDIR="$T/musl" WERROR=1 "$T/musl/$p" >"$T/$p.log" 2>&1; then
			ok "musl-gcc -Werror: $p builds without a warning"
		else
			fail "musl-gcc -Werror ($p): $(grep -E 'warning|error' "$T/$p.log" | head -n 5)"
		fi
	done
else
	skip "musl-gcc missing (package musl-tools): the init is not built"
fi

# --- cppcheck --------------------------------------------------------------------------------
if command -v cppcheck >/dev/null; then
	if (cd "$TOP" && cppcheck -q --std=c11 --enable=warning,portability,performance --inline-suppr \
		--error-exitcode=1 -D_GNU_SOURCE -Isrc src) >"$T/cppcheck.log" 2>&1; then
		ok "cppcheck --enable=warning,portability,performance: nothing found in src/"
	else
		fail "cppcheck: $(grep -E '(error|warning|portability|performance):' "$T/cppcheck.log" | head -n 5)"
	fi
else
	skip "cppcheck missing (package cppcheck)"
fi

# --- clang-tidy ------------------------------------------------------------------------------
# Not src/init: it is built with musl's headers, which clang-tidy is not given.
if command -v clang-tidy >/dev/null; then
	flags=$(make -C "$TOP" -s print-cflags CC=clang)
	# shellcheck disable=SC2086
	(cd "$TOP" && printf '%s\n' $lib_src |
		xargs -P2 -I{} clang-tidy -quiet {} -- $flags) >"$T/tidy.log" 2>&1
	rc=$?
	if [ $rc -eq 0 ] && ! grep -Eq '(warning|error):' "$T/tidy.log"; then
		ok "clang-tidy (.clang-tidy checks): nothing found in $(wc -w <<<"$lib_src") files"
	else
		fail "clang-tidy: $(grep -E 'warning:|error:' "$T/tidy.log" | head -n 5)"
	fi
else
	skip "clang-tidy missing (package clang-tidy)"
fi
t_done
