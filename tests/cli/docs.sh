#!/bin/bash
# The manual pages (docs/*.[1-8]): groff renders each without a warning,
# each .TH names its own file, make install installs each, every mklive
# page one refers to exists, and every option a command's --help lists is
# described in its page (mklive's commands in mklive.1, mklive-media's in
# mklive-media.8), and every mklive.conf key in mklive.conf.5, so a new
# option cannot land undocumented.
. "$(dirname "$0")/../lib.sh"
MEDIA=${MEDIA:-$TOP/build/mklive-media}
command -v groff >/dev/null || { skip "groff missing (package groff-base; scripts/deps.sh check installs it)"; t_done; exit 0; }

pages=("$TOP"/docs/*.[1-8])
check "there are manual pages (${#pages[@]})" test "${#pages[@]}" -ge 4
for p in "${pages[@]}"; do
	name=${p##*/} base=${name%.*} sec=${name##*.}
	w=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$p" 2>&1)
	check "$name: groff -ww renders it without a warning${w:+ ($(head -n 2 <<<"$w" | tr '\n' ' '))}" test -z "$w"
	th=$(sed -n '1s/^\.TH "\{0,1\}\([^ "]*\)"\{0,1\} "\{0,1\}\([0-9]\).*/\1 \2/p' "$p")
	check "$name: .TH names it ($th)" test "$th" = "${base^^} $sec"
	check "$name: make install installs it into man$sec" \
		grep -Eq "install -m 0644 docs/$name \\\$\(DESTDIR\)\\\$\(MANDIR\)/man$sec/$name\$" "$TOP/Makefile"
done

# Cross references to our own pages: .BR mklive\-media (8) and the like.
refs=$(grep -ho '^\.BR mklive[-a-z.\\]* ([0-9])' "${pages[@]}" | sed 's/^\.BR //; s/\\-/-/g; s/ (\([0-9]\))/.\1/' | sort -u)
check "the pages refer to one another ($(echo $refs))" test "$(wc -w <<<"$refs")" -ge 3
for r in $refs; do
	check "reference $r: docs/$r exists" test -f "$TOP/docs/$r"
done

# Every long option of every --help, in the page. A page writes -- as \-\-.
documented() {	# PAGE OPTION...: print the options PAGE does not mention
	local page=$1 o; shift
	for o in "$@"; do
		grep -qF -- "$(sed 's/-/\\-/g' <<<"$o")" "$page" || printf ' %s' "$o"
	done
}
for cmd in build cloop ext2 fat fetch-efi floppy test verify; do
	opts=$("$MKLIVE" $cmd --help 2>&1 | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u)
	miss=$(documented "$TOP/docs/mklive.1" $opts)
	check "mklive $cmd: all $(wc -w <<<"$opts") options of --help are in mklive.1${miss:+ (missing:$miss)}" \
		test -n "$opts" -a -z "$miss"
done
opts=$("$MEDIA" --help 2>&1 | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u)
miss=$(documented "$TOP/docs/mklive-media.8" $opts)
check "mklive-media: all $(wc -w <<<"$opts") options and modes of --help are in mklive-media.8${miss:+ (missing:$miss)}" \
	test -n "$opts" -a -z "$miss"
# The option table (src/cli/options.c), as `mklive options` prints it: every
# mklive.conf key in mklive.conf.5 under its own section; every choice of a
# command-line option, and every image format of the registry, in mklive.1.
table=$("$MKLIVE" options); rc=$?
keys=$(awk -F'\t' '!/^#/ && $3 != "-" { print $3, $4 }' <<<"$table")
check "mklive options: exit 0, $(wc -l <<<"$table") rows, $(wc -l <<<"$keys") of them mklive.conf keys" \
	test $rc = 0 -a "$(wc -l <<<"$keys")" -ge 15
miss=
while read -r sec key; do
	awk -v s=".SS [$sec]" '$0 == s { on = 1; next } /^\.S[SH]/ { on = 0 } on' "$TOP/docs/mklive.conf.5" |
		grep -qF ".BI $(sed 's/-/\\-/g' <<<"$key") \" = \"" || miss="$miss [$sec] $key"
done <<<"$keys"
check "mklive.conf.5 describes every key in its section${miss:+ (missing:$miss)}" test -z "$miss"
miss=
while IFS=$'\t' read -r long short sec key kind choices def; do
	[ "$choices" = - ] && continue
	for c in ${choices//,/ }; do
		# A page writes - as \- (cloop\-ext2).
		grep -qwF -e "$c" -e "${c//-/\\-}" "$TOP/docs/mklive.1" || miss="$miss $long=$c"
		[ "$sec" = - ] || grep -qwF -e "$c" -e "${c//-/\\-}" "$TOP/docs/mklive.conf.5" || miss="$miss [$sec]$key=$c"
	done
done < <(grep -v '^#' <<<"$table")
check "mklive.1 and mklive.conf.5 name every choice (image formats too)${miss:+ (missing:$miss)}" test -z "$miss"
help=$("$MEDIA" --help); rc=$?
check "mklive-media --help: exit 0, and it points to its page" test $rc = 0 -a -n "$(grep 'mklive-media(8)' <<<"$help")"
t_done
