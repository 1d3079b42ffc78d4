/* The live user's settings ([live] in mklive.conf, mklive.NAME= at boot):
 * what a user name, host name, locale, keyboard layout and time zone may
 * be. The build checks the values it is given with it (src/cli/options.c),
 * the init the boot options (src/init/live.c): no value, from either,
 * can break the files the init writes them into (passwd, hosts,
 * /etc/default/keyboard: no ':', '"', spaces or newlines).
 * A plain header: the static init compiles it too. */
#ifndef MKL_FMT_LIVE_H
#define MKL_FMT_LIVE_H

#include <string.h>

enum mkl_live_kind { MKL_LIVE_USER, MKL_LIVE_HOST, MKL_LIVE_LOCALE, MKL_LIVE_KEYBOARD,
		     MKL_LIVE_TZ };

/* The characters a value may have: its first, and the others; enough
 * that none breaks the file it goes into. The build checks more
 * (cli/options.c: host name labels, layout(variant), time zone slashes);
 * the init, short of room, this much, for the boot options. */
#define MKL_LIVE_LOWER 1
#define MKL_LIVE_UPPER 2
#define MKL_LIVE_DIGIT 4
static const struct mkl_live_rule {
	unsigned char first, rest, max;
	char first_also[3], also[6];
} mkl_live_rules[] = {
	[MKL_LIVE_USER] = { 1, 1 | 4, 32, "_", "_-" },	/* useradd's NAME_REGEX */
	[MKL_LIVE_HOST] = { 7, 7, 64, "", "-." },	/* Linux keeps 64 bytes */
	[MKL_LIVE_LOCALE] = { 3, 7, 64, "", "_.@-" },	/* lang[_TERR][.codeset][@mod] */
	[MKL_LIVE_KEYBOARD] = { 5, 7, 66, "", "_-()" },	/* layout[(variant)] */
	[MKL_LIVE_TZ] = { 7, 7, 64, "", "_+-/" },	/* a file of /usr/share/zoneinfo */
};

static inline int mkl_live_char(int c, unsigned cls, const char *also)
{
	return ((cls & MKL_LIVE_LOWER) && c >= 'a' && c <= 'z') ||
	       ((cls & MKL_LIVE_UPPER) && c >= 'A' && c <= 'Z') ||
	       ((cls & MKL_LIVE_DIGIT) && c >= '0' && c <= '9') || (c && strchr(also, c));
}

/* 1 when v is made of the characters its kind allows, else 0. */
static inline int mkl_live_ok(enum mkl_live_kind kind, const char *v)
{
	const struct mkl_live_rule *r = &mkl_live_rules[kind];
	size_t n = 0;

	if (!mkl_live_char(v[0], r->first, r->first_also))
		return 0;
	while (v[n] && mkl_live_char(v[n], r->rest, r->also))
		n++;
	return !v[n] && n <= r->max;
}

#endif
