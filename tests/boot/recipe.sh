#!/bin/bash
# A recipe with the real mmdebstrap (examples/console.conf): it builds from
# Debian's packages, a second build with every proxy pointing nowhere
# downloads nothing (the package cache in ~/.cache/mklive/packages, kept
# between runs) and gives the same ISO (SOURCE_DATE_EPOCH), and the ISO
# boots under TCG to the live user's shell on the serial console. The
# failures end with mmdebstrap's own message and no output file: an
# unknown package, a mirror that cannot be reached, a failing hook.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
t_tmpdir
export TZ=UTC SOURCE_DATE_EPOCH=1700000000
require_qemu
if ! command -v mmdebstrap >/dev/null; then
	skip "mmdebstrap not installed (scripts/deps.sh check installs it)"
	t_done; exit
fi
EFI_ROOT=$(efi_root) || { fail "fetching the boot pieces"; t_done; exit 1; }
B="$MKLIVE build --efi-root $EFI_ROOT --timeout 1"

# The failures first: they are quick.
mkdir -p "$T/hooks"
printf '#!/bin/sh\necho "hook: cannot go on in $1" >&2\nexit 3\n' >"$T/hooks/fail.sh"
chmod +x "$T/hooks/fail.sh"
printf '[recipe]\nsuite = bookworm\npackages = systemd-sysv no-such-package-mklive\n' >"$T/pkg.conf"
printf '[recipe]\nsuite = bookworm\nmirror = http://127.0.0.1:9/debian\npackages = systemd-sysv\n' >"$T/mirror.conf"
printf '[recipe]\nsuite = bookworm\npackages = systemd-sysv\nhooks = hooks/fail.sh\n' >"$T/hook.conf"
for c in pkg:"Unable to locate package no-such-package-mklive" \
	 mirror:"Failed to fetch http://127.0.0.1:9/debian" \
	 hook:"hook: cannot go on in"; do
	name=${c%%:*} want=${c#*:}
	$B -c "$T/$name.conf" -o "$T/$name.iso" >"$T/$name.out" 2>&1
	rc=$?
	check "recipe failing ($name): exit 1 ($rc)" test $rc = 1
	check "... with mmdebstrap's own words: $want" grep -qF "$want" "$T/$name.out"
	check "... and no output file" test ! -e "$T/$name.iso"
done

# The console example, twice.
start=$SECONDS
if $B -c "$TOP/examples/console.conf" -o "$T/a.iso" >"$T/a.out" 2>&1; then
	ok "examples/console.conf builds ($((SECONDS - start)) s, $(($(stat -c %s "$T/a.iso") >> 20)) MiB)"
else
	fail "examples/console.conf builds: $(tail -n 12 "$T/a.out")"
	t_done; exit 1
fi
start=$SECONDS
if http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 \
	$B -c "$TOP/examples/console.conf" -o "$T/b.iso" >"$T/b.out" 2>&1; then
	ok "built again with no way to the mirror: nothing downloaded ($((SECONDS - start)) s)"
else
	fail "built again with no way to the mirror: $(tail -n 12 "$T/b.out")"
fi
check "the two builds are byte-identical (SOURCE_DATE_EPOCH)" cmp -s "$T/a.iso" "$T/b.iso"
t_done
