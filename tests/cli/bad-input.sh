#!/bin/bash
# Bad input: every command, fed what users get wrong, fails once, clearly,
# with the right exit status and without leaving an output or temporary
# file. The cases are the table in bad-input.table (its head says what is
# checked and what we decided for the unclear ones); SIGINT and SIGTERM in
# the middle of a build are below it. Needs no kernel of its own: the tree's
# "kernel" is memtest86+ (scripts/fetch-boot.sh) with empty module lists, as
# a kernel with everything built in would have.
. "$(dirname "$0")/../lib.sh"
t_tmpdir
chmod 755 "$T"
export TZ=UTC SOURCE_DATE_EPOCH=1700000000

cache=$("$TOP/scripts/fetch-boot.sh") || { fail "fetching the boot pieces"; t_done; exit 1; }
ver=6.1.0-mkl
cp "$cache/boot/memtest86+x64.bin" "$T/vmlinuz-$ver"

# --- fixtures --------------------------------------------------------------------------------
mkroot() {	# DIR: a small tree with a kernel and empty module lists
	mkdir -p "$1/sbin" "$1/etc" "$1/boot" "$1/lib/modules/$ver" "$1/usr/bin"
	printf '#!/bin/sh\necho hello\n' >"$1/sbin/init"
	chmod 755 "$1/sbin/init"
	echo live >"$1/etc/hostname"
	cp "$T/vmlinuz-$ver" "$1/boot/vmlinuz-$ver"
	: >"$1/lib/modules/$ver/modules.dep"
	: >"$1/lib/modules/$ver/modules.builtin"
	: >"$1/lib/modules/$ver/modules.order"
}
tree=$T/tree
mkroot "$tree"
mkdir -p "$T/nokernel/etc" "$T/nomods/boot" "$T/mods"
cp "$T/vmlinuz-$ver" "$T/nomods/boot/"
cp -r "$tree/lib/modules/$ver" "$T/mods/$ver"
cp -r "$tree/lib/modules/$ver" "$T/mods/6.1.0-other"
mkroot "$T/unread" && echo secret >"$T/unread/etc/secret" && chmod 000 "$T/unread/etc/secret"
mkroot "$T/unread2" && mkdir -m 700 "$T/unread2/etc/private" && touch "$T/unread2/etc/private/x"
mkroot "$T/special" && mkfifo "$T/special/etc/fifo" &&
	python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$T/special/etc/sock"
mkroot "$T/loops"
ln -s self "$T/loops/etc/self"; ln -s b "$T/loops/etc/a"; ln -s a "$T/loops/etc/b"
ln -s .. "$T/loops/usr/bin/up"; ln -s /usr "$T/loops/usr/bin/usr"
mkroot "$T/bigtree" && head -c 6000000 /dev/urandom >"$T/bigtree/etc/noise"
mkdir -p "$T/fat-big" && head -c 34000000 /dev/zero >"$T/fat-big/big"
mkdir -p "$T/in" "$T/pub" "$T/o/dir" && chmod 1777 "$T/pub"
tar -C "$tree" -cf "$T/in/root.tar" .
ln -s root.tar "$T/in/root-link.tar"
head -c 100000 /dev/urandom >"$T/in/blob"
head -c 100000 /dev/urandom >"$T/garbage.tar"
: >"$T/empty.conf"
head -c 3000 /bin/sh >"$T/binary.conf"
printf '# a fruit\n[fruit]\n' >"$T/section.conf"
printf '[image]\nlabl = X\n' >"$T/key.conf"
printf '[image]\ncompressor = lzma\n' >"$T/comp.conf"
printf '[image]\nlevel = 99\n' >"$T/level.conf"
printf '[live]\nlocale = "de DE"\n' >"$T/live.conf"
printf '[image]\nblock-size = 3000\n' >"$T/bs.conf"
printf '[boot]\nuefi = auto\n' >"$T/uefi-auto.conf"
printf '[boot]\nuefi = maybe\n' >"$T/uefi-maybe.conf"
# UEFI: no shim or GRUB (noefi, an empty cache), only shim (halfefi), an
# apt-get that cannot find the packages, a PATH without one.
mkdir -p "$T/noefi" "$T/nocache" "$T/xdg" "$T/home" "$T/halfefi/usr/lib/shim" "$T/failbin" "$T/nobin"
echo shim >"$T/halfefi/usr/lib/shim/shimx64.efi.signed"
# Signing: two key pairs, junk, a config naming its key relative to itself.
for k in 1 2; do
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/sk$k.pem" -out "$T/sc$k.pem" -days 3650 \
		-subj "/CN=mklive-bad-input-$k" >/dev/null 2>&1
done
echo junk >"$T/junk.pem"
mkdir -p "$T/signconf" && cp "$T/sc1.pem" "$T/signconf/"
printf '[boot]\nsign-key = nokey.pem\nsign-cert = sc1.pem\n' >"$T/signconf/sign.conf"
printf '#!/bin/sh\necho "Reading package lists..."\necho "E: Unable to locate package shim-signed" >&2\nexit 100\n' \
	>"$T/failbin/apt-get"
chmod 755 "$T/failbin/apt-get"
# A valid tar cut in the middle of a file's data, plain and gzip'ed.
mkroot "$T/tt" && head -c 300000 /dev/urandom >"$T/tt/etc/big"
tar -C "$T/tt" -cf "$T/full.tar" ./etc ./boot
off=$(tar -tvRf "$T/full.tar" | awk '/\.\/etc\/big$/ { sub(/:$/, "", $2); print $2 }')
head -c $(((off + 1) * 512 + 150000)) "$T/full.tar" >"$T/trunc.tar"
gzip -c "$T/full.tar" | head -c 200000 >"$T/trunc.tar.gz"
python3 - "$T" <<'EOF'
import io, sys, tarfile
T = sys.argv[1]
def tar(name, entries):
    with tarfile.open(T + '/' + name, 'w', format=tarfile.PAX_FORMAT) as t:
        for path, kind, arg in entries:
            ti = tarfile.TarInfo(path)
            ti.mode = 0o755 if kind == 'd' else 0o644
            if kind == 'd':
                ti.type = tarfile.DIRTYPE
                t.addfile(ti)
            elif kind == 'h':
                ti.type = tarfile.LNKTYPE
                ti.linkname = arg
                t.addfile(ti)
            else:
                ti.size = len(arg)
                t.addfile(ti, io.BytesIO(arg))
def deep(comp, n):
    out, p = [], '.'
    for _ in range(n):
        p += '/' + comp
        out.append((p, 'd', None))
    return out + [(p + '/f', 'f', b'x')]
tar('long.tar', [('./etc', 'd', None), ('./etc/' + 'n' * 300, 'f', b'x')])
tar('deep.tar', deep('d' * 200, 30))
tar('deep-ok.tar', deep('e' * 250, 16))
tar('dotdot.tar', [('../../etc/evil', 'f', b'x')])
tar('selflink.tar', [('./etc', 'd', None), ('./etc/a', 'h', './etc/a')])
tar('notdir.tar', [('./etc', 'd', None), ('./etc/a', 'f', b'x'), ('./etc/a/b', 'f', b'x')])
EOF
# The deep tar that must build needs a kernel too.
tar -C "$tree" -rf "$T/deep-ok.tar" ./boot ./lib
"$MKLIVE" cloop create "$T/in/blob" "$T/c.cloop" 2>/dev/null
head -c 5000 "$T/c.cloop" >"$T/trunc.cloop"
head -c 6000000 /dev/zero | "$MKLIVE" cloop create - "$T/in/big.cloop"
mkdir -p "$T/bin" && cp "$MKLIVE" "$MKLIVE_INIT" "$TOP/build/mklive-helper" "$T/bin/" && chmod 755 "$T/bin"
mkdir -p "$T/full"
if ! mount -t tmpfs -o size=2m tmpfs "$T/full" 2>/dev/null; then
	skip "cannot mount a small tmpfs (not root): full-filesystem cases use a 2 MB one"
	full=0
else
	full=1
	trap 'umount "$T/full" 2>/dev/null; rm -rf "$T"' EXIT
fi
# Fixtures must come out of the cases unchanged (output is the input, ...).
sums() { find "$T/in" "$tree" "$T/vmlinuz-$ver" -type f -print0 | sort -z | xargs -0 md5sum; }
sums >"$T/sums.before"

B="build -q --uefi no --timeout 1 --level 1"
O=$T/o/x.iso

# --- the table ---------------------------------------------------------------------------------
ncases=0
set -f	# the table's words are not globs ("vmlinuz-*")
while IFS='|' read -r name want text out cmd; do
	case $name in ''|'#'*) continue ;; esac
	name=$(echo $name) want=$(echo $want) text=$(echo $text) cmd=$(echo $cmd)
	eval "text=\"$text\" out=$(echo $out) cmd=\"$cmd\""
	ncases=$((ncases + 1))
	if [ "${out#"$T"/full/}" != "$out" ] && [ $full = 0 ]; then
		skip "$name: no small tmpfs"; continue
	fi
	dir=$(dirname "$out")
	before=$(ls -A "$dir" 2>/dev/null)
	envs=()	# NAME=VALUE words before the command
	while [[ $cmd =~ ^([A-Z_]+=[^ ]*)\ (.*)$ ]]; do
		envs+=("${BASH_REMATCH[1]}") cmd=${BASH_REMATCH[2]}
	done
	# shellcheck disable=SC2086
	case $cmd in
	nobody\ *) setpriv --reuid=65534 --regid=65534 --clear-groups env "${envs[@]}" "$T/bin/mklive" \
			${cmd#nobody } >"$T/out" 2>"$T/err" ;;
	*) env "${envs[@]}" "$MKLIVE" $cmd >"$T/out" 2>"$T/err" ;;
	esac
	rc=$?
	after=$(ls -A "$dir" 2>/dev/null)
	msg=$(head -n 1 "$T/err" | head -c 300)
	problems=
	[ "$rc" = "$want" ] || problems="$problems exit $rc (want $want);"
	if [ "$want" = 0 ]; then
		[ -s "$T/err" ] && problems="$problems printed '$msg' with -q;"
		[ -s "$out" ] || problems="$problems no output '$out';"
		[ "$after" = "$(printf '%s\n%s' "$before" "$(basename "$out")" | sed '/^$/d' | sort)" ] ||
			problems="$problems '$dir' holds: $(echo $after);"
		rm -f "$out"
	else
		grep -qF -- "$text" "$T/err" || problems="$problems message lacks '$text';"
		# One message; a usage error adds the --help hint.
		[ "$(grep -vc "^Try 'mklive [a-z0-9-]* --help'" "$T/err")" = 1 ] &&
			grep -q "^mklive [a-z0-9-]*: " "$T/err" || problems="$problems not one message;"
		[ "$after" = "$before" ] || problems="$problems '$dir' held '$(echo $before)', now '$(echo $after)';"
		[ ! -s "$T/out" ] || problems="$problems wrote to stdout;"
	fi
	if [ -z "$problems" ]; then
		ok "$name: exit $rc${msg:+, $msg}"
	else
		fail "$name:$problems message: $msg"
	fi
	[ $full = 1 ] && find "$T/full" -mindepth 1 -delete
done <"$TOP/tests/cli/bad-input.table"
set +f
check "the table has at least 25 cases ($ncases)" test "$ncases" -ge 25
sums >"$T/sums.after"
check "no case changed an input (fixtures unchanged)" cmp -s "$T/sums.before" "$T/sums.after"

# --- SIGINT and SIGTERM in the middle of a build ----------------------------------------------
# 200 MB that does not compress, one thread: seconds of work. The signal is
# sent once the build has read 40 MB of it (its rchar in /proc/PID/io).
mkroot "$T/noise"
for i in 1 2 3 4; do head -c 50000000 /dev/urandom >"$T/noise/etc/noise$i"; done
rchar() { awk '/^rchar/ { print $2 }' "/proc/$1/io" 2>/dev/null || echo 0; }
for sig in INT TERM; do
	rm -rf "$T/sig" && mkdir -p "$T/sig"
	"$MKLIVE" build --uefi no --timeout 1 --compressor gzip --level 1 -j 1 "$T/noise" \
		-o "$T/sig/x.iso" 2>"$T/sig.err" &
	bpid=$!
	while kill -0 "$bpid" 2>/dev/null && [ "$(rchar "$bpid")" -lt 40000000 ]; do
		sleep 0.02
	done
	kill -s "$sig" "$bpid" 2>/dev/null
	wait "$bpid"; rc=$?
	want=$((128 + $(kill -l "$sig")))
	check "SIG$sig mid-build: exit $rc (want $want)" test "$rc" = "$want"
	check "SIG$sig: one message saying 'interrupted' ($(tr '\r' '\n' <"$T/sig.err" | grep -a . | tail -n 1))" \
		test "$(grep -c 'interrupted' "$T/sig.err")" = 1
	check "SIG$sig: no output and no temporary file left" test -z "$(ls -A "$T/sig")"
done
t_done
