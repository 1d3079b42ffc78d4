/* The squashfs image format (a row of image.c): src/fmt/squashfs.c
 * (libsquashfs) behind the image interface. The init loop-mounts it. */
#include "pipeline/image.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "fmt/squashfs.h"
#include "fmt/verity.h"
#include "tree/outfile.h"

struct sqfs_image {
	struct mkl_image img;	/* first: the image interface */
	struct mkl_sqfs *sq;
	unsigned char salt[MKL_VERITY_SALT];
};

static struct mkl_sqfs_opts sqfs_opts(const struct mkl_image_format *fmt, const struct mkl_image_opts *o)
{
	return (struct mkl_sqfs_opts){
		.compressor = mkl_image_compressor(fmt, o),
		.level = o->level,
		.block_size = o->block_size,
		.threads = o->threads,
		.mkfs_time = o->time,
	};
}

static int sqfs_check(const struct mkl_image_format *fmt, const struct mkl_image_opts *o,
		      struct mkl_err *err)
{
	struct mkl_sqfs_opts so = sqfs_opts(fmt, o);

	return mkl_sqfs_check_opts(&so, err);
}

static int sqfs_open(const struct mkl_image_format *fmt, const struct mkl_image_opts *o,
		     struct mkl_image **out, struct mkl_err *err)
{
	struct mkl_sqfs_opts so = sqfs_opts(fmt, o);
	struct sqfs_image *s = mkl_calloc(1, sizeof(*s), err);

	if (!s)
		return -1;
	s->img.fd = -1;
	*out = &s->img;
	if (o->verity) {	/* reproducible: from the build time (verity.h) */
		mkl_verity_salt(o->time, s->salt);
		so.verity_salt = s->salt;
	}
	if (o->place_at) {
		s->img.fd = o->place_fd;
		s->img.placed = o->place_at;
		return mkl_sqfs_create_at(s->img.fd, o->place_at, &so, &s->sq, err);
	}
	if (mkl_scratch_open(o->output, &s->img.fd, err))
		return -1;
	return mkl_sqfs_create(s->img.fd, &so, &s->sq, err);
}

static int sqfs_add(struct mkl_image *img, struct mkl_node *node, mkl_read_fn read, void *ctx,
		    struct mkl_err *err)
{
	return mkl_sqfs_add_data(((struct sqfs_image *)img)->sq, node, read, ctx, err);
}

static int sqfs_finish(struct mkl_image *img, struct mkl_tree *tree, struct mkl_err *err)
{
	struct sqfs_image *s = (struct sqfs_image *)img;
	struct mkl_sqfs_ahead_stats st;

	if (mkl_sqfs_finish(s->sq, tree, err))
		return -1;
	img->bytes = mkl_sqfs_bytes(s->sq);
	if (img->o.verity) {
		const struct mkl_verity_result *v = mkl_sqfs_verity(s->sq);

		memcpy(img->verity_root, v->root_hex, sizeof(img->verity_root));
		img->verity_data = v->data_bytes;
		img->verity_offset = v->hash_offset;
		img->verity_tree = v->tree_bytes;
		img->bytes = v->hash_offset + v->tree_bytes;
		mkl_image_note(img, "dm-verity: hash tree of %" PRIu64 " bytes (%u levels) after the %"
			       PRIu64 " bytes of the image, root hash %s", v->tree_bytes, v->levels,
			       v->data_bytes, v->root_hex);
	}
	mkl_sqfs_ahead_stats(s->sq, &st);
	if (st.files)
		mkl_image_note(img, "compressed ahead: %" PRIu64 " blocks (%" PRIu64 " MiB of %" PRIu64
			       " files) while the tree was made; the image took %" PRIu64 " of them",
			       st.blocks, st.bytes_in >> 20, st.files, st.hits);
	return 0;
}

static int sqfs_ahead(struct mkl_image *img, const char *dir, struct mkl_err *err)
{
	return mkl_sqfs_ahead_start(((struct sqfs_image *)img)->sq, dir, img->o.output, err);
}

static int sqfs_read(struct mkl_image *img, const struct mkl_node *node, mkl_sink_fn sink,
		     void *ctx, struct mkl_err *err)
{
	return mkl_sqfs_read_file(((struct sqfs_image *)img)->sq, node, sink, ctx, err);
}

static void sqfs_destroy(struct mkl_image *img)
{
	struct sqfs_image *s = (struct sqfs_image *)img;

	mkl_sqfs_destroy(s->sq);
	free(s);
}

/* check, open, add, finish, read, destroy, ahead */
const struct mkl_image_ops mkl_image_squashfs_ops = {
	sqfs_check, sqfs_open, sqfs_add, sqfs_finish, sqfs_read, sqfs_destroy, sqfs_ahead,
};
