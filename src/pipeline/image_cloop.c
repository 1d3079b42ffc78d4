/* The cloop image formats (rows of image.c): the tree as a filesystem
 * image streamed into cloop blocks compressed on all cores
 * (src/fmt/cloop.c). The row's fstype picks the payload:
 *   iso9660  the article's: ISO 9660 + Rock Ridge (src/fmt/isotree.c,
 *            libisofs), written straight into the blocks; Linux's isofs
 *            gives every name its own inode, so hard links come apart;
 *   ext2     src/fmt/ext2.c, reading the tree back as a source
 *            (src/source/treesrc.c): hard links, xattrs and all; libext2fs
 *            needs a seekable file, so the image is made in a scratch file
 *            and then streamed into the blocks.
 * A payload can only be laid out once the tree is whole, so during the
 * pass file contents are kept raw in a scratch store; finish writes the
 * payload from it. The init serves the blocks through nbd and mounts the
 * device as the row's fstype. */
#include "pipeline/image.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec/codec.h"
#include "fmt/cloop.h"
#include "fmt/ext2.h"
#include "fmt/isotree.h"
#include "source/source.h"
#include "tree/io.h"
#include "tree/outfile.h"

struct cloop_image {
	struct mkl_image img;	/* first: the image interface */
	struct mkl_spool store;	/* raw contents, during the pass */
};

static struct mkl_cloop_opts cloop_opts(const struct mkl_image_format *fmt,
					const struct mkl_image_opts *o, struct mkl_err *err)
{
	struct mkl_cloop_opts co = { .level = o->level, .block_size = o->block_size,
				     .threads = o->threads };

	if (mkl_codec_parse(mkl_image_compressor(fmt, o), &co.codec, err))
		co.version = -1;
	else
		co.version = co.codec == MKL_CODEC_GZIP ? 2 : 4;
	return co;
}

static int cloop_check(const struct mkl_image_format *fmt, const struct mkl_image_opts *o,
		       struct mkl_err *err)
{
	struct mkl_cloop_opts co = cloop_opts(fmt, o, err);

	return co.version < 0 ? -1 : mkl_cloop_check_opts(&co, err);
}

static int cloop_open(const struct mkl_image_format *fmt, const struct mkl_image_opts *o,
		      struct mkl_image **out, struct mkl_err *err)
{
	struct cloop_image *c = mkl_calloc(1, sizeof(*c), err);

	if (!c)
		return -1;
	c->img.fd = -1;
	c->store = (struct mkl_spool)MKL_SPOOL_INIT;
	*out = &c->img;
	return mkl_spool_open(&c->store, o->output, err);
}

/* Append a file's content to the store. */
static int cloop_add(struct mkl_image *img, struct mkl_node *n, mkl_read_fn read, void *ctx,
		     struct mkl_err *err)
{
	return mkl_spool_add_node(&((struct cloop_image *)img)->store, n, read, ctx, err);
}

/* A stored file's bytes; an mkl_content_fn for the payload writers. */
static int store_read(void *ctx, const struct mkl_node *n, uint64_t off, void *buf, size_t len,
		      struct mkl_err *err)
{
	return mkl_spool_read_node(&((const struct cloop_image *)ctx)->store, n, off, buf, len, err);
}

/* The ext2 payload: the tree read back as a source (contents from the
 * store) into an ext2 image in a scratch file (libext2fs seeks), then
 * that file into the cloop writer. 4 KiB blocks, the page size; the
 * label cut to ext2's 16 bytes; the build's time for the filesystem's own
 * times and for directories a tar only implied. */
static int ext2_payload(struct cloop_image *c, struct mkl_tree *tree, struct mkl_cloop_writer *w,
			uint64_t *size, struct mkl_err *err)
{
	char label[MKL_EXT2_LABEL_MAX + 1];
	struct mkl_ext2_opts eo = { .block_size = 4096, .time = c->img.o.time,
				    .scratch_near = c->img.o.output };
	struct mkl_ext2_stats es;
	struct mkl_source *src = NULL;
	unsigned char *buf = NULL;
	int fd = -1, ret = -1;

	snprintf(label, sizeof(label), "%s", c->img.o.label ? c->img.o.label : "MKLIVE");
	eo.label = label;
	if (mkl_scratch_open(c->img.o.output, &fd, err) ||
	    mkl_source_tree_open(tree, store_read, c, c->img.o.time, &src, err))
		goto out;
	if (mkl_ext2_write(fd, &eo, src, &es, err))
		goto out;
	mkl_image_note(&c->img, "cloop: ext2 of %" PRIu64 " blocks of %u bytes, %" PRIu32
		       " inodes (%" PRIu32 " free)", es.blocks, es.block_size, es.inodes,
		       es.free_inodes);
	buf = mkl_malloc(1u << 20, err);
	if (!buf)
		goto out;
	for (uint64_t off = 0; off < es.bytes;) {
		size_t len = es.bytes - off < (1u << 20) ? (size_t)(es.bytes - off) : (1u << 20);
		ssize_t got = pread(fd, buf, len, (off_t)off);

		if (got <= 0) {
			mkl_error(err, got < 0 ? errno : EIO, "cannot read the ext2 scratch file");
			goto out;
		}
		if (mkl_cancelled()) {
			mkl_error(err, ECANCELED, "cancelled");
			goto out;
		}
		if (mkl_cloop_write(w, buf, (size_t)got, err))
			goto out;
		off += (uint64_t)got;
	}
	*size = es.bytes;
	ret = 0;
out:
	free(buf);
	mkl_source_close(src);
	if (fd >= 0)
		close(fd);
	return ret;
}

static int cloop_finish(struct mkl_image *img, struct mkl_tree *tree, struct mkl_err *err)
{
	struct cloop_image *c = (struct cloop_image *)img;
	struct mkl_cloop_opts co = cloop_opts(img->fmt, &img->o, err);
	struct mkl_isotree_opts io = { .volume_id = img->o.label ? img->o.label : "MKLIVE",
				       .time = img->o.time };
	struct mkl_cloop_writer *w = NULL;
	struct mkl_cloop_stats stats;
	char *dir = mkl_dir_of(img->o.output);
	bool ext2 = !strcmp(img->fmt->fstype, "ext2");
	uint64_t size;
	int ret = -1;

	if (!dir)
		return mkl_error(err, ENOMEM, "out of memory");
	co.spool_dir = dir;
	if (co.version < 0 || mkl_scratch_open(img->o.output, &img->fd, err) ||
	    mkl_cloop_create(img->fd, &co, &w, err))
		goto out;
	mkl_image_note(img, "cloop: %s payload in %s blocks (V%d.0)", ext2 ? "ext2" : "ISO 9660",
		       mkl_codec_name(co.codec), co.version);
	if (ext2 ? ext2_payload(c, tree, w, &size, err) :
	    mkl_isotree_write(tree, &io, store_read, c, mkl_cloop_write, w, &size, err)) {
		mkl_err_prefix(err, "writing the cloop payload");
		goto out;
	}
	if (mkl_cloop_finish(w, &stats, err))
		goto out;
	img->bytes = stats.file_bytes;
	mkl_image_note(img, "cloop: %" PRIu64 " bytes of %s in %u blocks -> %" PRIu64 " bytes",
		       size, ext2 ? "ext2" : "ISO 9660", stats.blocks, stats.file_bytes);
	ret = 0;
out:
	mkl_cloop_writer_destroy(w);
	free(dir);
	return ret;
}

static int cloop_read(struct mkl_image *img, const struct mkl_node *n, mkl_sink_fn sink, void *ctx,
		      struct mkl_err *err)
{
	for (uint64_t off = 0; off < n->size;) {
		char chunk[1 << 16];
		size_t len = n->size - off < sizeof(chunk) ? (size_t)(n->size - off) : sizeof(chunk);

		if (store_read(img, n, off, chunk, len, err) || sink(ctx, chunk, len, err))
			return -1;
		off += len;
	}
	return 0;
}

static void cloop_destroy(struct mkl_image *img)
{
	struct cloop_image *c = (struct cloop_image *)img;

	mkl_spool_close(&c->store);
	free(c);
}

/* check, open, add, finish, read, destroy; no compressing ahead (its
 * blocks are made by the spool's reader, src/fmt/cloop.c) */
const struct mkl_image_ops mkl_image_cloop_ops = {
	cloop_check, cloop_open, cloop_add, cloop_finish, cloop_read, cloop_destroy, NULL,
};
