/* libsquashfs objects of our own for the squashfs writer: a sqfs_file_t
 * over the caller's fd, a compressor that never expands a block, and the
 * xz compressor on liblzma (see squashfs.c for the whole). */
#include "fmt/squashfs_int.h"

/* ---- a sqfs_file_t over a caller's fd ---------------------------------- */



static void fd_file_destroy(sqfs_object_t *obj)
{
	mkl_verity_free(((struct fd_file *)obj)->verity);
	free(obj);		/* the fd belongs to the caller */
}

static int fd_file_read_at(sqfs_file_t *base, sqfs_u64 offset, void *buffer, size_t size)
{
	struct fd_file *f = (struct fd_file *)base;
	unsigned char *p = buffer;
	ssize_t n;

	if (offset > f->size || size > f->size - offset)
		return SQFS_ERROR_OUT_OF_BOUNDS;
	while (size > 0) {
		n = pread(f->fd, p, size, (off_t)(f->at + offset));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			f->error = errno;
			return SQFS_ERROR_IO;
		}
		if (n == 0)
			return SQFS_ERROR_OUT_OF_BOUNDS;
		p += n;
		offset += (uint64_t)n;
		size -= (size_t)n;
	}
	return 0;
}

static int fd_file_write_at(sqfs_file_t *base, sqfs_u64 offset, const void *buffer, size_t size)
{
	struct fd_file *f = (struct fd_file *)base;
	const unsigned char *p = buffer;
	uint64_t end = offset + size, start = offset;
	ssize_t n;

	if (offset > (uint64_t)INT64_MAX - f->at - size)
		return SQFS_ERROR_OUT_OF_BOUNDS;
	/* the hash tree sees the bytes as they go out (see verity.h) */
	if (f->verity && mkl_verity_write(f->verity, start, buffer, size, &f->verr)) {
		f->error = f->verr.code ? f->verr.code : EIO;
		return SQFS_ERROR_IO;
	}
	while (size > 0) {
		n = pwrite(f->fd, p, size, (off_t)(f->at + offset));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			f->error = errno;
			return SQFS_ERROR_IO;
		}
		if (n == 0) {
			f->error = ENOSPC;
			return SQFS_ERROR_IO;
		}
		p += n;
		offset += (uint64_t)n;
		size -= (size_t)n;
	}
	if (end > f->size)
		f->size = end;
	return 0;
}

static sqfs_u64 fd_file_get_size(const sqfs_file_t *base)
{
	return ((const struct fd_file *)base)->size;
}

static int fd_file_truncate(sqfs_file_t *base, sqfs_u64 size)
{
	struct fd_file *f = (struct fd_file *)base;

	if (size > (uint64_t)INT64_MAX - f->at)
		return SQFS_ERROR_OUT_OF_BOUNDS;
	if (ftruncate(f->fd, (off_t)(f->at + size)) != 0) {
		f->error = errno;
		return SQFS_ERROR_IO;
	}
	f->size = size;
	if (f->verity && mkl_verity_truncate(f->verity, size, f->fd, f->at, &f->verr)) {
		f->error = f->verr.code ? f->verr.code : EIO;
		return SQFS_ERROR_IO;
	}
	return 0;
}

struct fd_file *mkl_sq_file_create(int fd, uint64_t at)
{
	struct fd_file *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->base.base.destroy = fd_file_destroy;
	f->base.base.copy = NULL;	/* writable files are not copyable */
	f->base.read_at = fd_file_read_at;
	f->base.write_at = fd_file_write_at;
	f->base.get_size = fd_file_get_size;
	f->base.truncate = fd_file_truncate;
	f->fd = fd;
	f->at = at;
	return f;
}

/* ---- a compressor that never expands ----------------------------------- */

/* libsquashfs 1.2's lz4 backend returns a "compressed" block even when it
 * is larger than its input; the meta data writer then stores e.g. a
 * 24-byte id table as 26 compressed bytes, which unsquashfs 4.5 rejects
 * ("failed to read id table block"). Every block that does not get
 * smaller is stored uncompressed instead, as the squashfs format intends:
 * do_block() returning 0 means exactly that to every libsquashfs caller. */
struct shrink_cmp {
	sqfs_compressor_t base;
	sqfs_compressor_t *inner;
	bool uncompress;
};

static sqfs_compressor_t *shrink_wrap(sqfs_compressor_t *inner, bool uncompress);

static void shrink_destroy(sqfs_object_t *obj)
{
	struct shrink_cmp *c = (struct shrink_cmp *)obj;

	sqfs_destroy(c->inner);
	free(c);
}

static sqfs_object_t *shrink_copy(const sqfs_object_t *obj)
{
	const struct shrink_cmp *c = (const struct shrink_cmp *)obj;
	sqfs_compressor_t *inner = sqfs_copy(c->inner), *out;

	if (!inner)
		return NULL;
	out = shrink_wrap(inner, c->uncompress);
	if (!out)
		sqfs_destroy(inner);
	return (sqfs_object_t *)out;
}

static void shrink_get_configuration(const sqfs_compressor_t *cmp, sqfs_compressor_config_t *cfg)
{
	const struct shrink_cmp *c = (const struct shrink_cmp *)cmp;

	c->inner->get_configuration(c->inner, cfg);
}

static int shrink_write_options(sqfs_compressor_t *cmp, sqfs_file_t *file)
{
	struct shrink_cmp *c = (struct shrink_cmp *)cmp;

	return c->inner->write_options(c->inner, file);
}

static int shrink_read_options(sqfs_compressor_t *cmp, sqfs_file_t *file)
{
	struct shrink_cmp *c = (struct shrink_cmp *)cmp;

	return c->inner->read_options(c->inner, file);
}

static sqfs_s32 shrink_do_block(sqfs_compressor_t *cmp, const sqfs_u8 *in, sqfs_u32 size,
				sqfs_u8 *out, sqfs_u32 outsize)
{
	struct shrink_cmp *c = (struct shrink_cmp *)cmp;
	sqfs_s32 ret;

	ret = c->inner->do_block(c->inner, in, size, out, outsize);
	if (!c->uncompress && ret >= (sqfs_s32)size)
		return 0;
	return ret;
}

static sqfs_compressor_t *shrink_wrap(sqfs_compressor_t *inner, bool uncompress)
{
	struct shrink_cmp *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->base.base.destroy = shrink_destroy;
	c->base.base.copy = shrink_copy;
	c->base.get_configuration = shrink_get_configuration;
	c->base.write_options = shrink_write_options;
	c->base.read_options = shrink_read_options;
	c->base.do_block = shrink_do_block;
	c->inner = inner;
	c->uncompress = uncompress;
	return &c->base;
}

/* ---- xz: liblzma called directly --------------------------------------- */

/* libsquashfs 1.2's xz backend sets up a new encoder for every block
 * (lzma_stream_buffer_encode: its match finder's ~1.3 MB allocated and
 * the hash cleared each time) and can run the BCJ filters only by
 * compressing every block once per filter and keeping the smallest (what
 * mksquashfs -Xbcj does: twice the work). Ours:
 *
 * - keeps one lzma_stream per worker, so liblzma reuses its memory;
 * - runs the x86 BCJ filter on blocks that look like linked x86 code:
 *   E8/E9 (call/jmp rel32) whose displacement's top byte is 00 or FF,
 *   which is what the filter rewrites, at least XZ_BCJ_MIN times per
 *   128 KiB, and not mostly E8 00 00 00 00: the unrelocated calls of a
 *   kernel module (.ko, 60 % of a Debian tree), which the filter would
 *   turn into distinct addresses and make larger. Sampled over the
 *   Debian tree's blocks this comes within 0.1 % of trying both ways;
 * - stores a block as it is, without running LZMA2, when its bytes'
 *   order-0 entropy is at least XZ_RAW_ENTROPY bits (already compressed
 *   data: LZMA2 would not get it 2 % smaller);
 * - by default (no --level) uses preset 6 with the match finder's nice
 *   length XZ_NICE_LEN instead of 64.
 *
 * Figures (bench/RESULTS.md): together 0.77 times the CPU and wall time
 * of mksquashfs -comp xz, at 0.9988 of its image size. Each squashfs xz block is a
 * whole .xz stream (CRC32 check), so the filter chain is chosen per block;
 * the compressor options record the x86 flag (as mksquashfs -Xbcj x86
 * does) and Linux decodes BCJ x86 when CONFIG_XZ_DEC_X86 (Debian: y). */
#define XZ_BCJ_MIN 300		/* call/jmp patterns per 128 KiB for BCJ */
#define XZ_RAW_ENTROPY 7.9	/* bits per byte: store without compressing */
#define XZ_NICE_LEN 24

struct xz_cmp {
	sqfs_compressor_t base;
	sqfs_compressor_t *inner;	/* libsquashfs's: options, configuration */
	lzma_stream strm;
	uint32_t dict_size;
	int preset, nice_len;
};

static bool looks_like_x86(const sqfs_u8 *p, sqfs_u32 size)
{
	uint64_t need = (uint64_t)XZ_BCJ_MIN * size / 131072u, linked = 0, unlinked = 0;

	for (sqfs_u32 i = 0; i + 4 < size; i++) {
		if ((p[i] & 0xfe) == 0xe8 && (p[i + 4] == 0 || p[i + 4] == 0xff)) {
			if (p[i + 1] | p[i + 2] | p[i + 3] | p[i + 4])
				linked++;
			else
				unlinked++;
			i += 4;
		}
	}
	return linked >= (need ? need : 1) && unlinked * 4 < linked;
}

/* Order-0 entropy of the block in bits per byte. */
static double entropy(const sqfs_u8 *p, sqfs_u32 size)
{
	uint32_t count[256] = { 0 };
	double e = 0;

	for (sqfs_u32 i = 0; i < size; i++)
		count[p[i]]++;
	for (int i = 0; i < 256; i++) {
		if (count[i]) {
			double q = (double)count[i] / size;

			e -= q * log2(q);
		}
	}
	return e;
}

static sqfs_s32 xz_do_block(sqfs_compressor_t *cmp, const sqfs_u8 *in, sqfs_u32 size,
			    sqfs_u8 *out, sqfs_u32 outsize)
{
	struct xz_cmp *c = (struct xz_cmp *)cmp;
	lzma_options_lzma opt;
	lzma_filter filters[3];
	lzma_ret ret;
	int n = 0;

	if (entropy(in, size) >= XZ_RAW_ENTROPY)
		return 0;
	if (lzma_lzma_preset(&opt, (uint32_t)c->preset))
		return SQFS_ERROR_COMPRESSOR;
	opt.dict_size = c->dict_size;
	if (c->nice_len)
		opt.nice_len = (uint32_t)c->nice_len;
	if (looks_like_x86(in, size))
		filters[n++] = (lzma_filter){ .id = LZMA_FILTER_X86 };
	filters[n++] = (lzma_filter){ .id = LZMA_FILTER_LZMA2, .options = &opt };
	filters[n] = (lzma_filter){ .id = LZMA_VLI_UNKNOWN };
	if (lzma_stream_encoder(&c->strm, filters, LZMA_CHECK_CRC32) != LZMA_OK)
		return SQFS_ERROR_COMPRESSOR;
	c->strm.next_in = in;
	c->strm.avail_in = size;
	c->strm.next_out = out;
	c->strm.avail_out = outsize;
	ret = lzma_code(&c->strm, LZMA_FINISH);
	if (ret == LZMA_OK || ret == LZMA_BUF_ERROR)
		return 0;	/* did not fit in outsize: stored as it is */
	if (ret != LZMA_STREAM_END)
		return SQFS_ERROR_COMPRESSOR;
	return c->strm.total_out >= size ? 0 : (sqfs_s32)c->strm.total_out;
}

static sqfs_compressor_t *xz_wrap(sqfs_compressor_t *inner, int preset, int nice_len);

static void xz_destroy(sqfs_object_t *obj)
{
	struct xz_cmp *c = (struct xz_cmp *)obj;

	lzma_end(&c->strm);
	sqfs_destroy(c->inner);
	free(c);
}

static sqfs_object_t *xz_copy(const sqfs_object_t *obj)
{
	const struct xz_cmp *c = (const struct xz_cmp *)obj;
	sqfs_compressor_t *inner = sqfs_copy(c->inner), *out;

	if (!inner)
		return NULL;
	out = xz_wrap(inner, c->preset, c->nice_len);
	if (!out)
		sqfs_destroy(inner);
	return (sqfs_object_t *)out;
}

static void xz_get_configuration(const sqfs_compressor_t *cmp, sqfs_compressor_config_t *cfg)
{
	const struct xz_cmp *c = (const struct xz_cmp *)cmp;

	c->inner->get_configuration(c->inner, cfg);
}

static int xz_write_options(sqfs_compressor_t *cmp, sqfs_file_t *file)
{
	struct xz_cmp *c = (struct xz_cmp *)cmp;

	return c->inner->write_options(c->inner, file);
}

static int xz_read_options(sqfs_compressor_t *cmp, sqfs_file_t *file)
{
	struct xz_cmp *c = (struct xz_cmp *)cmp;

	return c->inner->read_options(c->inner, file);
}

static sqfs_compressor_t *xz_wrap(sqfs_compressor_t *inner, int preset, int nice_len)
{
	struct xz_cmp *c = calloc(1, sizeof(*c));
	sqfs_compressor_config_t cfg;

	if (!c)
		return NULL;
	inner->get_configuration(inner, &cfg);
	c->base.base.destroy = xz_destroy;
	c->base.base.copy = xz_copy;
	c->base.get_configuration = xz_get_configuration;
	c->base.write_options = xz_write_options;
	c->base.read_options = xz_read_options;
	c->base.do_block = xz_do_block;
	c->inner = inner;
	c->strm = (lzma_stream)LZMA_STREAM_INIT;
	c->dict_size = cfg.opt.xz.dict_size;
	c->preset = preset;
	c->nice_len = nice_len;
	return &c->base;
}

/* level: what the user asked for, 0 for the default. */
int mkl_sq_compressor(const sqfs_compressor_config_t *cfg, bool uncompress, int level,
			   sqfs_compressor_t **out)
{
	sqfs_compressor_t *inner;
	int ret;

	*out = NULL;
	ret = sqfs_compressor_create(cfg, &inner);
	if (ret)
		return ret;
	if (cfg->id == SQFS_COMP_XZ && !uncompress) {
		*out = xz_wrap(inner, level ? level : SQFS_XZ_DEFAULT_LEVEL, level ? 0 : XZ_NICE_LEN);
		if (!*out) {
			sqfs_destroy(inner);
			return SQFS_ERROR_ALLOC;
		}
		return 0;
	}
	*out = shrink_wrap(inner, uncompress);
	if (!*out) {
		sqfs_destroy(inner);
		return SQFS_ERROR_ALLOC;
	}
	return 0;
}
