/* FAT12/FAT16 writer with VFAT long names (see fat.h).
 *
 * Layout of the image, in 512-byte sectors:
 *   0                      boot sector (BPB, extended BPB, 0x55AA)
 *   1 ..                   more reserved sectors, only with boot code
 *   ..                     FAT #1, then FAT #2 (identical)
 *   ..                     fixed root directory (512 entries; 224 on a floppy)
 *   ..                     data clusters 2, 3, ... (contiguous chains)
 * Written front to back in one pass: the whole plan (names, cluster
 * numbers, the FAT) is made in memory first, file contents are streamed.
 *
 * Learned from Microsoft's "FAT: General Overview of On-Disk Format"
 * (BPB fields, the cluster-count rule for the FAT type, long-name entries
 * and their checksum, the short-name basis and numeric tail).
 */
#include "fmt/fat.h"
#include "tree/io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WHAT "the FAT image"
#define SECTOR 512u
#define DIRENT 32u
#define FAT12_MAX 4084u		/* clusters; 4085 and more is FAT16 */
#define FAT16_MAX 65524u	/* clusters; 65525 and more would be FAT32 */
#define ROOT_ENTRIES 512u
#define FLOPPY_ROOT_ENTRIES 224u
#define MAX_UNITS 255u		/* UTF-16 units in a long name */
#define LFN_CHARS 13u

#define ATTR_VOLUME 0x08
#define ATTR_DIR 0x10
#define ATTR_ARCHIVE 0x20
#define ATTR_LFN 0x0f
#define CASE_LOWER_BASE 0x08
#define CASE_LOWER_EXT 0x10

struct node {
	char *name;			/* UTF-8 component; NULL for the root */
	const struct mkl_fat_file *file;	/* regular files */
	int is_dir;
	int explicit_dir;		/* named by a "dir/" entry */
	size_t *kids;			/* node indices, sorted by name after planning */
	size_t nkids, capkids;
	int kids_sorted;		/* kids were added in increasing name order */
	uint16_t u16[MAX_UNITS];	/* the name in UTF-16 */
	unsigned nu16;
	uint8_t sname[11];		/* short name, space padded */
	uint8_t ntcase;
	unsigned nlfn;			/* long-name entries (0: short name only) */
	uint32_t entries;		/* directories: entries they hold */
	uint32_t first, nclus;		/* first cluster (0: none), cluster count */
	size_t parent;
};

struct fat {
	struct node *nodes;
	size_t n, cap;
	size_t *order;			/* nodes with clusters, in allocation order */
	size_t norder;
	/* geometry */
	uint32_t reserved, spc, csize, fat_sectors, root_entries, total_sectors, clusters;
	int bits;
	uint8_t media;
	uint16_t spt, heads;
	uint8_t drive;
	/* time stamps, FAT encoded */
	uint16_t fdate, ftime;
};

/* --- names -------------------------------------------------------------- */

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

static int short_char(uint16_t c)
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
static int set_name(struct node *nd, const char *name, size_t len, const char *path, struct mkl_err *err)
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
		} else if (!short_char(fold(c)) || c > 0x7f) {
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
		if (c > 0x7f || !short_char(c)) {
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
			if (c > 0x7f || !short_char(c)) {
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

/* --- the tree ------------------------------------------------------------- */

static void fat_free(struct fat *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->nodes[i].name);
		free(f->nodes[i].kids);
	}
	free(f->nodes);
	free(f->order);
}

static int add_node(struct fat *f, size_t parent, size_t *out, struct mkl_err *err)
{
	struct node *p;

	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 64;
		struct node *nn = realloc(f->nodes, cap * sizeof(*nn));

		if (!nn)
			return mkl_error(err, ENOMEM, "out of memory");
		f->nodes = nn;
		f->cap = cap;
	}
	memset(&f->nodes[f->n], 0, sizeof(f->nodes[0]));
	f->nodes[f->n].parent = parent;
	p = &f->nodes[parent];
	if (f->n) {
		if (p->nkids == p->capkids) {
			size_t cap = p->capkids ? p->capkids * 2 : 8;
			size_t *nk = realloc(p->kids, cap * sizeof(*nk));

			if (!nk)
				return mkl_error(err, ENOMEM, "out of memory");
			p->kids = nk;
			p->capkids = cap;
		}
		p->kids[p->nkids++] = f->n;
	}
	*out = f->n++;
	return 0;
}

static int find_kid(const struct fat *f, size_t dir, const char *name, size_t len, size_t *out)
{
	const struct node *d = &f->nodes[dir];

	/* Input in order hits the last one, or comes after it. */
	if (d->nkids && d->kids_sorted) {
		const char *last = f->nodes[d->kids[d->nkids - 1]].name;
		int c = strncmp(last, name, len);

		if (c < 0 || (c == 0 && strlen(last) < len))
			return 0;
	}
	for (size_t k = d->nkids; k-- > 0;) {
		const struct node *nd = &f->nodes[d->kids[k]];

		if (strlen(nd->name) == len && !memcmp(nd->name, name, len)) {
			*out = d->kids[k];
			return 1;
		}
	}
	return 0;
}

static int add_path(struct fat *f, const struct mkl_fat_file *file, struct mkl_err *err)
{
	const char *path = file->path, *p;
	size_t dir = 0;

	if (!path)
		return mkl_error(err, 0, "file without a path");
	p = path;
	while (*p == '/')
		p++;
	if (!*p)
		return mkl_error(err, 0, "invalid path '%s'", path);
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		int last = !slash || !slash[1];
		int want_dir = slash != NULL;
		size_t kid;

		if (find_kid(f, dir, p, len, &kid)) {
			struct node *nd = &f->nodes[kid];

			if (want_dir != nd->is_dir)
				return mkl_error(err, 0, "'%.*s' is both a file and a directory",
						 (int)(p - path + len), path);
			if (last && (!want_dir || nd->explicit_dir))
				return mkl_error(err, 0, "duplicate path '%s'", path);
		} else {
			struct node *d = &f->nodes[dir];

			/* Still in increasing order? (Once not, never again.) */
			d->kids_sorted = d->kids_sorted || !d->nkids;
			if (d->nkids && d->kids_sorted) {
				const char *prev = f->nodes[d->kids[d->nkids - 1]].name;
				int c = strncmp(prev, p, len);

				d->kids_sorted = c < 0 || (c == 0 && strlen(prev) < len);
			}
			if (add_node(f, dir, &kid, err) ||
			    set_name(&f->nodes[kid], p, len, path, err))
				return -1;
			f->nodes[kid].is_dir = want_dir;
		}
		if (last) {
			if (want_dir)
				f->nodes[kid].explicit_dir = 1;
			else
				f->nodes[kid].file = file;
			return 0;
		}
		dir = kid;
		p = slash + 1;
	}
}

/* qsort has no context argument: sort pairs of (key pointer, index). */
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

static int path_of(const struct fat *f, size_t i, char *buf, size_t size)
{
	if (!i || !f->nodes[i].name) {
		buf[0] = '\0';
		return 0;
	}
	path_of(f, f->nodes[i].parent, buf, size);
	size_t l = strlen(buf);
	snprintf(buf + l, size - l, "%s%s", l ? "/" : "", f->nodes[i].name);
	return 0;
}

/* Sort a directory, reject case-insensitive duplicates, give each entry
 * its short name, count the directory's entries. */
static int plan_dir(struct fat *f, size_t dir, int has_label, struct mkl_err *err)
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

			path_of(f, dir, dp, sizeof(dp));
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

		path_of(f, dir, dp, sizeof(dp));
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

/* --- geometry --------------------------------------------------------------- */

static uint32_t fat_sectors_for(uint32_t clusters, int bits)
{
	uint64_t bytes = ((uint64_t)(clusters + 2) * (unsigned)bits + 7) / 8;

	return (uint32_t)((bytes + SECTOR - 1) / SECTOR);
}

/* Clusters needed by the content with clusters of csize bytes. */
static uint64_t need_clusters(const struct fat *f, uint32_t csize)
{
	uint64_t need = 0;

	for (size_t i = 1; i < f->n; i++) {
		const struct node *nd = &f->nodes[i];
		uint64_t bytes = nd->is_dir ? (uint64_t)nd->entries * DIRENT : nd->file->size;

		need += (bytes + csize - 1) / csize;
	}
	return need;
}

static int plan_geometry(struct fat *f, const struct mkl_fat_opts *o, uint64_t content, struct mkl_err *err)
{
	uint32_t root_needed = f->nodes[0].entries;

	if (o->floppy) {
		f->spc = 1;
		f->csize = SECTOR;
		f->root_entries = FLOPPY_ROOT_ENTRIES;
		f->fat_sectors = 9;
		f->total_sectors = MKL_FAT_FLOPPY_SIZE / SECTOR;
		f->clusters = f->total_sectors - f->reserved - 2 * 9 - FLOPPY_ROOT_ENTRIES * DIRENT / SECTOR;
		f->bits = 12;
		f->media = 0xf0;
		f->spt = 18;
		f->heads = 2;
		f->drive = 0x00;
		if (root_needed > FLOPPY_ROOT_ENTRIES)
			return mkl_error(err, 0, "the root directory needs %" PRIu32 " entries; a floppy holds %u",
					 root_needed, FLOPPY_ROOT_ENTRIES);
		if (need_clusters(f, SECTOR) > f->clusters)
			return mkl_error(err, 0, "content of %" PRIu64 " bytes does not fit in a 1.44 MB floppy",
					 content);
		return 0;
	}
	f->media = 0xf8;
	f->spt = 32;
	f->heads = 64;
	f->drive = 0x80;
	if (o->min_size > MKL_FAT_MAX_SIZE)
		return mkl_error(err, 0, "size of %" PRIu64 " bytes is larger than 32 MiB", o->min_size);
	f->root_entries = ROOT_ENTRIES;
	if (root_needed > ROOT_ENTRIES)
		f->root_entries = (root_needed + 15) / 16 * 16;
	if (f->root_entries > 4096)
		return mkl_error(err, 0, "the root directory needs %" PRIu32 " entries, more than 4096",
				 root_needed);
	uint32_t root_sectors = f->root_entries * DIRENT / SECTOR;

	for (uint32_t spc = 1; spc <= 64; spc *= 2) {
		uint32_t csize = spc * SECTOR, c, fs, total;
		uint64_t need = need_clusters(f, csize), want = need + need / 32 + 16;
		int bits;

		if (want > FAT16_MAX)
			continue;
		c = (uint32_t)want;
		/* Keep clear of the FAT12/FAT16 boundary, where readers that
		 * count off by one would disagree on the type. */
		if (c > FAT12_MAX - 16 && c <= FAT12_MAX + 16)
			c = FAT12_MAX + 17;
		bits = c <= FAT12_MAX ? 12 : 16;
		fs = fat_sectors_for(c, bits);
		total = f->reserved + 2 * fs + root_sectors + c * spc;
		if ((o->min_size && (uint64_t)total * SECTOR < o->min_size) ||
		    (uint64_t)total * SECTOR > MKL_FAT_MAX_SIZE) {
			/* Fill the size asked for (or, when the margin made the
			 * image too big, exactly 32 MiB) with as many clusters as
			 * fit beside the smallest FAT that maps them all. */
			uint64_t size = (uint64_t)total * SECTOR > MKL_FAT_MAX_SIZE ? MKL_FAT_MAX_SIZE : o->min_size;
			uint32_t t = (uint32_t)((size + SECTOR - 1) / SECTOR);
			/* The smallest FAT that covers the clusters beside it. */
			for (fs = 1;; fs++) {
				if (f->reserved + 2 * fs + root_sectors >= t) {
					c = 0;
					break;
				}
				c = (t - f->reserved - 2 * fs - root_sectors) / spc;
				if (c <= FAT16_MAX && fat_sectors_for(c, c <= FAT12_MAX ? 12 : 16) <= fs)
					break;
			}
			bits = c <= FAT12_MAX ? 12 : 16;
			total = t;
		}
		if ((uint64_t)total * SECTOR > MKL_FAT_MAX_SIZE || c < need)
			continue;
		f->spc = spc;
		f->csize = csize;
		f->clusters = c;
		f->bits = bits;
		f->fat_sectors = fs;
		f->total_sectors = total;
		return 0;
	}
	return mkl_error(err, 0, "ESP content of %" PRIu64 " bytes does not fit in 32 MiB", content);
}

/* Give each directory (but the root) and each non-empty file its clusters:
 * the directory, then its entries in name order, depth first. */
static void allocate(struct fat *f, size_t dir, uint32_t *next)
{
	struct node *d = &f->nodes[dir];

	if (dir) {
		d->nclus = (d->entries * DIRENT + f->csize - 1) / f->csize;
		d->first = *next;
		*next += d->nclus;
		f->order[f->norder++] = dir;
	}
	for (size_t k = 0; k < d->nkids; k++) {
		struct node *nd = &f->nodes[d->kids[k]];

		if (nd->is_dir) {
			allocate(f, d->kids[k], next);
		} else if (nd->file->size) {
			nd->nclus = (uint32_t)((nd->file->size + f->csize - 1) / f->csize);
			nd->first = *next;
			*next += nd->nclus;
			f->order[f->norder++] = d->kids[k];
		}
	}
}

/* --- output ----------------------------------------------------------------- */

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v);
	put16(p + 2, v >> 16);
}

static void set_times(struct fat *f, int64_t t)
{
	struct tm tm;
	time_t tt;

	if (t < 315532800)		/* 1980-01-01 00:00:00 UTC */
		t = 315532800;
	if (t > 4354819198LL)		/* 2107-12-31 23:59:58 UTC */
		t = 4354819198LL;
	tt = (time_t)t;
	gmtime_r(&tt, &tm);
	f->fdate = (uint16_t)((tm.tm_year - 80) << 9 | (tm.tm_mon + 1) << 5 | tm.tm_mday);
	f->ftime = (uint16_t)(tm.tm_hour << 11 | tm.tm_min << 5 | tm.tm_sec / 2);
}

static void put_dirent(const struct fat *f, uint8_t *e, const uint8_t name[11], uint8_t attr, uint8_t ntcase,
		       uint32_t first, uint32_t size)
{
	memcpy(e, name, 11);
	e[11] = attr;
	e[12] = ntcase;
	e[13] = 0;
	put16(e + 14, f->ftime);
	put16(e + 16, f->fdate);
	put16(e + 18, f->fdate);
	put16(e + 20, 0);
	put16(e + 22, f->ftime);
	put16(e + 24, f->fdate);
	put16(e + 26, first);
	put32(e + 28, size);
}

static uint8_t lfn_checksum(const uint8_t s[11])
{
	uint8_t sum = 0;

	for (int i = 0; i < 11; i++)
		sum = (uint8_t)(((sum & 1) << 7) + (sum >> 1) + s[i]);
	return sum;
}

/* Fill a directory's entries into buf (zeroed, large enough). */
static void fill_dir(const struct fat *f, size_t dir, uint8_t *buf, const char *label)
{
	static const uint8_t off[LFN_CHARS] = { 1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30 };
	const struct node *d = &f->nodes[dir];
	uint8_t *e = buf;

	if (dir) {
		uint8_t dot[11], dotdot[11];

		memset(dot, ' ', 11);
		dot[0] = '.';
		memcpy(dotdot, dot, 11);
		dotdot[1] = '.';
		put_dirent(f, e, dot, ATTR_DIR, 0, d->first, 0);
		e += DIRENT;
		put_dirent(f, e, dotdot, ATTR_DIR, 0, f->nodes[d->parent].first, 0);
		e += DIRENT;
	} else if (label) {
		uint8_t l[11];

		memset(l, ' ', 11);
		memcpy(l, label, strlen(label));
		put_dirent(f, e, l, ATTR_VOLUME, 0, 0, 0);
		e += DIRENT;
	}
	for (size_t k = 0; k < d->nkids; k++) {
		const struct node *nd = &f->nodes[d->kids[k]];
		uint8_t sum = lfn_checksum(nd->sname);

		for (unsigned s = nd->nlfn; s >= 1; s--) {
			e[0] = (uint8_t)(s | (s == nd->nlfn ? 0x40 : 0));
			e[11] = ATTR_LFN;
			e[12] = 0;
			e[13] = sum;
			put16(e + 26, 0);
			for (unsigned c = 0; c < LFN_CHARS; c++) {
				unsigned i = (s - 1) * LFN_CHARS + c;

				put16(e + off[c], i < nd->nu16 ? nd->u16[i] : i == nd->nu16 ? 0 : 0xffff);
			}
			e += DIRENT;
		}
		put_dirent(f, e, nd->sname, nd->is_dir ? ATTR_DIR : ATTR_ARCHIVE, nd->ntcase, nd->first,
			   nd->is_dir ? 0 : (uint32_t)nd->file->size);
		e += DIRENT;
	}
}

/* The boot sector; b holds the caller's boot code (its jump in bytes 0..2
 * and code from byte 62 are kept) or zeros. */
static void fill_boot(const struct fat *f, const struct mkl_fat_opts *o, uint8_t *b)
{
	static const uint8_t code[] = { 0xcd, 0x18, 0xf4, 0xeb, 0xfd };	/* int 18h; hlt; jmp hlt */

	if (!o->boot_code) {
		b[0] = 0xeb;
		b[1] = 0x3c;
		b[2] = 0x90;
		memcpy(b + 62, code, sizeof(code));
	}
	memcpy(b + 3, "MKLIVE  ", 8);
	put16(b + 11, SECTOR);
	b[13] = (uint8_t)f->spc;
	put16(b + 14, (uint16_t)f->reserved);
	b[16] = 2;
	put16(b + 17, f->root_entries);
	if (f->total_sectors < 65536)
		put16(b + 19, f->total_sectors);
	else
		put32(b + 32, f->total_sectors);
	b[21] = f->media;
	put16(b + 22, f->fat_sectors);
	put16(b + 24, f->spt);
	put16(b + 26, f->heads);
	put32(b + 28, 0);
	b[36] = f->drive;
	b[38] = 0x29;
	put32(b + 39, o->serial);
	memset(b + 43, ' ', 11);
	if (o->label)
		memcpy(b + 43, o->label, strlen(o->label));
	else
		memcpy(b + 43, "NO NAME", 7);
	memcpy(b + 54, f->bits == 12 ? "FAT12   " : "FAT16   ", 8);
	b[510] = 0x55;
	b[511] = 0xaa;
}

static void fat_set(const struct fat *f, uint8_t *t, uint32_t i, uint32_t v)
{
	if (f->bits == 16) {
		put16(t + 2 * i, v);
	} else {
		uint8_t *p = t + i * 3 / 2;

		if (i & 1) {
			p[0] = (uint8_t)((p[0] & 0x0f) | (v & 0x0f) << 4);
			p[1] = (uint8_t)(v >> 4);
		} else {
			p[0] = (uint8_t)v;
			p[1] = (uint8_t)((p[1] & 0xf0) | ((v >> 8) & 0x0f));
		}
	}
}

static int write_file(int out, const struct fat *f, const struct node *nd, uint8_t *buf, size_t bufsize,
		      struct mkl_err *err)
{
	const struct mkl_fat_file *file = nd->file;
	const char *what = file->src ? file->src : file->path;
	uint64_t left = file->size, off = 0;
	int fd = file->fd, rc = -1;

	if (fd < 0 && file->mem)
		return mkl_write_all(out, file->mem, (size_t)file->size, WHAT, err) ||
		       mkl_write_zeros(out, (uint64_t)nd->nclus * f->csize - file->size, WHAT, err) ? -1 : 0;
	if (fd < 0) {
		struct stat st;

		if (!file->src)
			return mkl_error(err, 0, "'%s' has no contents (no fd, memory or source path)",
					 file->path);
		fd = open(file->src, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return mkl_error(err, errno, "cannot open '%s'", file->src);
		if (fstat(fd, &st) == 0 && (uint64_t)st.st_size != file->size) {
			mkl_error(err, 0, "'%s' changed size while the FAT image was written", file->src);
			goto out;
		}
	}
	while (left) {
		size_t want = left < bufsize ? (size_t)left : bufsize;
		ssize_t r = pread(fd, buf, want, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			mkl_error(err, errno, "cannot read '%s'", what);
			goto out;
		}
		if (r == 0) {
			mkl_error(err, 0, "'%s' is shorter than %" PRIu64 " bytes", what, file->size);
			goto out;
		}
		if (mkl_cancelled()) {
			mkl_error(err, ECANCELED, "writing the FAT image");
			goto out;
		}
		if (mkl_write_all(out, buf, (size_t)r, WHAT, err))
			goto out;
		left -= (uint64_t)r;
		off += (uint64_t)r;
	}
	rc = mkl_write_zeros(out, (uint64_t)nd->nclus * f->csize - file->size, WHAT, err);
out:
	if (fd != file->fd)
		close(fd);
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
		if (!short_char((uint8_t)label[i]) && label[i] != ' ')
			return mkl_error(err, 0, "FAT label '%s' may hold only upper-case letters, digits, "
					 "spaces and ! # $ %% & ' ( ) - @ ^ _ ` { } ~", label);
	return 0;
}

/* A copy of the caller's boot code, patched by its callback with the
 * first sector of each file. */
static uint8_t *boot_sectors(const struct fat *f, const struct mkl_fat_opts *o,
			     const struct mkl_fat_file *files, size_t n, struct mkl_err *err)
{
	uint32_t data = f->reserved + 2 * f->fat_sectors + f->root_entries * DIRENT / SECTOR;
	uint32_t *first = calloc(n ? n : 1, sizeof(*first));
	uint8_t *code = malloc(o->boot_code_size);

	if (!first || !code) {
		mkl_error(err, ENOMEM, "out of memory");
		goto fail;
	}
	memcpy(code, o->boot_code, o->boot_code_size);
	for (size_t i = 1; i < f->n; i++) {
		const struct node *nd = &f->nodes[i];

		if (nd->file && nd->first)
			first[nd->file - files] = data + (nd->first - 2) * f->spc;
	}
	if (o->boot_patch && o->boot_patch(o->boot_ctx, code, o->boot_code_size, first, n, err))
		goto fail;
	free(first);
	return code;
fail:
	free(first);
	free(code);
	return NULL;
}

int mkl_fat_write(int out, const struct mkl_fat_opts *o, const struct mkl_fat_file *files, size_t n,
		  struct mkl_err *err)
{
	struct fat f;
	uint8_t *sector = NULL, *table = NULL, *dirbuf = NULL, *buf = NULL;
	size_t root, table_size, bufsize = 1 << 16;
	uint64_t content = 0, written;
	uint32_t next = 2;
	int rc = -1;

	memset(&f, 0, sizeof(f));
	if (o->label && mkl_fat_check_label(o->label, err))
		return -1;
	if (o->boot_code && (o->boot_code_size < SECTOR || o->boot_code_size % SECTOR ||
			     o->boot_code_size > 64 * SECTOR))
		return mkl_error(err, EINVAL, "boot code of %zu bytes: want 1 to 64 whole sectors",
				 o->boot_code_size);
	f.reserved = o->boot_code ? (uint32_t)(o->boot_code_size / SECTOR) : 1;
	if (add_node(&f, 0, &root, err))
		goto out;
	f.nodes[0].is_dir = 1;
	for (size_t i = 0; i < n; i++) {
		if (add_path(&f, &files[i], err))
			goto out;
		if (files[i].size > UINT32_MAX) {
			mkl_error(err, 0, "'%s' is larger than a FAT file can be (4 GiB - 1)", files[i].path);
			goto out;
		}
		content += files[i].size;
	}
	for (size_t i = 0; i < f.n; i++)
		if (f.nodes[i].is_dir && plan_dir(&f, i, o->label != NULL, err))
			goto out;
	if (plan_geometry(&f, o, content, err))
		goto out;
	set_times(&f, o->time);
	f.order = calloc(f.n, sizeof(*f.order));
	if (!f.order) {
		mkl_error(err, ENOMEM, "out of memory");
		goto out;
	}
	allocate(&f, 0, &next);
	if (next - 2 > f.clusters) {	/* plan_geometry made room: cannot happen */
		mkl_error(err, 0, "content does not fit in %" PRIu32 " clusters", f.clusters);
		goto out;
	}

	/* The FAT: media byte, end-of-chain marker, then contiguous chains. */
	table_size = (size_t)f.fat_sectors * SECTOR;
	table = calloc(1, table_size);
	sector = calloc(1, SECTOR);
	buf = malloc(bufsize);
	if (!table || !sector || !buf) {
		mkl_error(err, ENOMEM, "out of memory");
		goto out;
	}
	uint32_t eoc = f.bits == 12 ? 0xfff : 0xffff;

	fat_set(&f, table, 0, (eoc & ~0xffu) | f.media);
	fat_set(&f, table, 1, eoc);
	for (size_t k = 0; k < f.norder; k++) {
		const struct node *nd = &f.nodes[f.order[k]];

		for (uint32_t c = 0; c < nd->nclus; c++)
			fat_set(&f, table, nd->first + c, c + 1 < nd->nclus ? nd->first + c + 1 : eoc);
	}

	if (o->boot_code) {
		free(sector);
		sector = boot_sectors(&f, o, files, n, err);
		if (!sector)
			goto out;
	}
	fill_boot(&f, o, sector);
	if (mkl_write_all(out, sector, (size_t)f.reserved * SECTOR, WHAT, err) ||
	    mkl_write_all(out, table, table_size, WHAT, err) || mkl_write_all(out, table, table_size, WHAT, err))
		goto out;
	dirbuf = calloc(1, f.root_entries * DIRENT);
	if (!dirbuf) {
		mkl_error(err, ENOMEM, "out of memory");
		goto out;
	}
	fill_dir(&f, 0, dirbuf, o->label);
	if (mkl_write_all(out, dirbuf, f.root_entries * DIRENT, WHAT, err))
		goto out;
	written = f.reserved + 2 * (uint64_t)f.fat_sectors + f.root_entries * DIRENT / SECTOR;

	for (size_t k = 0; k < f.norder; k++) {
		const struct node *nd = &f.nodes[f.order[k]];

		if (nd->is_dir) {
			size_t len = (size_t)nd->nclus * f.csize;

			free(dirbuf);
			dirbuf = calloc(1, len);
			if (!dirbuf) {
				mkl_error(err, ENOMEM, "out of memory");
				goto out;
			}
			fill_dir(&f, f.order[k], dirbuf, NULL);
			if (mkl_write_all(out, dirbuf, len, WHAT, err))
				goto out;
		} else if (write_file(out, &f, nd, buf, bufsize, err)) {
			goto out;
		}
		written += (uint64_t)nd->nclus * f.spc;
	}
	if (mkl_write_zeros(out, ((uint64_t)f.total_sectors - written) * SECTOR, WHAT, err))
		goto out;
	rc = 0;
out:
	free(sector);
	free(table);
	free(dirbuf);
	free(buf);
	fat_free(&f);
	return rc;
}

/* --- reading a host directory ------------------------------------------------ */

struct list {
	struct mkl_fat_file *v;
	size_t n, cap;
};

static int list_add(struct list *l, char *path, char *src, uint64_t size, struct mkl_err *err)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct mkl_fat_file *nv = realloc(l->v, cap * sizeof(*nv));

		if (!nv) {
			free(path);
			free(src);
			return mkl_error(err, ENOMEM, "out of memory");
		}
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n++] = (struct mkl_fat_file){ .path = path, .src = src, .size = size, .fd = -1 };
	return 0;
}

static int by_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk(struct list *l, const char *host, const char *rel, struct mkl_err *err)
{
	DIR *d = opendir(host);
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int rc = -1;

	if (!d)
		return mkl_error(err, errno, "cannot open '%s'", host);
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno) {
				mkl_error(err, errno, "cannot read '%s'", host);
				goto out;
			}
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 32;
			char **nn = realloc(names, nc * sizeof(*nn));

			if (!nn) {
				mkl_error(err, ENOMEM, "out of memory");
				goto out;
			}
			names = nn;
			cap = nc;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			mkl_error(err, ENOMEM, "out of memory");
			goto out;
		}
		n++;
	}
	if (n)
		qsort(names, n, sizeof(*names), by_str);
	for (size_t i = 0; i < n; i++) {
		char *hp = NULL, *rp = NULL;
		struct stat st;

		if (asprintf(&hp, "%s/%s", host, names[i]) < 0) {
			hp = NULL;
			mkl_error(err, ENOMEM, "out of memory");
			goto out;
		}
		if (lstat(hp, &st) || (S_ISLNK(st.st_mode) && stat(hp, &st))) {
			mkl_error(err, errno, "cannot stat '%s'", hp);
			free(hp);
			goto out;
		}
		if (S_ISDIR(st.st_mode)) {
			struct stat lst;

			if (lstat(hp, &lst) == 0 && S_ISLNK(lst.st_mode)) {
				mkl_error(err, 0, "'%s' is a symbolic link to a directory (not supported on FAT)", hp);
				free(hp);
				goto out;
			}
			if (asprintf(&rp, "%s%s/", rel, names[i]) < 0) {
				free(hp);
				mkl_error(err, ENOMEM, "out of memory");
				goto out;
			}
			char *sub = strdup(rp);

			if (!sub || list_add(l, rp, NULL, 0, err) || walk(l, hp, sub, err)) {
				if (!sub)
					mkl_error(err, ENOMEM, "out of memory");
				free(sub);
				free(hp);
				goto out;
			}
			free(sub);
			free(hp);
		} else if (S_ISREG(st.st_mode)) {
			int fd = open(hp, O_RDONLY | O_CLOEXEC);

			if (fd < 0) {
				mkl_error(err, errno, "cannot open '%s'", hp);
				free(hp);
				goto out;
			}
			close(fd);
			if (asprintf(&rp, "%s%s", rel, names[i]) < 0) {
				free(hp);
				mkl_error(err, ENOMEM, "out of memory");
				goto out;
			}
			if (list_add(l, rp, hp, (uint64_t)st.st_size, err))
				goto out;
		} else {
			mkl_error(err, 0, "'%s' is not a regular file or directory", hp);
			free(hp);
			goto out;
		}
	}
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return rc;
}

int mkl_fat_files_from_dir(const char *dir, struct mkl_fat_file **files, size_t *n, struct mkl_err *err)
{
	struct list l = { NULL, 0, 0 };
	struct stat st;

	*files = NULL;
	*n = 0;
	if (stat(dir, &st))
		return mkl_error(err, errno, "cannot open '%s'", dir);
	if (!S_ISDIR(st.st_mode))
		return mkl_error(err, ENOTDIR, "cannot open '%s'", dir);
	if (walk(&l, dir, "", err)) {
		mkl_fat_files_free(l.v, l.n);
		return -1;
	}
	*files = l.v;
	*n = l.n;
	return 0;
}

void mkl_fat_files_free(struct mkl_fat_file *files, size_t n)
{
	if (!files)
		return;
	for (size_t i = 0; i < n; i++) {
		free((char *)files[i].path);
		free((char *)files[i].src);
		if (files[i].fd >= 0)
			close(files[i].fd);
	}
	free(files);
}
