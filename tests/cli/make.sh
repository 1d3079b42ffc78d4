#!/bin/bash
# make on a machine without the build dependencies: it names the missing
# Debian packages and the command that installs them, and compiles nothing.
# The machine is simulated with a dpkg-query on PATH that reports one
# package as not installed.
. "$(dirname "$0")/../lib.sh"
t_tmpdir

mkdir "$T/bin"
cat >"$T/bin/dpkg-query" <<'Q'
#!/bin/sh
# dpkg-query -W -f='${Status}' PKG
for last; do :; done
case $last in libisofs-dev|musl-tools) exit 1 ;; esac
printf 'install ok installed'
Q
chmod +x "$T/bin/dpkg-query"

out=$(PATH="$T/bin:$PATH" make -C "$TOP" --no-print-directory BUILDDIR="$T/b" all 2>&1); rc=$?
check "make without libisofs-dev and musl-tools fails (exit $rc)" test $rc -ne 0
check "it names both packages" grep -q "missing Debian packages: libisofs-dev musl-tools" <<<"$out"
check "it says to run make deps" grep -q "make deps" <<<"$out"
check "it compiled nothing" test ! -e "$T/b"
out=$(PATH="$T/bin:$PATH" make -C "$TOP" --no-print-directory BUILDDIR="$T/b" -n clean 2>&1); rc=$?
check "make clean does not ask for them" test $rc -eq 0
out=$(make -C "$TOP" --no-print-directory -n all 2>&1); rc=$?
check "with every package installed, make goes on" test $rc -eq 0 -a -z "$(grep 'missing Debian' <<<"$out")"
t_done
