/* squashfs writer over libsquashfs 1.2, and read-back of file contents:
 * create, data and read-back here; libsquashfs objects of our own in
 * squashfs_lib.c, the metadata (finish) in squashfs_meta.c.
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
#include "fmt/squashfs_int.h"

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
int sq_fail(struct mkl_sqfs *sq, struct mkl_err *err, int code, const char *fmt, ...)
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
int node_fail(struct mkl_sqfs *sq, struct mkl_err *err, int code, const char *what,
		     const struct mkl_node *node)
{
	char *path = mkl_node_path(node);
	int ret = sq_fail(sq, err, code, "%s '/%s'", what, path ? path : "?");

	free(path);
	return ret;
}

int node_error(struct mkl_err *err, int errnum, const char *what,
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

/* Long (about 135 lines): libsquashfs's objects are made in the order
 * they depend on one another (file, compressors, super block, block
 * writer, fragment table, block processor, id table, xattr writer, meta
 * and directory writers), each with its own message, and one destroy
 * undoes whatever was made. */
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

	sq->file = mkl_sq_file_create(fd, at);
	sq->buf = malloc(sq->block_size);
	if (!sq->file || !sq->buf) {
		mkl_error(err, ENOMEM, "out of memory");
		goto fail;
	}
	if (opts->verity_salt) {
		sq->file->verity = mkl_verity_new(opts->verity_salt, err);
		if (!sq->file->verity)
			goto fail;
		sq->has_verity = true;
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
	ret = mkl_sq_compressor(&sq->cfg, false, opts->level, &sq->cmp);
	if (!ret)
		ret = mkl_sq_memo_wrap(&sq->cmp, &sq->memo);
	if (ret) {
		sq_fail(sq, err, ret, "cannot create %s compressor", c->name);
		goto fail;
	}
	{
		sqfs_compressor_config_t ucfg = sq->cfg;

		ucfg.flags |= SQFS_COMP_FLAG_UNCOMPRESS;
		ret = mkl_sq_compressor(&ucfg, true, opts->level, &sq->uncmp);
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
	if (!sq->memo.added) {	/* the tree is done: what was made ahead is final */
		mkl_sqfs_ahead_stop(sq);
		sq->memo.added = true;
	}

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

const struct mkl_verity_result *mkl_sqfs_verity(const struct mkl_sqfs *sq)
{
	return sq && sq->has_verity && sq->state == SQ_FINISHED ? &sq->vres : NULL;
}

void mkl_sqfs_destroy(struct mkl_sqfs *sq)
{
	struct file_rec *rec, *next;

	if (!sq)
		return;
	mkl_sqfs_ahead_stop(sq);
	/* the processor first: it joins its workers and stops touching
	 * the inodes in our records */
	sqfs_destroy(sq->proc);
	mkl_sq_ahead_destroy(sq);
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
