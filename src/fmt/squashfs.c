/* squashfs writer over libsquashfs 1.2, and read-back of file contents.
 *
 * Layout of the image, in the order it is written:
 *
 *   super block (96 bytes, rewritten last) | compressor options (if any)
 *   | data and fragment blocks (block processor, during add_data)
 *   | inode table | directory table | fragment table | export table
 *   | id table | xattr tables | zero padding to 4 KiB
 *
 * Data: every regular file that owns its inode is streamed through the
 * block processor when the source yields it. The processor compresses on
 * worker threads but hands finished blocks to the block writer in
 * submission order, so the image does not depend on the thread count. It
 * also deduplicates whole files and tail-end fragments. Per file it
 * builds a regular file inode (block sizes, fragment location) that it
 * keeps growing until the processor is finished; we keep that inode in a
 * record of our own (struct file_rec, owned by struct mkl_sqfs and freed
 * only by mkl_sqfs_destroy) and point node->data at it. A node that the
 * tree later replaces is freed by the tree; its record stays ours and its
 * blocks are simply unreferenced in the image.
 *
 * Metadata (mkl_sqfs_finish): directory listings refer to their entries'
 * inodes by table position, so inodes are written children first
 * (post-order), as gensquashfs does. Inode numbers are assigned in a first
 * pass in exactly the order the second pass writes inodes: numbers then
 * ascend through the inode table, which keeps the directory headers'
 * delta encoding compact, and each directory knows its parent's number.
 * The root comes last, so it has the highest number (as with mksquashfs).
 * Hard links share the leader's inode: it is written at the first of its
 * names that the walk meets and every other name refers to it.
 *
 * The image lives on a caller's fd, wrapped in a small sqfs_file_t of our
 * own (pread/pwrite), so that write errors keep their errno (ENOSPC) for
 * the message, and the caller keeps ownership of the fd.
 */
#include "fmt/squashfs.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <lzma.h>

#include <sqfs/block.h>
#include <sqfs/block_processor.h>
#include <sqfs/block_writer.h>
#include <sqfs/compressor.h>
#include <sqfs/data_reader.h>
#include <sqfs/dir_writer.h>
#include <sqfs/error.h>
#include <sqfs/frag_table.h>
#include <sqfs/id_table.h>
#include <sqfs/inode.h>
#include <sqfs/io.h>
#include <sqfs/meta_writer.h>
#include <sqfs/super.h>
#include <sqfs/xattr.h>
#include <sqfs/xattr_writer.h>

#define NO_XATTR 0xFFFFFFFFu
#define PAD_SIZE 4096u
#define DEFAULT_BLOCK_SIZE 131072u
/* Upper bound for the memory the block processor may hold in flight. */
#define MAX_BACKLOG_BYTES (256u << 20)

/* ---- a sqfs_file_t over a caller's fd ---------------------------------- */

struct fd_file {
	sqfs_file_t base;
	int fd;
	uint64_t at;		/* where the image starts in fd */
	uint64_t size;
	int error;		/* errno of the last failed system call */
};

static void fd_file_destroy(sqfs_object_t *obj)
{
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
	uint64_t end = offset + size;
	ssize_t n;

	if (offset > (uint64_t)INT64_MAX - f->at - size)
		return SQFS_ERROR_OUT_OF_BOUNDS;
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
	return 0;
}

static struct fd_file *fd_file_create(int fd, uint64_t at)
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
static int make_compressor(const sqfs_compressor_config_t *cfg, bool uncompress, int level,
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

/* ---- the writer -------------------------------------------------------- */

/* Where one regular file's data went. The block processor keeps a pointer
 * to `inode` and may reallocate it until it is finished, so a record never
 * moves; records are owned by struct mkl_sqfs. */
struct file_rec {
	struct file_rec *next;
	sqfs_inode_generic_t *inode;
};

enum sq_state { SQ_OPEN, SQ_FINISHED, SQ_FAILED };

struct mkl_sqfs {
	struct fd_file *file;
	sqfs_compressor_config_t cfg;
	sqfs_compressor_t *cmp;
	sqfs_compressor_t *uncmp;
	sqfs_block_writer_t *bw;
	sqfs_frag_table_t *frags;
	sqfs_block_processor_t *proc;
	sqfs_id_table_t *ids;
	sqfs_xattr_writer_t *xwr;
	sqfs_meta_writer_t *im, *dm;
	sqfs_dir_writer_t *dirw;
	sqfs_data_reader_t *reader;
	sqfs_super_t super;
	const char *comp_name;
	uint32_t block_size;
	unsigned char *buf;	/* block_size bytes */
	struct file_rec *recs;
	enum sq_state state;

	/* finish: inode numbers 1..ninodes, their references and whether
	 * they have been written yet */
	uint32_t ninodes;
	uint64_t *refs;
	bool *written;
};

static const char *sqfs_strerr(int code)
{
	switch (code) {
	case SQFS_ERROR_ALLOC: return "out of memory";
	case SQFS_ERROR_IO: return "input/output error";
	case SQFS_ERROR_COMPRESSOR: return "compressor error";
	case SQFS_ERROR_INTERNAL: return "internal error in libsquashfs";
	case SQFS_ERROR_CORRUPTED: return "data structure is corrupted";
	case SQFS_ERROR_UNSUPPORTED: return "unsupported by libsquashfs";
	case SQFS_ERROR_OVERFLOW: return "numeric overflow";
	case SQFS_ERROR_OUT_OF_BOUNDS: return "location out of bounds";
	case SFQS_ERROR_SUPER_MAGIC: return "wrong super block magic";
	case SFQS_ERROR_SUPER_VERSION: return "unsupported squashfs version";
	case SQFS_ERROR_SUPER_BLOCK_SIZE: return "invalid block size";
	case SQFS_ERROR_NOT_DIR: return "not a directory";
	case SQFS_ERROR_NO_ENTRY: return "no such entry";
	case SQFS_ERROR_LINK_LOOP: return "hard link loop";
	case SQFS_ERROR_NOT_FILE: return "not a regular file";
	case SQFS_ERROR_ARG_INVALID: return "invalid argument";
	case SQFS_ERROR_SEQUENCE: return "calls out of sequence";
	}
	return "unknown libsquashfs error";
}

/* Turn a negative SQFS_ERROR code into a message "<what>: <reason>". An
 * I/O error takes its reason from the errno our file saw (ENOSPC...). */
__attribute__((format(printf, 4, 5)))
static int sq_fail(struct mkl_sqfs *sq, struct mkl_err *err, int code, const char *fmt, ...)
{
	char what[MKL_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (code == SQFS_ERROR_IO && sq && sq->file && sq->file->error)
		return mkl_error(err, sq->file->error, "%s", what);
	if (code == SQFS_ERROR_ALLOC)
		return mkl_error(err, ENOMEM, "%s", what);
	return mkl_error(err, 0, "%s: %s", what, sqfs_strerr(code));
}

/* Same, naming the node by its path. */
static int node_fail(struct mkl_sqfs *sq, struct mkl_err *err, int code, const char *what,
		     const struct mkl_node *node)
{
	char *path = mkl_node_path(node);
	int ret = sq_fail(sq, err, code, "%s '/%s'", what, path ? path : "?");

	free(path);
	return ret;
}

static int node_error(struct mkl_err *err, int errnum, const char *what,
		      const struct mkl_node *node)
{
	char *path = mkl_node_path(node);
	int ret = mkl_error(err, errnum, "%s '/%s'", what, path ? path : "?");

	free(path);
	return ret;
}

/* ---- options ----------------------------------------------------------- */

struct comp_desc {
	const char *name;
	SQFS_COMPRESSOR id;
	int min, max;
};

/* lz4 in squashfs has no levels, only "high compression" on or off; we
 * take lz4's own command line convention: 1..2 fast, 3..12 LZ4 HC. */
static const struct comp_desc compressors[] = {
	{ "zstd", SQFS_COMP_ZSTD, SQFS_ZSTD_MIN_LEVEL, SQFS_ZSTD_MAX_LEVEL },
	{ "xz", SQFS_COMP_XZ, 1, SQFS_XZ_MAX_LEVEL },
	{ "gzip", SQFS_COMP_GZIP, SQFS_GZIP_MIN_LEVEL, SQFS_GZIP_MAX_LEVEL },
	{ "lz4", SQFS_COMP_LZ4, 1, 12 },
};

#define LZ4_HC_MIN_LEVEL 3

static const struct comp_desc *find_compressor(const char *name)
{
	size_t i;

	if (!name)
		name = "zstd";
	for (i = 0; i < sizeof(compressors) / sizeof(compressors[0]); i++)
		if (strcmp(compressors[i].name, name) == 0)
			return &compressors[i];
	return NULL;
}

int mkl_sqfs_check_opts(const struct mkl_sqfs_opts *opts, struct mkl_err *err)
{
	const struct comp_desc *c = find_compressor(opts->compressor);
	uint32_t bs = opts->block_size;

	if (!c)
		return mkl_error(err, 0, "unknown compressor '%s' (expected zstd, xz, gzip or lz4)",
				 opts->compressor);
	if (opts->level != 0 && (opts->level < c->min || opts->level > c->max))
		return mkl_error(err, 0, "compression level %d out of range for %s (%d..%d)",
				 opts->level, c->name, c->min, c->max);
	if (bs != 0 && (bs < SQFS_MIN_BLOCK_SIZE || bs > SQFS_MAX_BLOCK_SIZE || (bs & (bs - 1))))
		return mkl_error(err, 0,
				 "block size %" PRIu32 " is not a power of two between 4 KiB and 1 MiB",
				 bs);
	if (opts->threads > 1024)
		return mkl_error(err, 0, "thread count %u out of range (0..1024)",
				 opts->threads);
	return 0;
}

/* ---- create ------------------------------------------------------------ */

static unsigned online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (unsigned)n : 1;
}

int mkl_sqfs_create(int fd, const struct mkl_sqfs_opts *opts, struct mkl_sqfs **out,
		    struct mkl_err *err)
{
	return mkl_sqfs_create_at(fd, 0, opts, out, err);
}

int mkl_sqfs_create_at(int fd, uint64_t at, const struct mkl_sqfs_opts *opts,
		       struct mkl_sqfs **out, struct mkl_err *err)
{
	sqfs_block_processor_desc_t desc;
	const struct comp_desc *c;
	struct mkl_sqfs *sq;
	unsigned threads;
	uint32_t mtime;
	size_t backlog;
	struct stat st;
	int flags, ret;

	*out = NULL;
	if (mkl_sqfs_check_opts(opts, err))
		return -1;
	c = find_compressor(opts->compressor);

	flags = fcntl(fd, F_GETFL);
	if (flags < 0)
		return mkl_error(err, errno, "cannot use squashfs image fd %d", fd);
	if ((flags & O_ACCMODE) != O_RDWR)
		return mkl_error(err, EBADF,
				 "squashfs image fd %d must be open for reading and writing", fd);
	if (fstat(fd, &st) != 0)
		return mkl_error(err, errno, "cannot stat squashfs image fd %d", fd);
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > at)
		return mkl_error(err, EEXIST, "squashfs image file is not empty (%lld bytes)",
				 (long long)st.st_size);
	if (at > (uint64_t)INT64_MAX / 2)
		return mkl_error(err, EINVAL, "squashfs image offset %" PRIu64 " out of range", at);

	sq = mkl_calloc(1, sizeof(*sq), err);
	if (!sq)
		return -1;
	sq->comp_name = c->name;
	sq->block_size = opts->block_size ? opts->block_size : DEFAULT_BLOCK_SIZE;
	sq->state = SQ_OPEN;

	sq->file = fd_file_create(fd, at);
	sq->buf = malloc(sq->block_size);
	if (!sq->file || !sq->buf) {
		mkl_error(err, ENOMEM, "out of memory");
		goto fail;
	}

	ret = sqfs_compressor_config_init(&sq->cfg, c->id, sq->block_size, 0);
	if (ret) {
		sq_fail(sq, err, ret, "cannot configure %s compressor", c->name);
		goto fail;
	}
	if (opts->level != 0) {
		if (c->id == SQFS_COMP_LZ4) {
			if (opts->level >= LZ4_HC_MIN_LEVEL)
				sq->cfg.flags |= SQFS_COMP_FLAG_LZ4_HC;
		} else {
			sq->cfg.level = (sqfs_u32)opts->level;
		}
	}
	if (c->id == SQFS_COMP_XZ)	/* some blocks go through BCJ x86: see xz_do_block */
		sq->cfg.flags |= SQFS_COMP_FLAG_XZ_X86;
	ret = make_compressor(&sq->cfg, false, opts->level, &sq->cmp);
	if (ret) {
		sq_fail(sq, err, ret, "cannot create %s compressor", c->name);
		goto fail;
	}
	{
		sqfs_compressor_config_t ucfg = sq->cfg;

		ucfg.flags |= SQFS_COMP_FLAG_UNCOMPRESS;
		ret = make_compressor(&ucfg, true, opts->level, &sq->uncmp);
		if (ret) {
			sq_fail(sq, err, ret, "cannot create %s decompressor", c->name);
			goto fail;
		}
	}

	/* super block placeholder, then compressor options if not default */
	mtime = opts->mkfs_time < 0 ? 0
		: opts->mkfs_time > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)opts->mkfs_time;
	ret = sqfs_super_init(&sq->super, sq->block_size, mtime, c->id);
	if (ret) {
		sq_fail(sq, err, ret, "cannot initialise squashfs super block");
		goto fail;
	}
	ret = sqfs_super_write(&sq->super, &sq->file->base);
	if (ret) {
		sq_fail(sq, err, ret, "cannot write squashfs super block");
		goto fail;
	}
	ret = sq->cmp->write_options(sq->cmp, &sq->file->base);
	if (ret < 0) {
		sq_fail(sq, err, ret, "cannot write %s compressor options", c->name);
		goto fail;
	}
	if (ret > 0)
		sq->super.flags |= SQFS_FLAG_COMPRESSOR_OPTIONS;

	sq->bw = sqfs_block_writer_create(&sq->file->base, SQFS_DEVBLK_SIZE, 0);
	sq->frags = sqfs_frag_table_create(0);
	sq->ids = sqfs_id_table_create(0);
	sq->xwr = sqfs_xattr_writer_create(0);
	if (!sq->bw || !sq->frags || !sq->ids || !sq->xwr) {
		mkl_error(err, ENOMEM, "out of memory creating squashfs writer");
		goto fail;
	}

	threads = opts->threads ? opts->threads : online_cpus();
	backlog = (size_t)threads * 10;
	if (backlog > MAX_BACKLOG_BYTES / sq->block_size)
		backlog = MAX_BACKLOG_BYTES / sq->block_size;
	if (backlog < (size_t)threads * 2)
		backlog = (size_t)threads * 2;
	memset(&desc, 0, sizeof(desc));
	desc.size = sizeof(desc);
	desc.max_block_size = sq->block_size;
	desc.num_workers = threads;
	desc.max_backlog = (sqfs_u32)backlog;
	desc.cmp = sq->cmp;
	desc.wr = sq->bw;
	desc.tbl = sq->frags;
	desc.file = &sq->file->base;	/* fragment dedup compares bytes */
	desc.uncmp = sq->uncmp;
	ret = sqfs_block_processor_create_ex(&desc, &sq->proc);
	if (ret) {
		sq_fail(sq, err, ret, "cannot start squashfs block processor (%u threads)",
			threads);
		goto fail;
	}

	*out = sq;
	return 0;
fail:
	mkl_sqfs_destroy(sq);
	return -1;
}

/* ---- data -------------------------------------------------------------- */

int mkl_sqfs_add_data(struct mkl_sqfs *sq, struct mkl_node *node, mkl_read_fn read,
		      void *ctx, struct mkl_err *err)
{
	struct file_rec *rec;
	uint64_t left = node->size;
	size_t want;
	long n;
	int ret;

	if (sq->state != SQ_OPEN)
		return node_error(err, EINVAL, sq->state == SQ_FINISHED
				  ? "squashfs image already finished, cannot add"
				  : "squashfs image failed earlier, cannot add", node);
	if (!mkl_is_reg(node) || node->link)
		return node_error(err, EINVAL, "squashfs: no data to add for non-file or hard link",
				  node);
	if (node->data)
		return node_error(err, EINVAL, "squashfs: data already added for", node);

	rec = mkl_calloc(1, sizeof(*rec), err);
	if (!rec)
		return -1;
	rec->next = sq->recs;
	sq->recs = rec;

	ret = sqfs_block_processor_begin_file(sq->proc, &rec->inode, NULL, 0);
	if (ret) {
		sq->state = SQ_FAILED;
		return node_fail(sq, err, ret, "squashfs: cannot start file", node);
	}
	while (left > 0) {
		if (mkl_cancelled()) {
			mkl_error(err, 0, "cancelled");
			err->code = ECANCELED;
			goto end_bad;
		}
		want = left < sq->block_size ? (size_t)left : sq->block_size;
		n = read(ctx, sq->buf, want, err);
		if (n < 0)
			goto end_bad;
		if (n == 0) {
			char *path = mkl_node_path(node);

			mkl_error(err, EIO, "'/%s' ended after %llu of %llu bytes",
				  path ? path : "?",
				  (unsigned long long)(node->size - left),
				  (unsigned long long)node->size);
			free(path);
			goto end_bad;
		}
		if ((size_t)n > want) {
			node_error(err, EIO, "reader returned more than asked for", node);
			goto end_bad;
		}
		ret = sqfs_block_processor_append(sq->proc, sq->buf, (size_t)n);
		if (ret) {
			sq->state = SQ_FAILED;
			return node_fail(sq, err, ret, "cannot write squashfs data of", node);
		}
		left -= (uint64_t)n;
	}
	/* the source must be at the end now */
	n = read(ctx, sq->buf, 1, err);
	if (n < 0)
		goto end_bad;
	if (n > 0) {
		char *path = mkl_node_path(node);

		mkl_error(err, EIO, "'/%s' has more than its %llu bytes", path ? path : "?",
			  (unsigned long long)node->size);
		free(path);
		goto end_bad;
	}
	ret = sqfs_block_processor_end_file(sq->proc);
	if (ret) {
		sq->state = SQ_FAILED;
		return node_fail(sq, err, ret, "cannot write squashfs data of", node);
	}
	node->data = rec;
	return 0;

end_bad:
	/* Close the file in the processor so the writer stays usable; the
	 * partial data is never referenced (node->data stays NULL). */
	if (sqfs_block_processor_end_file(sq->proc))
		sq->state = SQ_FAILED;
	return -1;
}

/* ---- metadata ---------------------------------------------------------- */

static uint32_t clamp_time(int64_t t)
{
	if (t < 0)
		return 0;
	if (t > (int64_t)UINT32_MAX)
		return UINT32_MAX;
	return (uint32_t)t;
}

/* Linux's new_encode_dev(), which the squashfs kernel driver decodes. */
static uint32_t encode_dev(uint64_t rdev)
{
	uint32_t maj = major(rdev), min = minor(rdev);

	return (min & 0xff) | ((maj & 0xfff) << 8) | ((min & ~0xffu) << 12);
}

/* Clear inode numbers left by anyone before us. */
static void clear_numbers(struct mkl_node *dir)
{
	struct mkl_node *c;

	dir->inode = 0;
	for (c = dir->children; c; c = c->next) {
		c->inode = 0;
		if (c->link)
			c->link->inode = 0;
		if (mkl_is_dir(c))
			clear_numbers(c);
	}
}

/* Pass 1: number inodes in the order pass 2 writes them. */
static int number_inodes(struct mkl_sqfs *sq, struct mkl_node *dir, struct mkl_err *err)
{
	struct mkl_node *c, *ino;

	for (c = dir->children; c; c = c->next) {
		if (mkl_is_dir(c)) {
			if (c->link)
				return node_error(err, EINVAL, "squashfs: hard-linked directory",
						  c);
			if (number_inodes(sq, c, err))
				return -1;
			continue;
		}
		ino = mkl_node_inode(c);
		if (ino->inode == 0) {
			if (sq->ninodes == UINT32_MAX - 1)
				return mkl_error(err, EOVERFLOW, "squashfs: too many inodes");
			ino->inode = ++sq->ninodes;
		}
		c->inode = ino->inode;
	}
	if (sq->ninodes == UINT32_MAX - 1)
		return mkl_error(err, EOVERFLOW, "squashfs: too many inodes");
	dir->inode = ++sq->ninodes;
	return 0;
}

static int xattr_block(struct mkl_sqfs *sq, const struct mkl_node *node, uint32_t *idx,
		       struct mkl_err *err)
{
	const struct mkl_xattr *x;
	int ret;

	*idx = NO_XATTR;
	if (!node->xattrs)
		return 0;
	ret = sqfs_xattr_writer_begin(sq->xwr, 0);
	if (ret)
		return node_fail(sq, err, ret, "squashfs: cannot record xattrs of", node);
	for (x = node->xattrs; x; x = x->next) {
		/* squashfs stores only the user., trusted. and security.
		 * namespaces; others (system.posix_acl_*) cannot be
		 * represented and are left out, as mksquashfs does. */
		if (sqfs_get_xattr_prefix_id(x->name) < 0)
			continue;
		ret = sqfs_xattr_writer_add(sq->xwr, x->name, x->value, x->size);
		if (ret) {
			char *path = mkl_node_path(node);

			sq_fail(sq, err, ret, "squashfs: cannot record xattr '%s' of '/%s'",
				x->name, path ? path : "?");
			free(path);
			return -1;
		}
	}
	ret = sqfs_xattr_writer_end(sq->xwr, idx);
	if (ret)
		return node_fail(sq, err, ret, "squashfs: cannot record xattrs of", node);
	return 0;
}

/* Fill the fields every inode has, promote to an extended inode when
 * needed and set the link count. */
static int set_common(struct mkl_sqfs *sq, const struct mkl_node *node,
		      sqfs_inode_generic_t *inode, uint32_t nlink, uint32_t xattr,
		      struct mkl_err *err)
{
	int ret;

	ret = sqfs_id_table_id_to_index(sq->ids, node->uid, &inode->base.uid_idx);
	if (!ret)
		ret = sqfs_id_table_id_to_index(sq->ids, node->gid, &inode->base.gid_idx);
	if (ret) {
		if (ret == SQFS_ERROR_OVERFLOW)
			return node_error(err, EOVERFLOW,
					  "squashfs: more than 65536 distinct uids and gids at",
					  node);
		return node_fail(sq, err, ret, "squashfs: cannot record owner of", node);
	}
	inode->base.mode = (sqfs_u16)(node->mode & 0177777);
	inode->base.mod_time = clamp_time(node->mtime);
	inode->base.inode_number = node->inode;

	if (nlink > 1 || xattr != NO_XATTR) {
		ret = sqfs_inode_make_extended(inode);
		if (ret)
			return node_fail(sq, err, ret, "squashfs: cannot make inode of", node);
	}
	switch (inode->base.type) {
	case SQFS_INODE_DIR: inode->data.dir.nlink = nlink; break;
	case SQFS_INODE_EXT_DIR: inode->data.dir_ext.nlink = nlink; break;
	case SQFS_INODE_FILE: break;	/* basic file inodes have nlink 1 */
	case SQFS_INODE_EXT_FILE: inode->data.file_ext.nlink = nlink; break;
	case SQFS_INODE_SLINK: inode->data.slink.nlink = nlink; break;
	case SQFS_INODE_EXT_SLINK: inode->data.slink_ext.nlink = nlink; break;
	case SQFS_INODE_BDEV:
	case SQFS_INODE_CDEV: inode->data.dev.nlink = nlink; break;
	case SQFS_INODE_EXT_BDEV:
	case SQFS_INODE_EXT_CDEV: inode->data.dev_ext.nlink = nlink; break;
	case SQFS_INODE_FIFO:
	case SQFS_INODE_SOCKET: inode->data.ipc.nlink = nlink; break;
	case SQFS_INODE_EXT_FIFO:
	case SQFS_INODE_EXT_SOCKET: inode->data.ipc_ext.nlink = nlink; break;
	}
	if (xattr != NO_XATTR) {
		ret = sqfs_inode_set_xattr_index(inode, xattr);
		if (ret)
			return node_fail(sq, err, ret, "squashfs: cannot set xattrs of", node);
	}
	return 0;
}

static int put_inode(struct mkl_sqfs *sq, const struct mkl_node *node,
		     const sqfs_inode_generic_t *inode, struct mkl_err *err)
{
	sqfs_u64 block;
	sqfs_u32 offset;
	int ret;

	sqfs_meta_writer_get_position(sq->im, &block, &offset);
	ret = sqfs_meta_writer_write_inode(sq->im, inode);
	if (ret)
		return node_fail(sq, err, ret, "cannot write squashfs inode of", node);
	sq->refs[node->inode] = (block << 16) | offset;
	sq->written[node->inode] = true;
	return 0;
}

/* A non-directory inode (regular file, symlink, device, fifo, socket). */
static int write_leaf(struct mkl_sqfs *sq, struct mkl_node *node, struct mkl_err *err)
{
	sqfs_inode_generic_t *inode = NULL;
	struct file_rec *rec;
	uint32_t xattr, nlink = node->nlink ? node->nlink : 1;
	size_t len;
	bool own = true;	/* inode allocated here, free it after */
	int ret;

	if (xattr_block(sq, node, &xattr, err))
		return -1;

	switch (node->mode & S_IFMT) {
	case S_IFREG:
		rec = node->data;
		if (rec) {
			inode = rec->inode;
			own = false;
			if (!inode)
				return node_error(err, EINVAL, "squashfs: no inode for", node);
			break;
		}
		if (node->size != 0)
			return node_error(err, EINVAL, "squashfs: no data was added for", node);
		inode = calloc(1, sizeof(*inode));
		if (!inode)
			break;
		inode->base.type = SQFS_INODE_FILE;
		inode->data.file.fragment_index = 0xFFFFFFFF;
		inode->data.file.fragment_offset = 0xFFFFFFFF;
		break;
	case S_IFLNK:
		len = node->target ? strlen(node->target) : 0;
		if (len == 0)
			return node_error(err, EINVAL, "squashfs: empty symlink target at", node);
		inode = calloc(1, sizeof(*inode) + len + 1);
		if (!inode)
			break;
		inode->base.type = SQFS_INODE_SLINK;
		inode->data.slink.target_size = (sqfs_u32)len;
		inode->payload_bytes_available = (sqfs_u32)len;
		inode->payload_bytes_used = (sqfs_u32)len;
		memcpy(inode->extra, node->target, len);
		break;
	case S_IFBLK:
	case S_IFCHR:
		inode = calloc(1, sizeof(*inode));
		if (!inode)
			break;
		inode->base.type = S_ISBLK(node->mode) ? SQFS_INODE_BDEV : SQFS_INODE_CDEV;
		inode->data.dev.devno = encode_dev(node->rdev);
		break;
	case S_IFIFO:
	case S_IFSOCK:
		inode = calloc(1, sizeof(*inode));
		if (!inode)
			break;
		inode->base.type = S_ISFIFO(node->mode) ? SQFS_INODE_FIFO : SQFS_INODE_SOCKET;
		break;
	default: {
		char *path = mkl_node_path(node);

		mkl_error(err, EINVAL, "squashfs: unsupported file type 0%o at '/%s'",
			  (unsigned)(node->mode & S_IFMT), path ? path : "?");
		free(path);
		return -1;
	}
	}
	if (!inode)
		return mkl_error(err, ENOMEM, "out of memory");

	ret = set_common(sq, node, inode, nlink, xattr, err);
	if (!ret)
		ret = put_inode(sq, node, inode, err);
	if (own)
		free(inode);
	return ret;
}

/* Pass 2: children's inodes, then the listing, then the directory inode. */
static int write_dir(struct mkl_sqfs *sq, struct mkl_node *dir, uint32_t parent_ino,
		     struct mkl_err *err)
{
	sqfs_inode_generic_t *inode;
	struct mkl_node *c, *ino, *prev = NULL;
	uint32_t xattr, nlink = 2;
	int ret;

	for (c = dir->children; c; c = c->next) {
		if (prev && strcmp(prev->name, c->name) >= 0)
			return node_error(err, EINVAL,
					  "squashfs: entries not sorted (tree not finished?) in",
					  dir);
		prev = c;
		if (mkl_is_dir(c)) {
			nlink++;
			if (write_dir(sq, c, dir->inode, err))
				return -1;
			continue;
		}
		ino = mkl_node_inode(c);
		if (!sq->written[ino->inode] && write_leaf(sq, ino, err))
			return -1;
	}

	ret = sqfs_dir_writer_begin(sq->dirw, 0);
	if (ret)
		return node_fail(sq, err, ret, "cannot write squashfs directory", dir);
	for (c = dir->children; c; c = c->next) {
		ino = mkl_node_inode(c);
		ret = sqfs_dir_writer_add_entry(sq->dirw, c->name, ino->inode,
						sq->refs[ino->inode], (sqfs_u16)ino->mode);
		if (ret) {
			char *path = mkl_node_path(c);

			sq_fail(sq, err, ret, "cannot write squashfs directory entry '/%s'",
				path ? path : "?");
			free(path);
			return -1;
		}
	}
	ret = sqfs_dir_writer_end(sq->dirw);
	if (ret)
		return node_fail(sq, err, ret, "cannot write squashfs directory", dir);

	if (xattr_block(sq, dir, &xattr, err))
		return -1;
	inode = sqfs_dir_writer_create_inode(sq->dirw, 0, xattr, parent_ino);
	if (!inode)
		return mkl_error(err, ENOMEM, "out of memory");
	ret = set_common(sq, dir, inode, nlink, xattr, err);
	if (!ret)
		ret = put_inode(sq, dir, inode, err);
	sqfs_free(inode);
	return ret;
}

static int pad_image(struct mkl_sqfs *sq, struct mkl_err *err)
{
	uint64_t size = sq->file->size;
	size_t pad = (size_t)((PAD_SIZE - size % PAD_SIZE) % PAD_SIZE);
	int ret;

	if (pad == 0)
		return 0;
	memset(sq->buf, 0, pad);	/* block_size >= 4 KiB */
	ret = sq->file->base.write_at(&sq->file->base, size, sq->buf, pad);
	if (ret)
		return sq_fail(sq, err, ret, "cannot pad squashfs image");
	return 0;
}

int mkl_sqfs_finish(struct mkl_sqfs *sq, struct mkl_tree *tree, struct mkl_err *err)
{
	struct mkl_node *root = mkl_tree_root(tree);
	sqfs_file_t *file = &sq->file->base;
	int ret;

	if (sq->state != SQ_OPEN)
		return mkl_error(err, EINVAL, sq->state == SQ_FINISHED
				 ? "squashfs image already finished"
				 : "squashfs image failed earlier, cannot finish");
	sq->state = SQ_FAILED;	/* until we get to the end */

	ret = sqfs_block_processor_finish(sq->proc);
	if (ret)
		return sq_fail(sq, err, ret, "cannot write squashfs data");

	if (!root || !mkl_is_dir(root))
		return mkl_error(err, EINVAL, "squashfs: the tree root is not a directory");

	sq->ninodes = 0;
	clear_numbers(root);
	if (number_inodes(sq, root, err))
		return -1;
	sq->refs = mkl_calloc((size_t)sq->ninodes + 1, sizeof(*sq->refs), err);
	sq->written = mkl_calloc((size_t)sq->ninodes + 1, sizeof(*sq->written), err);
	if (!sq->refs || !sq->written)
		return -1;

	/* inodes go straight to the file; directories are kept in memory
	 * and follow the inode table */
	sq->im = sqfs_meta_writer_create(file, sq->cmp, 0);
	sq->dm = sqfs_meta_writer_create(file, sq->cmp, SQFS_META_WRITER_KEEP_IN_MEMORY);
	if (sq->dm)
		sq->dirw = sqfs_dir_writer_create(sq->dm, SQFS_DIR_WRITER_CREATE_EXPORT_TABLE);
	if (!sq->im || !sq->dm || !sq->dirw)
		return mkl_error(err, ENOMEM, "out of memory creating squashfs tables");

	sq->super.inode_table_start = file->get_size(file);
	if (write_dir(sq, root, sq->ninodes + 1, err))
		return -1;
	ret = sqfs_meta_writer_flush(sq->im);
	if (ret)
		return sq_fail(sq, err, ret, "cannot write squashfs inode table");
	ret = sqfs_meta_writer_flush(sq->dm);
	if (ret)
		return sq_fail(sq, err, ret, "cannot write squashfs directory table");
	sq->super.directory_table_start = file->get_size(file);
	ret = sqfs_meta_write_write_to_file(sq->dm);
	if (ret)
		return sq_fail(sq, err, ret, "cannot write squashfs directory table");
	sq->super.root_inode_ref = sq->refs[root->inode];
	sq->super.inode_count = sq->ninodes;

	ret = sqfs_frag_table_write(sq->frags, file, &sq->super, sq->cmp);
	if (ret)
		return sq_fail(sq, err, ret, "cannot write squashfs fragment table");
	ret = sqfs_dir_writer_write_export_table(sq->dirw, file, sq->cmp, root->inode,
						 sq->super.root_inode_ref, &sq->super);
	if (ret)
		return sq_fail(sq, err, ret, "cannot write squashfs export table");
	ret = sqfs_id_table_write(sq->ids, file, &sq->super, sq->cmp);
	if (ret)
		return sq_fail(sq, err, ret, "cannot write squashfs id table");
	ret = sqfs_xattr_writer_flush(sq->xwr, file, &sq->super, sq->cmp);
	if (ret)
		return sq_fail(sq, err, ret, "cannot write squashfs xattr table");

	sq->super.bytes_used = file->get_size(file);
	ret = sqfs_super_write(&sq->super, file);
	if (ret)
		return sq_fail(sq, err, ret, "cannot write squashfs super block");
	if (pad_image(sq, err))
		return -1;
	sq->state = SQ_FINISHED;
	return 0;
}

/* ---- read-back --------------------------------------------------------- */

int mkl_sqfs_read_file(struct mkl_sqfs *sq, const struct mkl_node *node, mkl_sink_fn sink,
		       void *ctx, struct mkl_err *err)
{
	const struct mkl_node *ino = node->link ? node->link : node;
	const struct file_rec *rec = ino->data;
	sqfs_u64 size, off = 0;
	sqfs_s32 n;
	sqfs_u32 want;
	int ret;

	if (sq->state != SQ_FINISHED)
		return node_error(err, EINVAL, "squashfs image not finished, cannot read", node);
	if (!mkl_is_reg(ino))
		return node_error(err, EINVAL, "squashfs: cannot read back non-file", node);
	if (!rec) {
		if (ino->size == 0)
			return 0;
		return node_error(err, EINVAL, "squashfs: no data was added for", node);
	}
	if (!sq->reader) {
		sq->reader = sqfs_data_reader_create(&sq->file->base, sq->block_size,
						     sq->uncmp, 0);
		if (!sq->reader)
			return mkl_error(err, ENOMEM, "out of memory creating squashfs reader");
		ret = sqfs_data_reader_load_fragment_table(sq->reader, &sq->super);
		if (ret) {
			sqfs_destroy(sq->reader);
			sq->reader = NULL;
			return sq_fail(sq, err, ret, "cannot load squashfs fragment table");
		}
	}
	ret = sqfs_inode_get_file_size(rec->inode, &size);
	if (ret)
		return node_fail(sq, err, ret, "squashfs: cannot read", node);
	while (off < size) {
		if (mkl_cancelled()) {
			mkl_error(err, 0, "cancelled");
			err->code = ECANCELED;
			return -1;
		}
		want = size - off < sq->block_size ? (sqfs_u32)(size - off) : sq->block_size;
		n = sqfs_data_reader_read(sq->reader, rec->inode, off, sq->buf, want);
		if (n < 0)
			return node_fail(sq, err, n, "cannot read back from squashfs image", node);
		if (n == 0)
			return node_error(err, EIO, "squashfs: unexpected end of data reading back",
					  node);
		if (sink(ctx, sq->buf, (size_t)n, err))
			return -1;
		off += (sqfs_u64)n;
	}
	return 0;
}

uint64_t mkl_sqfs_bytes(const struct mkl_sqfs *sq)
{
	return sq && sq->file ? sq->file->size : 0;
}

void mkl_sqfs_destroy(struct mkl_sqfs *sq)
{
	struct file_rec *rec, *next;

	if (!sq)
		return;
	/* the processor first: it joins its workers and stops touching
	 * the inodes in our records */
	sqfs_destroy(sq->proc);
	sqfs_destroy(sq->reader);
	sqfs_destroy(sq->dirw);
	sqfs_destroy(sq->dm);
	sqfs_destroy(sq->im);
	sqfs_destroy(sq->xwr);
	sqfs_destroy(sq->ids);
	sqfs_destroy(sq->frags);
	sqfs_destroy(sq->bw);
	sqfs_destroy(sq->uncmp);
	sqfs_destroy(sq->cmp);
	if (sq->file)
		sqfs_destroy(&sq->file->base);
	for (rec = sq->recs; rec; rec = next) {
		next = rec->next;
		sqfs_free(rec->inode);
		free(rec);
	}
	free(sq->refs);
	free(sq->written);
	free(sq->buf);
	free(sq);
}
