/* The FAT plan (see fat_int.h): the node tree made from the file list,
 * the geometry, and clusters allocated contiguously, each directory then
 * its entries in name order, depth first. */
#include "fmt/fat_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void fat_free(struct fat *f)
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
			    fat_set_name(&f->nodes[kid], p, len, path, err))
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

void fat_path_of(const struct fat *f, size_t i, char *buf, size_t size)
{
	size_t l;

	if (!i || !f->nodes[i].name) {
		buf[0] = '\0';
		return;
	}
	fat_path_of(f, f->nodes[i].parent, buf, size);
	l = strlen(buf);
	snprintf(buf + l, size - l, "%s%s", l ? "/" : "", f->nodes[i].name);
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
	const uint64_t max = o->max_size ? o->max_size : MKL_FAT_MAX_SIZE;
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
	if (o->min_size > max)
		return mkl_error(err, 0, "size of %" PRIu64 " bytes is larger than %" PRIu64 " MiB", o->min_size,
				 max >> 20);
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
		    (uint64_t)total * SECTOR > max) {
			/* Fill the size asked for (or, when the margin made the
			 * image too big, exactly 32 MiB) with as many clusters as
			 * fit beside the smallest FAT that maps them all. */
			uint64_t size = (uint64_t)total * SECTOR > max ? max : o->min_size;
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
		if ((uint64_t)total * SECTOR > max || c < need)
			continue;
		f->spc = spc;
		f->csize = csize;
		f->clusters = c;
		f->bits = bits;
		f->fat_sectors = fs;
		f->total_sectors = total;
		return 0;
	}
	return mkl_error(err, 0, "ESP content of %" PRIu64 " bytes does not fit in %" PRIu64 " MiB", content,
			 max >> 20);
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

int fat_plan(struct fat *f, const struct mkl_fat_opts *o, const struct mkl_fat_file *files, size_t n,
	     struct mkl_err *err)
{
	uint64_t content = 0;
	uint32_t next = 2;
	size_t root;

	f->reserved = o->boot_code ? (uint32_t)(o->boot_code_size / SECTOR) : 1;
	if (add_node(f, 0, &root, err))
		return -1;
	f->nodes[0].is_dir = 1;
	for (size_t i = 0; i < n; i++) {
		if (add_path(f, &files[i], err))
			return -1;
		if (files[i].size > UINT32_MAX)
			return mkl_error(err, 0, "'%s' is larger than a FAT file can be (4 GiB - 1)", files[i].path);
		content += files[i].size;
	}
	for (size_t i = 0; i < f->n; i++)
		if (f->nodes[i].is_dir && fat_plan_dir(f, i, o->label != NULL, err))
			return -1;
	if (plan_geometry(f, o, content, err))
		return -1;
	set_times(f, o->time);
	/* f->n >= 1 (the root); the analyzer loses it in add_node's realloc. */
	f->order = calloc(f->n ? f->n : 1, sizeof(*f->order));
	if (!f->order)
		return mkl_error(err, ENOMEM, "out of memory");
	allocate(f, 0, &next);
	if (next - 2 > f->clusters)	/* plan_geometry made room: cannot happen */
		return mkl_error(err, 0, "content does not fit in %" PRIu32 " clusters", f->clusters);
	return 0;
}
