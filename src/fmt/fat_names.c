/* FAT names (see fat_int.h): a path component checked and turned into
 * UTF-16, the 8.3 short name (exact, with the NT case bits, or generated
 * as BASIS~N and unique in its directory), and each directory sorted and
 * checked for names that FAT, which ignores case, would take as one. */
#include "fmt/fat_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tree/io.h"

/* Strict UTF-8 to UTF-16; -1 on invalid UTF-8 or too long. */
static int utf8_to_16(const char *s, size_t len, uint16_t *out, unsigned *nout)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	unsigned n = 0;

	while (p < end) {
		uint32_t c;
		int more;

		if (*p < 0x80) {
			c = *p++;
			more = 0;
		} else if ((*p & 0xe0) == 0xc0) {
			c = *p++ & 0x1f;
			more = 1;
		} else if ((*p & 0xf0) == 0xe0) {
			c = *p++ & 0x0f;
			more = 2;
		} else if ((*p & 0xf8) == 0xf0) {
			c = *p++ & 0x07;
			more = 3;
		} else {
			return -1;
		}
		if (end - p < more)
			return -1;
		for (int i = 0; i < more; i++, p++) {
			if ((*p & 0xc0) != 0x80)
				return -1;
			c = c << 6 | (*p & 0x3f);
		}
		if ((more == 1 && c < 0x80) || (more == 2 && c < 0x800) || (more == 3 && c < 0x10000) ||
		    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return -1;
		if (c >= 0x10000) {
			if (n + 2 > MAX_UNITS)
				return -2;
			c -= 0x10000;
			out[n++] = (uint16_t)(0xd800 | (c >> 10));
			out[n++] = (uint16_t)(0xdc00 | (c & 0x3ff));
		} else {
			if (n + 1 > MAX_UNITS)
				return -2;
			out[n++] = (uint16_t)c;
		}
	}
	*nout = n;
	return 0;
}

static int bad_long_char(uint16_t c)
{
	return c < 0x20 || (c < 0x80 && strchr("\"*/:<>?\\|", (int)c));
}

/* Characters a short name may hold, besides upper-case letters and digits. */
static int short_special(uint16_t c)
{
	return c < 0x80 && c && strchr("!#$%&'()-@^_`{}~", (int)c);
}

int fat_short_char(uint16_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || short_special(c);
}

static uint16_t fold(uint16_t c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 0xe0 && c <= 0xfe && c != 0xf7))
		return (uint16_t)(c - 0x20);
	return c;
}

/* Validate one path component and fill its UTF-16 form. */
int fat_set_name(struct node *nd, const char *name, size_t len, const char *path, struct mkl_err *err)
{
	int r;

	if (!len)
		return mkl_error(err, 0, "empty name in '%s'", path);
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return mkl_error(err, 0, "invalid name '%.*s' in '%s'", (int)len, name, path);
	r = utf8_to_16(name, len, nd->u16, &nd->nu16);
	if (r == -1)
		return mkl_error(err, 0, "name '%.*s' in '%s' is not valid UTF-8", (int)len, name, path);
	if (r == -2)
		return mkl_error(err, 0, "a name longer than 255 UTF-16 units in '%s'", path);
	for (unsigned i = 0; i < nd->nu16; i++)
		if (bad_long_char(nd->u16[i]))
			return mkl_error(err, 0, "invalid name '%.*s' in '%s': FAT names cannot hold "
					 "control characters or any of \" * : < > ? \\ |", (int)len, name, path);
	if (name[len - 1] == '.' || name[len - 1] == ' ')
		return mkl_error(err, 0, "invalid name '%.*s' in '%s': FAT names cannot end in '.' or ' '",
				 (int)len, name, path);
	nd->name = strndup(name, len);
	if (!nd->name)
		return mkl_error(err, ENOMEM, "out of memory");
	return 0;
}

/* Case of the letters in u[0..n): 0 none, 1 all upper, 2 all lower, 3 mixed. */
static int letter_case(const uint16_t *u, unsigned n)
{
	int c = 0;

	for (unsigned i = 0; i < n; i++) {
		if (u[i] >= 'A' && u[i] <= 'Z')
			c |= 1;
		else if (u[i] >= 'a' && u[i] <= 'z')
			c |= 2;
	}
	return c;
}

/* A valid 8.3 name (perhaps in lower case): fill sname and ntcase, return 1. */
static int exact_short(struct node *nd)
{
	unsigned dot = nd->nu16, nb, ne;
	int cb, ce;

	for (unsigned i = 0; i < nd->nu16; i++) {
		uint16_t c = nd->u16[i];

		if (c == '.') {
			if (dot != nd->nu16)
				return 0;	/* two dots */
			dot = i;
		} else if (!fat_short_char(fold(c)) || c > 0x7f) {
			return 0;
		}
	}
	nb = dot;
	ne = dot < nd->nu16 ? nd->nu16 - dot - 1 : 0;
	if (nb < 1 || nb > 8 || ne > 3 || (dot < nd->nu16 && ne == 0))
		return 0;
	cb = letter_case(nd->u16, nb);
	ce = letter_case(nd->u16 + dot + 1, ne);
	if (cb == 3 || ce == 3)
		return 0;
	memset(nd->sname, ' ', 11);
	for (unsigned i = 0; i < nb; i++)
		nd->sname[i] = (uint8_t)fold(nd->u16[i]);
	for (unsigned i = 0; i < ne; i++)
		nd->sname[8 + i] = (uint8_t)fold(nd->u16[dot + 1 + i]);
	nd->ntcase = (uint8_t)((cb == 2 ? CASE_LOWER_BASE : 0) | (ce == 2 ? CASE_LOWER_EXT : 0));
	return 1;
}

/* The basis of a generated short name: upper case, no spaces, no leading
 * dots, other characters that short names cannot hold as '_', base and
 * extension cut to 8 and 3. Returns 1 when nothing was lost but case. */
static int basis(const struct node *nd, char base[9], char ext[4])
{
	uint16_t u[MAX_UNITS];
	unsigned n = 0, start = 0, last = (unsigned)-1, nb = 0, ne = 0;
	int lossless = 1;

	while (start < nd->nu16 && (nd->u16[start] == '.' || nd->u16[start] == ' '))
		start++, lossless = 0;
	for (unsigned i = start; i < nd->nu16; i++) {
		if (nd->u16[i] == ' ') {
			lossless = 0;
			continue;
		}
		if (nd->u16[i] == '.')
			last = n;
		u[n++] = nd->u16[i];
	}
	for (unsigned i = 0; i < n && (last == (unsigned)-1 || i < last); i++) {
		uint16_t c = fold(u[i]);

		if (c == '.') {
			lossless = 0;
			continue;
		}
		if (nb == 8) {
			lossless = 0;
			break;
		}
		if (c > 0x7f || !fat_short_char(c)) {
			c = '_';
			lossless = 0;
		}
		base[nb++] = (char)c;
	}
	if (last != (unsigned)-1) {
		for (unsigned i = last + 1; i < n; i++) {
			uint16_t c = fold(u[i]);

			if (ne == 3) {
				lossless = 0;
				break;
			}
			if (c > 0x7f || !fat_short_char(c)) {
				c = '_';
				lossless = 0;
			}
			ext[ne++] = (char)c;
		}
	}
	if (!nb) {
		base[nb++] = '_';
		lossless = 0;
	}
	base[nb] = ext[ne] = '\0';
	return lossless;
}

static void make_sname(uint8_t out[11], const char *base, const char *ext)
{
	memset(out, ' ', 11);
	memcpy(out, base, strlen(base));
	memcpy(out + 8, ext, strlen(ext));
}

/* A set of 11-byte short names (open addressing). */
struct nameset {
	uint8_t (*slot)[11];
	uint8_t *used;
	size_t cap;
};

static size_t name_hash(const uint8_t *s)
{
	uint64_t h = MKL_HASH_INIT;

	mkl_hash_bytes(&h, s, 11);
	return (size_t)h;
}

/* 1 when added, 0 when already present. */
static int nameset_add(struct nameset *ns, const uint8_t *s)
{
	size_t i = name_hash(s) & (ns->cap - 1);

	while (ns->used[i]) {
		if (!memcmp(ns->slot[i], s, 11))
			return 0;
		i = (i + 1) & (ns->cap - 1);
	}
	ns->used[i] = 1;
	memcpy(ns->slot[i], s, 11);
	return 1;
}


struct sortkey {
	const struct node *nd;
	size_t idx;
};

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct sortkey *)a)->nd->name, ((const struct sortkey *)b)->nd->name);
}

static int by_folded(const void *a, const void *b)
{
	const struct node *x = ((const struct sortkey *)a)->nd, *y = ((const struct sortkey *)b)->nd;
	unsigned n = x->nu16 < y->nu16 ? x->nu16 : y->nu16;

	for (unsigned i = 0; i < n; i++) {
		uint16_t cx = fold(x->u16[i]), cy = fold(y->u16[i]);

		if (cx != cy)
			return cx < cy ? -1 : 1;
	}
	return (x->nu16 > y->nu16) - (x->nu16 < y->nu16);
}

/* Sort a directory, reject case-insensitive duplicates, give each entry
 * its short name, count the directory's entries. Long (110 lines): the
 * two passes over the names share their set of short names, and the
 * second goes on from the tail the one before used. */

int fat_plan_dir(struct fat *f, size_t dir, int has_label, struct mkl_err *err)
{
	struct node *d = &f->nodes[dir];
	size_t n = d->nkids;
	struct sortkey *keys = NULL;
	struct nameset ns = { NULL, NULL, 0 };
	int rc = -1;

	d->entries = dir ? 2 : (has_label ? 1 : 0);
	if (!n)
		return 0;
	keys = calloc(n, sizeof(*keys));
	for (ns.cap = 16; ns.cap < 2 * n + 4; ns.cap *= 2)
		;
	ns.slot = calloc(ns.cap, sizeof(*ns.slot));
	ns.used = calloc(ns.cap, 1);
	if (!keys || !ns.slot || !ns.used) {
		mkl_error(err, ENOMEM, "out of memory");
		goto out;
	}
	for (size_t k = 0; k < n; k++)
		keys[k] = (struct sortkey){ &f->nodes[d->kids[k]], d->kids[k] };
	qsort(keys, n, sizeof(*keys), by_folded);
	for (size_t k = 1; k < n; k++) {
		if (!by_folded(&keys[k - 1], &keys[k])) {
			char dp[4096];

			fat_path_of(f, dir, dp, sizeof(dp));
			mkl_error(err, 0, "'%s' and '%s' in '%s' are the same name on FAT (which ignores case)",
				  keys[k - 1].nd->name, keys[k].nd->name, *dp ? dp : "/");
			goto out;
		}
	}
	qsort(keys, n, sizeof(*keys), by_name);
	for (size_t k = 0; k < n; k++)
		d->kids[k] = keys[k].idx;

	/* Pass 1: names that need no numeric tail. Pass 2: the others. */
	for (size_t k = 0; k < n; k++) {
		struct node *nd = &f->nodes[d->kids[k]];
		char base[9], ext[4];

		nd->nlfn = 0;
		if (exact_short(nd)) {
			if (!nameset_add(&ns, nd->sname))
				goto dup;
			continue;
		}
		nd->nlfn = (nd->nu16 + LFN_CHARS - 1) / LFN_CHARS;
		nd->sname[0] = 0;
		if (basis(nd, base, ext)) {
			make_sname(nd->sname, base, ext);
			if (!nameset_add(&ns, nd->sname))
				nd->sname[0] = 0;
		}
	}
	/* Names with the same basis mostly come one after another (sorted):
	 * go on from the last tail they used rather than from ~1. */
	char prev_base[9] = "", prev_ext[4] = "";
	unsigned prev_t = 0;

	for (size_t k = 0; k < n; k++) {
		struct node *nd = &f->nodes[d->kids[k]];
		char base[9], ext[4], tail[12], b2[9];
		unsigned t = 1;

		if (nd->sname[0])
			continue;
		basis(nd, base, ext);
		if (!strcmp(base, prev_base) && !strcmp(ext, prev_ext))
			t = prev_t + 1;
		for (;; t++) {
			int tl = snprintf(tail, sizeof(tail), "~%u", t);
			size_t keep = strlen(base);

			if (tl > 7)
				goto dup;
			if (keep > (size_t)(8 - tl))
				keep = (size_t)(8 - tl);
			memcpy(b2, base, keep);
			memcpy(b2 + keep, tail, (size_t)tl + 1);
			make_sname(nd->sname, b2, ext);
			if (nameset_add(&ns, nd->sname))
				break;
		}
		memcpy(prev_base, base, sizeof(prev_base));
		memcpy(prev_ext, ext, sizeof(prev_ext));
		prev_t = t;
	}
	for (size_t k = 0; k < n; k++)
		d->entries += 1 + f->nodes[d->kids[k]].nlfn;
	if (d->entries > 65536) {	/* the most a FAT directory may hold */
		char dp[4096];

		fat_path_of(f, dir, dp, sizeof(dp));
		mkl_error(err, 0, "directory '%s' needs %" PRIu32 " entries, more than FAT allows (65536)",
			  *dp ? dp : "/", d->entries);
		goto out;
	}
	rc = 0;
	goto out;
dup:
	mkl_error(err, 0, "cannot make unique short names in a directory of %zu entries", n);
out:
	free(keys);
	free(ns.slot);
	free(ns.used);
	return rc;
}


int mkl_fat_check_label(const char *label, struct mkl_err *err)
{
	size_t n = label ? strlen(label) : 0;

	if (n < 1 || n > 11)
		return mkl_error(err, 0, "FAT label '%s' must have 1 to 11 characters", label ? label : "");
	if (label[0] == ' ' || label[n - 1] == ' ')
		return mkl_error(err, 0, "FAT label '%s' cannot begin or end with a space", label);
	for (size_t i = 0; i < n; i++)
		if (!fat_short_char((uint8_t)label[i]) && label[i] != ' ')
			return mkl_error(err, 0, "FAT label '%s' may hold only upper-case letters, digits, "
					 "spaces and ! # $ %% & ' ( ) - @ ^ _ ` { } ~", label);
	return 0;
}
