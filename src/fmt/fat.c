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
#include "fmt/fat_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "tree/io.h"

#define WHAT "the FAT image"

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

/* A file's contents (from memory, an fd or a spool) and the zeros to the
 * end of its last cluster. */
static int write_file(int out, const struct fat *f, const struct node *nd, uint8_t *buf, size_t bufsize,
		      struct mkl_err *err)
{
	const struct mkl_fat_file *file = nd->file;
	uint64_t left = file->size, off = 0;

	if (file->fd < 0 && file->mem) {
		if (mkl_write_all(out, file->mem, (size_t)file->size, WHAT, err))
			return -1;
		left = 0;
	} else if (file->fd < 0 && !file->spool) {
		return mkl_error(err, 0, "'%s' has no contents (no fd, memory or spool)", file->path);
	}
	while (left) {
		size_t want = left < bufsize ? (size_t)left : bufsize;

		if (mkl_cancelled())
			return mkl_error(err, ECANCELED, "writing the FAT image");
		if (file->fd < 0) {
			if (mkl_spool_read(file->spool, file->rec, off, buf, want, file->path, err))
				return -1;
		} else {
			ssize_t r = mkl_pread_full(file->fd, buf, want, off, file->path, err);

			if (r < 0)
				return -1;
			if ((size_t)r < want)
				return mkl_error(err, 0, "'%s' is shorter than %" PRIu64 " bytes", file->path,
						 file->size);
		}
		if (mkl_write_all(out, buf, want, WHAT, err))
			return -1;
		left -= want;
		off += want;
	}
	return mkl_write_zeros(out, (uint64_t)nd->nclus * f->csize - file->size, WHAT, err);
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
	size_t table_size, bufsize = 1 << 16;
	uint64_t written;
	int rc = -1;

	memset(&f, 0, sizeof(f));
	if (o->label && mkl_fat_check_label(o->label, err))
		return -1;
	if (o->boot_code && (o->boot_code_size < SECTOR || o->boot_code_size % SECTOR ||
			     o->boot_code_size > 64 * SECTOR))
		return mkl_error(err, EINVAL, "boot code of %zu bytes: want 1 to 64 whole sectors",
				 o->boot_code_size);
	if (fat_plan(&f, o, files, n, err))
		goto out;

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
			/* len > 0: a directory holds "." and "..", at least one
			 * cluster (fat_plan); 1 for the analyzer, which cannot see it. */
			dirbuf = calloc(1, len ? len : 1);
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

