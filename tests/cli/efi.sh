#!/bin/bash
# UEFI by default: mklive fetch-efi fills mklive's cache with Debian's
# signed shim and GRUB; mklive build takes them from --efi-root (or the
# host's /), then from the cache, says with -v where they came from, and
# its closing line says what the image boots. fetch-efi runs apt-get
# download and dpkg -x: here apt-get is a stand-in on PATH that "downloads"
# the packages the real cache holds (no network; make check fills the real
# cache through scripts/fetch-boot.sh), and stand-ins that fail, hand over
# broken packages, or hang until the fetch is interrupted. dpkg is the
# host's. The bad-input table has the builds that find nothing.
. "$(dirname "$0")/../lib.sh"
t_tmpdir
export TZ=UTC SOURCE_DATE_EPOCH=1700000000
command -v dpkg >/dev/null || { skip "no dpkg: fetch-efi unpacks with dpkg -x"; t_done; exit 0; }
boot=$("$TOP/scripts/fetch-boot.sh") || { fail "fetching the boot pieces"; t_done; exit 1; }
real=$("$MKLIVE" fetch-efi -q) || { fail "mklive fetch-efi into the real cache"; t_done; exit 1; }
shim_deb=$(ls "$real"/debs/shim-signed_*.deb | head -n 1)
grub_deb=$(ls "$real"/debs/grub-efi-amd64-signed_*.deb | head -n 1)
# For signed images: systemd's stub and systemd-boot, shim's MokManager.
sdb_deb=$(ls "$real"/debs/systemd-boot-efi_*.deb | head -n 1)
mm_deb=$(ls "$real"/debs/shim-helpers-amd64-signed_*.deb | head -n 1)
if [ ! -f "$shim_deb" ] || [ ! -f "$grub_deb" ] || [ ! -f "$sdb_deb" ] || [ ! -f "$mm_deb" ]; then
	skip "no packages in $real/debs (mklive fetch-efi --refresh downloads them)"; t_done; exit 0
fi
SHIM=usr/lib/shim/shimx64.efi.signed
GRUB=usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed

# Stand-ins for apt-get, each in a directory of its own put first on PATH.
standin() {	# NAME BODY: $T/NAME/apt-get download logs its arguments first, then
	# runs BODY; other apt-get commands (a recipe's indextargets) are the host's
	mkdir -p "$T/$1"
	printf '#!/bin/sh\n[ "$1" = download ] || exec /usr/bin/apt-get "$@"\necho "$*" >>"%s/apt.log"\n%s\n' \
		"$T" "$2" >"$T/$1/apt-get"
	chmod 755 "$T/$1/apt-get"
}
standin good "echo 'Get:1 http://deb.debian.org/debian bookworm/main shim-signed'; cp '$shim_deb' '$grub_deb' '$sdb_deb' '$mm_deb' ."
standin garbage "head -c 5000 /dev/urandom >shim-signed_1_amd64.deb; cp '$grub_deb' ."
standin nosdboot "cp '$shim_deb' '$grub_deb' '$mm_deb' ."
# Well-formed packages with the right names and nothing in them.
for p in shim-signed grub-efi-amd64-signed; do
	mkdir -p "$T/pkg-$p/DEBIAN" "$T/pkg-$p/usr/share/doc/$p"
	printf 'Package: %s\nVersion: 9.9\nArchitecture: amd64\nMaintainer: t <t@t>\nDescription: empty\n' "$p" \
		>"$T/pkg-$p/DEBIAN/control"
	dpkg-deb -b "$T/pkg-$p" "$T/${p}_9.9_amd64.deb" >/dev/null
done
standin empty "cp '$T/shim-signed_9.9_amd64.deb' '$T/grub-efi-amd64-signed_9.9_amd64.deb' ."
standin onlyshim "cp '$shim_deb' ."
standin fails "echo 'E: Unable to locate package shim-signed' >&2; exit 100"
mkfifo "$T/started"
standin hang "echo \$\$ >'$T/hang.pid'; echo started >'$T/started'; exec tail -f /dev/null"
calls() { wc -l <"$T/apt.log" 2>/dev/null || echo 0; }
fetch() {	# STANDIN CACHE ARGS...: mklive fetch-efi; stdout in $T/out, stderr in $T/err
	local s=$1 c=$2; shift 2
	MKLIVE_CACHE=$c PATH="$T/$s:$PATH" "$MKLIVE" fetch-efi "$@" >"$T/out" 2>"$T/err"
}

# --- fetch-efi into an empty cache ------------------------------------------------------------
c=$T/cache
fetch good "$c"; rc=$?
check "fetch-efi: exit 0 ($(cat "$T/err"))" test $rc = 0
check "fetch-efi: prints the directory on stdout" test "$(cat "$T/out")" = "$c/efi"
v_shim=$(basename "$shim_deb" | sed 's/^shim-signed_\(.*\)_amd64\.deb$/\1/; s/%3a/:/')
check "fetch-efi: says what it unpacked, with the versions" \
	grep -qF "mklive fetch-efi: shim-signed $v_shim and grub-efi-amd64-signed " "$T/err"
check "fetch-efi: ran 'apt-get download' once, for the four packages (amd64) only" \
	test "$(cat "$T/apt.log")" = "download -q shim-signed:amd64 grub-efi-amd64-signed:amd64 systemd-boot-efi:amd64 shim-helpers-amd64-signed:amd64"
check "fetch-efi: shim and GRUB byte for byte the packages'" \
	bash -c "cmp -s '$c/efi/$SHIM' '$real/$SHIM' && cmp -s '$c/efi/$GRUB' '$real/$GRUB'"
check "fetch-efi: the packages kept in efi/debs" test -f "$c/efi/debs/$(basename "$shim_deb")"
check "fetch-efi: nothing else in the cache (no temporary directory)" test "$(ls -A "$c")" = efi
fetch good "$c"; rc=$?
check "fetch-efi again: exit 0, nothing downloaded ($(cat "$T/err"))" \
	test $rc = 0 -a "$(calls)" = 1 -a -n "$(grep 'already in' "$T/err")"
fetch good "$c" -q; rc=$?
check "fetch-efi -q: only the directory" test $rc = 0 -a ! -s "$T/err" -a "$(cat "$T/out")" = "$c/efi"
fetch good "$c" --refresh; rc=$?
check "fetch-efi --refresh: downloads again" test $rc = 0 -a "$(calls)" = 2
check "fetch-efi --refresh: the new files in place, nothing left beside" \
	test -f "$c/efi/$SHIM" -a "$(ls -A "$c")" = efi
echo "a file of the old cache" >"$c/efi/old"
fetch good "$c" --refresh
check "fetch-efi --refresh: the old directory is replaced whole" test ! -e "$c/efi/old" -a -f "$c/efi/$GRUB"
MKLIVE_CACHE= XDG_CACHE_HOME=$T/xdg PATH="$T/good:$PATH" "$MKLIVE" fetch-efi -q >"$T/out" 2>"$T/err"
check "fetch-efi: the cache is \$XDG_CACHE_HOME/mklive without MKLIVE_CACHE" \
	test "$(cat "$T/out")" = "$T/xdg/mklive/efi" -a -f "$T/xdg/mklive/efi/$SHIM"

# --- failures leave the cache as it was ---------------------------------------------------
failing() {	# NAME STANDIN TEXT: fetch-efi --refresh into a copy of the filled cache fails
	rm -rf "$T/f" && cp -a "$c" "$T/f"
	fetch "$2" "$T/f" --refresh; local rc=$?
	if [ $rc = 1 ] && grep -qF -- "$3" "$T/err" && [ "$(wc -l <"$T/err")" = 1 ] &&
	   [ "$(ls -A "$T/f")" = efi ] && cmp -s "$T/f/efi/$SHIM" "$c/efi/$SHIM"; then
		ok "$1: exit 1, one message, the cache as it was: $(cat "$T/err")"
	else
		fail "$1: exit $rc, message: $(cat "$T/err"), cache: $(ls -A "$T/f")"
	fi
}
failing "a package that is not one" garbage "'dpkg -x $T/f/.efi-"
failing "packages without the files" empty "the packages shim-signed 9.9 and grub-efi-amd64-signed 9.9 hold no $SHIM"
failing "no GRUB package downloaded" onlyshim "apt-get download left no grub-efi-amd64-signed package in"
failing "no systemd-boot-efi downloaded" nosdboot "the packages systemd-boot-efi and shim-helpers-amd64-signed hold no usr/lib/systemd/boot/efi/linuxx64.efi.stub"
rm -rf "$T/f" && mkdir "$T/f"
fetch garbage "$T/f"; rc=$?
check "a failed fetch into an empty cache leaves nothing ($(ls -A "$T/f"))" test $rc = 1 -a -z "$(ls -A "$T/f")"

# --- interrupted while apt-get runs: exit 130, the child stopped, nothing left ---------------
rm -rf "$T/h" && mkdir "$T/h"
exec 8<>"$T/started"	# opened both ways: never blocks, even if apt-get never starts
MKLIVE_CACHE=$T/h PATH="$T/hang:$PATH" "$MKLIVE" fetch-efi 2>"$T/h.err" &
fpid=$!
if read -t 60 -r _ <&8; then
	kill -INT "$fpid"
	wait "$fpid"; rc=$?
	check "SIGINT during apt-get: exit 130 ($(cat "$T/h.err"))" test $rc = 130 -a -n "$(grep interrupted "$T/h.err")"
	check "SIGINT: apt-get stopped too" bash -c "! kill -0 $(cat "$T/hang.pid") 2>/dev/null"
	check "SIGINT: nothing left in the cache" test -z "$(ls -A "$T/h")"
else
	fail "the hanging apt-get did not start: $(cat "$T/h.err")"
	kill "$fpid" 2>/dev/null; wait "$fpid"
fi
exec 8<&-

# --- mklive build: where shim and GRUB come from, and the closing line ---------------------
# A small tree; the kernel is memtest86+ (no signature), no modules.
ver=6.1.0-efi
mkdir -p "$T/tree/sbin" "$T/mods/$ver" "$T/noefi" "$T/empty"
printf '#!/bin/sh\n' >"$T/tree/sbin/init"; chmod 755 "$T/tree/sbin/init"
: >"$T/mods/$ver/modules.dep"; : >"$T/mods/$ver/modules.builtin"; : >"$T/mods/$ver/modules.order"
cp "$boot/boot/memtest86+x64.bin" "$T/vmlinuz-$ver"
kver=$(basename "$(ls -d "$boot"/lib/modules/*/ | head -n 1)")
build() {	# CACHE ARGS...: stderr in $T/err
	local cache=$1; shift
	MKLIVE_CACHE=$cache "$MKLIVE" build --timeout 1 --level 1 --kernel "$T/vmlinuz-$ver" \
		--modules "$T/mods/$ver" "$@" "$T/tree" 2>"$T/err"
}
eltorito() { xorriso -indev "$1" -report_el_torito plain 2>/dev/null; }
esp_shim() {	# ISO: the ESP's BOOTX64.EFI into $T/esp-shim
	rm -f "$T/esp.img" "$T/esp-shim"
	xorriso -osirrox on -indev "$1" -extract /boot/grub/efi.img "$T/esp.img" >/dev/null 2>&1 &&
		mcopy -i "$T/esp.img" ::/EFI/BOOT/BOOTX64.EFI "$T/esp-shim" 2>/dev/null
}

build "$c" -v --efi-root "$T/noefi" -o "$T/cache.iso"; rc=$?
check "build, shim and GRUB only in the cache: exit 0" test $rc = 0
check "-v: they came from mklive's cache" grep -qF "UEFI: Debian's signed shim and GRUB from mklive's cache, $c/efi (" "$T/err"
check "the ISO has the UEFI El Torito entry" grep -Eq 'El Torito boot img : +2 +UEFI' <<<"$(eltorito "$T/cache.iso")"
esp_shim "$T/cache.iso"
check "the ESP's BOOTX64.EFI is the cache's shim, byte for byte" cmp -s "$T/esp-shim" "$c/efi/$SHIM"
check "closing line: UEFI, but no Secure Boot with an unsigned kernel" \
	grep -q "wrote $T/cache.iso ([0-9.]* MiB), which boots BIOS and UEFI, but not with Secure Boot on: the kernel is not signed; in " "$T/err"

build "$T/empty" -v --efi-root "$real" -o "$T/root.iso"; rc=$?
check "build with --efi-root that has them: exit 0, -v names it" \
	test $rc = 0 -a -n "$(grep -F "UEFI: Debian's signed shim and GRUB from the given root, $real (" "$T/err")"

build "$c" --uefi no --efi-root "$T/noefi" -o "$T/bios.iso"; rc=$?
check "--uefi no: exit 0, no UEFI entry" test $rc = 0 -a -z "$(eltorito "$T/bios.iso" | grep UEFI)"
check "--uefi no: closing line says BIOS only" \
	grep -q "wrote $T/bios.iso ([0-9.]* MiB), which boots BIOS only (--uefi no); in " "$T/err"

# Debian's kernel is signed: with it the closing line says Secure Boot (its
# modules do not matter here: empty lists under its version).
cp -r "$T/mods/$ver" "$T/mods/$kver"
MKLIVE_CACHE=$c "$MKLIVE" build --timeout 1 --level 1 --efi-root "$T/noefi" --kernel "$boot/boot/vmlinuz-$kver" \
	--modules "$T/mods/$kver" "$T/tree" -o "$T/sb.iso" 2>"$T/err"; rc=$?
check "with Debian's signed kernel: boots BIOS and UEFI with Secure Boot" test $rc = 0 -a \
	-n "$(grep "which boots BIOS and UEFI with Secure Boot (Debian's signed shim); in " "$T/err")"

# A recipe fetches them along with its packages when neither place has them
# (mmdebstrap: a stand-in that writes the small tree as a tar).
printf '#!/bin/sh\nexec tar -C "%s" -cf - .\n' "$T/tree" >"$T/mmdebstrap"
chmod 755 "$T/mmdebstrap"
printf '[recipe]\nsuite = bookworm\npackages = less\n' >"$T/recipe.conf"
recipe() {	# CACHE STANDIN ARGS...: stderr in $T/err
	local cache=$1 s=$2; shift 2
	MKLIVE_CACHE=$cache MKLIVE_MMDEBSTRAP=$T/mmdebstrap PATH="$T/$s:$PATH" "$MKLIVE" build -c "$T/recipe.conf" \
		--timeout 1 --level 1 --kernel "$T/vmlinuz-$ver" --modules "$T/mods/$ver" --efi-root "$T/noefi" \
		"$@" 2>"$T/err"
}
n=$(calls)
recipe "$T/rc" good -v -o "$T/recipe.iso"; rc=$?
check "a recipe, no shim or GRUB anywhere: exit 0 ($(grep -v '^mklive build: \[' "$T/err" | head -n 1))" test $rc = 0
check "... fetched them into the cache (apt-get download once)" \
	test "$(calls)" = $((n + 1)) -a -f "$T/rc/efi/$SHIM" -a -f "$T/rc/efi/$GRUB"
check "... and -v says so" grep -qF "fetching them into the cache for the recipe" "$T/err"
check "... the image boots UEFI" grep -Eq 'El Torito boot img : +2 +UEFI' <<<"$(eltorito "$T/recipe.iso")"
recipe "$T/rc" good -q -o "$T/recipe2.iso"; rc=$?
check "a second recipe build: nothing fetched" test $rc = 0 -a "$(calls)" = $((n + 1))
if openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/k.pem" -out "$T/c.pem" -days 3650 -subj /CN=efi-test \
	>/dev/null 2>&1; then
	recipe "$T/rs" good -q --sign-key "$T/k.pem" --sign-cert "$T/c.pem" -o "$T/recipe-signed.iso"; rc=$?
	check "a signed recipe, no EFI files anywhere: fetched into the cache, exit 0 ($(cat "$T/err"))" \
		test $rc = 0 -a -f "$T/rs/efi/usr/lib/systemd/boot/efi/linuxx64.efi.stub" -a -f "$T/recipe-signed.iso"
else
	skip "openssl cannot make a key: the signed recipe"
fi
mkdir -p "$T/rf"
recipe "$T/rf" fails -o "$T/recipe3.iso"; rc=$?
check "a recipe whose fetch fails: exit 1, apt-get's words and --uefi no ($(cat "$T/err"))" test $rc = 1 -a \
	-n "$(grep -F "E: Unable to locate package shim-signed" "$T/err" | grep -F -- "--uefi no makes an image that boots BIOS only")"
check "... one message, no output, nothing in the cache" \
	test "$(wc -l <"$T/err")" = 1 -a ! -e "$T/recipe3.iso" -a -z "$(ls -A "$T/rf" | grep -v '^packages$')"

# Without --efi-root the host's / comes first: the message names it when the
# host has no shim, and -v says the host when it has.
if [ -f "/$SHIM" ] && [ -f "/$GRUB" ]; then
	build "$T/empty" -v -o "$T/host.iso"
	check "host with shim-signed: -v says they came from the host" grep -qF "GRUB from the host, / (" "$T/err"
else
	build "$T/empty" -o "$T/host.iso"; rc=$?
	check "host without shim-signed, empty cache: exit 1 naming / and the cache" test $rc = 1 -a \
		-n "$(grep -F "neither '/' nor mklive's cache '$T/empty/efi' has them" "$T/err")"
	check "... and no output" test ! -e "$T/host.iso"
fi
t_done
