#!/bin/bash
# Recipes ([recipe] in mklive.conf, src/source/recipe.c) with a stand-in
# for mmdebstrap (MKLIVE_MMDEBSTRAP): a script that records its command
# line and writes the demo tree as a tar on its standard output, or fails
# the ways mmdebstrap fails. Checked: the command line a recipe gives
# (packages joined, a kernel added, components, variant, the host's or
# the given mirror, the include and hooks relative to the file, the
# package cache and its lists, --refresh), the kept tree (the same recipe
# again does not run mmdebstrap; a changed hook or include, or --refresh,
# does; a failed run keeps nothing), that the build reads the
# stream and boots the tree it gives, that a failing child (before any
# output, after the whole tree, or in the middle of it) ends the build
# with the child's own last lines and no output file, and the usage
# errors (a SOURCE with a recipe, no suite, a missing include, a hook
# that is not executable). The real mmdebstrap: tests/boot/recipe.sh.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/boot/lib.sh"
t_tmpdir
export TZ=UTC SOURCE_DATE_EPOCH=1700000000
demo_iso >/dev/null || { fail "making the demo tree"; t_done; exit 1; }
EFI_ROOT=$(efi_root)
export MKLIVE_CACHE=$T/cache	# the recipes' package cache, after the boot pieces'

# The stand-in: FAKE=ok (the tree), early (fails before any output), late
# (the whole tree, then exit 1), middle (half the tar, then exit 2).
cat >"$T/mmdebstrap" <<'FAKE'
#!/bin/bash
printf '%s\n' "$@" >"$FAKE_ARGS"
echo "I: pretending to be mmdebstrap" >&2
case ${FAKE:-ok} in
early)	echo "E: Unable to locate package no-such-package" >&2; exit 25 ;;
late)	tar -C "$FAKE_ROOT" -cf - .; echo "E: the last hook failed" >&2; exit 1 ;;
middle)	tar -C "$FAKE_ROOT" -cf - . | head -c 3000000; echo "E: killed in the middle" >&2; exit 2 ;;
*)	tar -C "$FAKE_ROOT" -cf - . ;;
esac
FAKE
chmod +x "$T/mmdebstrap"
export MKLIVE_MMDEBSTRAP=$T/mmdebstrap FAKE_ARGS=$T/args FAKE_ROOT=$TOP/build/test-demo/root
mkdir -p "$T/r/files/etc" "$T/r/hooks"
echo "from the include" >"$T/r/files/etc/motd"
echo "new" >"$T/r/files/etc/hostname-new"
printf '#!/bin/sh\ntrue\n' >"$T/r/hooks/a.sh"
chmod +x "$T/r/hooks/a.sh"
cat >"$T/r/live.conf" <<'CONF'
[recipe]
suite = bookworm
packages = systemd-sysv, udev
    less
components = main contrib
variant = important
include = files
hooks = hooks/a.sh
CONF
B="$MKLIVE build --timeout 1 --level 1 --uefi yes --efi-root $EFI_ROOT"
arg() { grep -qxF -- "$1" "$T/args"; }

if $B -q -c "$T/r/live.conf" -o "$T/a.iso" 2>"$T/err"; then
	ok "a recipe builds (stand-in mmdebstrap)"
else
	fail "a recipe builds: $(cat "$T/err")"
fi
check "the ISO is there" test -s "$T/a.iso"
check "mmdebstrap writes a tar to standard output" bash -c "arg() { grep -qxF -- \"\$1\" '$T/args'; }; arg --format=tar && arg - "
check "the packages, joined by commas" arg "--include=systemd-sysv,udev,less"
check "a kernel is added when none is listed" arg "--include=linux-image-amd64"
check "components" arg "--components=main,contrib"
check "variant" arg "--variant=important"
check "the suite" arg "bookworm"
check "the include, relative to the file, copied over the tree by root" \
	grep -qF -- "tar -C '$T/r/files' --owner=0 --group=0" "$T/args"
check "the hook, relative to the file" arg "--customize-hook=$T/r/hooks/a.sh"
include_at=$(grep -n -- "--customize-hook=.*tar -C '$T/r/files'" "$T/args" | cut -d: -f1)
# The include's hook itself, run as mmdebstrap runs it (sh -c, the tree as
# $1) over a tree where a file it replaces belongs to another group: that
# owner stays, new files are root's.
if [ "$(id -u)" = 0 ]; then
	hook=$(sed -n "s|^--customize-hook=\(.*tar -C '$T/r/files'.*\)$|\1|p" "$T/args")
	mkdir -p "$T/ht/etc"
	echo old >"$T/ht/etc/motd"
	chown 5:43 "$T/ht/etc/motd"
	sh -c "$hook" exec "$T/ht"
	check "the include's hook: exit 0 ($?)" test $? = 0
	check "... a file the tree had keeps its owner 5:43 ($(stat -c %u:%g "$T/ht/etc/motd"))" \
		test "$(stat -c %u:%g "$T/ht/etc/motd")" = 5:43
	check "... with the include's content" grep -qx "from the include" "$T/ht/etc/motd"
	check "... a new file is root's" test "$(stat -c %u:%g "$T/ht/etc/hostname-new" 2>/dev/null)" = 0:0
else
	skip "the include's hook needs root to give owners back"
fi
hook_at=$(grep -n -- "--customize-hook=$T/r/hooks/a.sh" "$T/args" | cut -d: -f1)
check "the include comes before the hooks ($include_at < $hook_at)" test "${include_at:-9}" -lt "${hook_at:-0}"
cache=$(sed -n 's|^--setup-hook=sync-in \(.*\)/archives /var/cache/apt/archives/$|\1|p' "$T/args")
check "packages come from the cache under MKLIVE_CACHE ($cache)" test -n "$cache" -a -d "$cache/archives"
case $cache in "$T/cache/packages/bookworm-"*) ok "the cache is per suite" ;; *) fail "the cache is per suite: $cache" ;; esac
check "... and go back into it" arg "--customize-hook=sync-out /var/cache/apt/archives $cache/archives"
check "no lists kept yet: apt-get update runs" bash -c "! grep -qx -- --skip=update '$T/args'"
# The host's sources when no mirror is given (apt-get indextargets).
if [ -n "$(apt-get indextargets --format '$(REPO_URI)' 'Created-By: Packages' 2>/dev/null)" ]; then
	check "the host's apt sources as mirrors" grep -q '^deb http.* bookworm main contrib$' "$T/args"
else
	skip "the host's apt sources: apt-get indextargets lists none here"
fi
# The same recipe again: the tree as the first build kept it, mmdebstrap
# not run at all; the same ISO.
rm -f "$T/args"
$B -v -c "$T/r/live.conf" -o "$T/b.iso" >"$T/out" 2>&1 || fail "second build: $(tail -n 5 "$T/out")"
check "the same recipe again: the kept tree, mmdebstrap not run" test ! -e "$T/args"
check "... and -v says where the tree came from" grep -q "the recipe's tree as the last build made it: $cache/tree-" "$T/out"
check "two builds of one recipe and SOURCE_DATE_EPOCH are identical" cmp -s "$T/a.iso" "$T/b.iso"
check "one tree kept" test "$(ls "$cache" | grep -c '^tree-')" = 1
# A hook changed: mmdebstrap runs again; lists kept by an earlier build are
# used, and apt-get update is skipped.
touch "$cache/lists/deb.debian.org_debian_dists_bookworm_InRelease"
printf '#!/bin/sh\necho changed\n' >"$T/r/hooks/a.sh"
$B -q -c "$T/r/live.conf" -o "$T/c.iso" 2>"$T/err" || fail "a changed hook: $(cat "$T/err")"
check "a changed hook makes the tree again" test -e "$T/args"
check "kept lists go in and apt-get update is skipped" bash -c "grep -qx -- --skip=update '$T/args' &&
	grep -qxF -- '--setup-hook=sync-in $cache/lists /var/lib/apt/lists/' '$T/args'"
check "still one tree kept (the older one gone)" test "$(ls "$cache" | grep -c '^tree-')" = 1
rm -f "$T/args"
echo "more" >>"$T/r/files/etc/motd"
touch -d '2001-01-01' "$T/r/files/etc/motd"
$B -q -c "$T/r/live.conf" -o "$T/c.iso" 2>"$T/err" || fail "a changed include: $(cat "$T/err")"
check "a changed include makes the tree again" test -e "$T/args"
rm -f "$T/args"
$B -q --refresh -c "$T/r/live.conf" -o "$T/c.iso" 2>"$T/err" || fail "--refresh: $(cat "$T/err")"
check "--refresh: mmdebstrap runs, the lists fetched again" bash -c "test -e '$T/args' && ! grep -qx -- --skip=update '$T/args'"
# A mirror given, and a kernel listed.
printf '[recipe]\nsuite = trixie\nmirror = http://mirror.example/debian, http://two.example/debian\npackages = linux-image-cloud-amd64\n' >"$T/m.conf"
$B -q -c "$T/m.conf" -o "$T/m.iso" 2>"$T/err" || fail "a recipe with a mirror: $(cat "$T/err")"
check "the mirrors given" bash -c "grep -qx 'deb http://mirror.example/debian trixie main' '$T/args' &&
	grep -qx 'deb http://two.example/debian trixie main' '$T/args'"
check "a listed kernel is the only one" bash -c "grep -qx -- --include=linux-image-cloud-amd64 '$T/args' &&
	! grep -qx -- --include=linux-image-amd64 '$T/args'"

# The tree read from the stream is the demo tree: its init is in the image.
check "the image holds the tree mmdebstrap wrote" bash -c "xorriso -osirrox on -indev '$T/a.iso' \
	-extract /live/filesystem.squashfs '$T/a.sqfs' >/dev/null 2>&1 && unsquashfs -l '$T/a.sqfs' | grep -q 'squashfs-root/bin/busybox'"

# mmdebstrap failing: its own words, exit 1, no output file.
for mode in early late middle; do
	want=$(case $mode in early) echo "Unable to locate package no-such-package" ;;
		late) echo "the last hook failed" ;; middle) echo "killed in the middle" ;; esac)
	rm -f "$T/f.iso"
	FAKE=$mode $B --refresh -c "$T/r/live.conf" -o "$T/f.iso" >"$T/out" 2>&1
	rc=$?
	check "mmdebstrap fails ($mode): exit 1 ($rc)" test $rc = 1
	check "... with its own last words ($(grep -m1 'E:' "$T/out"))" grep -qF "$want" "$T/out"
	check "... saying it was mmdebstrap" grep -q "mmdebstrap failed" "$T/out"
	check "... and no output file" test ! -e "$T/f.iso"
done
check "no tree kept from a failed mmdebstrap (one, from before)" test "$(ls "$cache" | grep -c '^tree-')" = 1

# Usage errors.
mkdir -p "$T/src"
$B -c "$T/r/live.conf" "$T/src" -o "$T/u.iso" >"$T/out" 2>&1
check "a SOURCE with a recipe: exit 1, says why" bash -c "test $? = 1 && grep -q 'has a \[recipe\] and a SOURCE' '$T/out'"
printf '[recipe]\npackages = less\n' >"$T/nosuite.conf"
$B -c "$T/nosuite.conf" -o "$T/u.iso" >"$T/out" 2>&1
check "no suite: says which key" grep -q 'names no suite' "$T/out"
printf '[recipe]\nsuite = bookworm\ninclude = nowhere\n' >"$T/noinc.conf"
$B -c "$T/noinc.conf" -o "$T/u.iso" >"$T/out" 2>&1
check "a missing include: named, relative to the file" grep -qF "include '$T/nowhere' is not a directory" "$T/out"
printf '#!/bin/sh\n' >"$T/r/hooks/plain.sh"
printf '[recipe]\nsuite = bookworm\nhooks = hooks/plain.sh\n' >"$T/r/nox.conf"
$B -c "$T/r/nox.conf" -o "$T/u.iso" >"$T/out" 2>&1
check "a hook that is not executable: named" grep -qF "hook '$T/r/hooks/plain.sh' is not an executable file" "$T/out"
MKLIVE_MMDEBSTRAP=$T/no-such-mmdebstrap $B -c "$T/r/live.conf" -o "$T/u.iso" >"$T/out" 2>&1
check "no mmdebstrap: says which package" grep -q 'apt-get install mmdebstrap' "$T/out"
check "no output file after any usage error" test ! -e "$T/u.iso"
$B -c "$T/r/live.conf" >"$T/out" 2>&1
check "no -o: usage error (exit 2)" test $? = 2

# Not root, and no subordinate IDs for mmdebstrap's unshare mode: says so.
if grep -q '^nobody:\|^65534:' /etc/subuid 2>/dev/null; then
	skip "nobody has subordinate IDs here: the unshare check cannot be shown"
else
	chmod 755 "$T" "$T/r" && chmod 644 "$T/r/live.conf" && mkdir -m 1777 "$T/nobody"
	mkdir -p "$T/bin" && cp "$MKLIVE" "$MKLIVE_INIT" "$TOP/build/mklive-helper" "$T/bin/" && chmod 755 "$T/bin"
	setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$T/nobody" USER=nobody \
		"$T/bin/mklive" build --uefi no -c "$T/r/live.conf" -o "$T/nobody/n.iso" >"$T/out" 2>&1
	check "as nobody without subordinate IDs: exit 1 ($?)" test $? = 1
	check "... the message names root, /etc/subuid and usermod ($(head -c 120 "$T/out"))" \
		bash -c "grep -q 'a recipe needs root, or subordinate user and group IDs' '$T/out' && grep -q 'usermod --add-subuids' '$T/out'"
	check "... and no output file" test ! -e "$T/nobody/n.iso"
fi
t_done
