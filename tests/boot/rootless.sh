#!/bin/bash
# A recipe built by a user who is not root: mmdebstrap's unshare mode, with
# the user's subordinate IDs (/etc/subuid, /etc/subgid) and newuidmap from
# Debian's uidmap. Run as root, the test uses (and makes, once) the user
# mklive-rootless, whose useradd gives it a range of subordinate IDs;
# run as anyone else, it builds as that user, or is skipped when the user
# has no subordinate IDs. --refresh: mmdebstrap really runs each time
# (the user's package cache, kept between runs, saves the downloads).
# Checked: the ISO is the user's; in the image root's files are root's and
# the others keep their owners (uid 0 in the image, not the user's or a
# subordinate ID); it boots under TCG to the recipe's hostname, and the
# booted system sees the same owners.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
t_tmpdir
export TZ=UTC SOURCE_DATE_EPOCH=1700000000
require_qemu
require_mmdebstrap
if ! command -v newuidmap >/dev/null; then
	skip "newuidmap not installed (scripts/deps.sh check installs uidmap)"
	t_done; exit 0
fi
EFI_ROOT=$(efi_root) || { fail "fetching the boot pieces"; t_done; exit 1; }

who=mklive-rootless
if [ "$(id -u)" = 0 ]; then
	if ! id "$who" >/dev/null 2>&1; then
		useradd --create-home --shell /bin/sh "$who" ||
			{ fail "useradd $who"; t_done; exit 1; }
	fi
	grep -q "^$who:" /etc/subuid || usermod --add-subuids 300000-365535 "$who"
	grep -q "^$who:" /etc/subgid || usermod --add-subgids 300000-365535 "$who"
	as() { runuser -u "$who" -- "$@"; }
else
	who=$(id -un)
	if ! grep -q "^$who:" /etc/subuid || ! grep -q "^$who:" /etc/subgid; then
		skip "$who has no subordinate IDs in /etc/subuid and /etc/subgid (run as root to use a test user)"
		t_done; exit 0
	fi
	as() { "$@"; }
fi
uid=$(id -u "$who")
ok "building as $who (uid $uid), subordinate IDs $(grep "^$who:" /etc/subuid | cut -d: -f2-)"

# The user's own copy of what it runs and reads, in a directory of its own
# (the checkout and $T may be private to root).
W=$(mktemp -d /var/tmp/mklive-rootless.XXXXXX) || { fail "mktemp"; t_done; exit 1; }
trap 'rm -rf "$T" "$W"' EXIT
chmod 755 "$W"
mkdir -p "$W/bin" "$W/efi" "$W/cache"
cp "$TOP/build/mklive" "$TOP/build/mklive-init" "$TOP/build/mklive-media" "$TOP/build/mklive-helper" "$W/bin/"
cp -a "$EFI_ROOT/." "$W/efi/"
cat >"$W/rootless.conf" <<'EOF'
[recipe]
suite = bookworm
packages = systemd-sysv sudo
[live]
hostname = mklive-rootless
EOF
# The package cache outlives the run, the user's alone.
C=/var/tmp/mklive-rootless-cache-$uid
[ "$(id -u)" = 0 ] && { mkdir -p "$C" && chown "$uid" "$C" && chmod 700 "$C"; }
[ "$(id -u)" = 0 ] || C=$W/cache
[ "$(id -u)" = 0 ] && chown -R "$uid" "$W"

start=$SECONDS
if as env MKLIVE_CACHE="$C" TMPDIR="$W" SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH \
	"$W/bin/mklive" build -v --refresh --efi-root "$W/efi" --timeout 1 -c "$W/rootless.conf" \
	-o "$W/r.iso" >"$T/r.out" 2>&1; then
	ok "built by $who in unshare mode ($((SECONDS - start)) s, $(($(stat -c %s "$W/r.iso") >> 20)) MiB)"
else
	fail "built by $who: $(tail -n 12 "$T/r.out")"
	t_done; exit 1
fi
check "mmdebstrap chose its unshare mode" grep -q "chosen mode: unshare" "$T/r.out"
check "mmdebstrap ran (--refresh: not the kept tree)" bash -c "! grep -q \"the recipe's tree as the last build made it\" '$T/r.out'"
check "the ISO is $who's" test "$(stat -c %u "$W/r.iso")" = "$uid"

# Owners in the image, by unsquashfs (a reader we did not write).
xorriso -osirrox on -indev "$W/r.iso" -extract /live/filesystem.squashfs "$T/fs.sqfs" >/dev/null 2>&1
unsquashfs -lln "$T/fs.sqfs" >"$T/ls" 2>/dev/null
own() { awk -v p="squashfs-root$1" '$NF == p || ($(NF-2) == p && $(NF-1) == "->") {print $2; exit}' "$T/ls"; }
check "/usr/bin/sudo: 0/0, setuid ($(own /usr/bin/sudo))" \
	awk '$NF == "squashfs-root/usr/bin/sudo" && $1 ~ /^-rws/ && $2 == "0/0" {f=1} END {exit !f}' "$T/ls"
check "/etc/shadow: root and group shadow, 0/42 ($(own /etc/shadow))" test "$(own /etc/shadow)" = 0/42
check "/var/mail: group mail, 0/8 ($(own /var/mail))" test "$(own /var/mail)" = 0/8
# The tree's own users are below 1000 (and nobody, 65534): anything else
# would be the builder's uid or a subordinate ID that leaked through.
odd=$(awk '{split($2, o, "/"); for (i = 1; i <= 2; i++) if (o[i] >= 1000 && o[i] != 65534) {print $2, $NF; break}}' "$T/ls" | head -n 3)
check "no file owned by $who's uid ($uid) or a subordinate ID${odd:+: $odd}" test -z "$odd"

cat >"$T/commands" <<'CMDS'
echo "CHECK host=$(hostname)"
echo "CHECK shadow=$(stat -c %u:%g /etc/shadow)"
echo "CHECK sudo=$(stat -c %A:%u /usr/bin/sudo)"
CMDS
start=$SECONDS
AUTOLOGIN=1 "$TOP/tests/boot/serial_login.py" "$T/commands" "$QEMU" -accel tcg -m 1024 \
	-nographic -no-reboot -monitor none -serial stdio -cdrom "$W/r.iso" -boot d \
	>"$T/boot.raw" 2>&1 </dev/null
rc=$?
tr -d '\r' <"$T/boot.raw" | sed 's/\x1b\[[?0-9;]*[a-zA-Z]//g' >"$T/boot.log"
check "boots to the live user's shell ($((SECONDS - start)) s)" test $rc = 0
val() { sed -n "s/^CHECK $1=//p" "$T/boot.log" | tail -n 1; }
check "hostname from the recipe ($(val host))" test "$(val host)" = mklive-rootless
check "booted: /etc/shadow 0:42 ($(val shadow))" test "$(val shadow)" = 0:42
check "booted: sudo setuid root ($(val sudo))" test "$(val sudo)" = "-rwsr-xr-x:0"
t_done
