/* The image-format table (see image.h) and the calls through it. */
#include "pipeline/image.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const cloop_modules[] = { "nbd", NULL };
/* ext2 is mounted by the ext4 driver (jbd2, mbcache and crc16 come from
 * modules.dep); ext4 asks for crc32c through the crypto API, which
 * modules.dep does not show. */
static const char *const cloop_ext2_modules[] = { "nbd", "ext4", "crc32c_generic", NULL };

/* What the cloop rows share: the file, the init's nbd bridge, the codecs
 * of cloop V2.0/V4.0 and those the init decodes, the writer. */
#define CLOOP_ROW \
	.path = "live/filesystem.cloop", .init_format = "cloop", .compressor = "gzip", \
	.compressors = "gzip, lz4, none, xz", .boot_compressors = "gzip, lz4, none", \
	.ops = &mkl_image_cloop_ops

/* A new format: its file (image_NAME.c with its mkl_image_ops), a row here,
 * and the init's reader (src/init/, its own table of formats). */
const struct mkl_image_format mkl_image_formats[] = {
	{
		.name = "squashfs",
		.help = "the kernel's compressed filesystem, loop-mounted",
		.path = "live/filesystem.squashfs",
		.init_format = "squashfs",
		.fstype = "squashfs",
		.compressor = "zstd",
		.compressors = "zstd, xz, gzip, lz4",
		.hardlinks = true,
		.verity = true,
		.ops = &mkl_image_squashfs_ops,
	},
	{
		.name = "cloop",
		.help = "the article's: ISO 9660 in cloop blocks, served by nbd",
		.fstype = "iso9660",
		.modules = cloop_modules,
		CLOOP_ROW,
		.limits = "hard links become separate files (Linux's isofs gives each "
			  "Rock Ridge entry its own inode)",
		.hardlinks = false,
	},
	{
		.name = "cloop-ext2",
		.help = "ext2 in cloop blocks, served by nbd: keeps hard links",
		.fstype = "ext2",
		.modules = cloop_ext2_modules,
		CLOOP_ROW,
		.hardlinks = true,
	},
	{ .name = NULL },
};

const struct mkl_image_format *mkl_image_format_find(const char *name)
{
	for (const struct mkl_image_format *f = mkl_image_formats; name && f->name; f++)
		if (!strcmp(f->name, name))
			return f;
	return NULL;
}

void mkl_image_format_names(char *out, size_t size)
{
	size_t n = 0;

	out[0] = '\0';
	for (const struct mkl_image_format *f = mkl_image_formats; f->name && n < size; f++)
		n += (size_t)snprintf(out + n, size - n, "%s%s", n ? ", " : "", f->name);
}

const char *mkl_image_compressor(const struct mkl_image_format *fmt, const struct mkl_image_opts *o)
{
	return o->compressor ? o->compressor : fmt->compressor;
}

int mkl_image_check(const struct mkl_image_format *fmt, const struct mkl_image_opts *o,
		    struct mkl_err *err)
{
	const char *c = mkl_image_compressor(fmt, o);

	if (!mkl_in_list(c, fmt->compressors))
		return mkl_error(err, 0, "unknown compressor '%s' for a %s image (%s)", c, fmt->name,
				 fmt->compressors);
	if (fmt->boot_compressors && !mkl_in_list(c, fmt->boot_compressors))
		return mkl_error(err, EINVAL, "a %s %s image would not boot: mklive-init reads "
				 "%s blocks of %s", c, fmt->name, fmt->name, fmt->boot_compressors);
	if (o->verity && !fmt->verity)
		return mkl_error(err, 0, "a %s image has no dm-verity hash tree, which --verity and "
				 "signing (--sign-key) need: use the squashfs format", fmt->name);
	if (o->threads > 1024)
		return mkl_error(err, 0, "thread count %u out of range (0..1024)", o->threads);
	return fmt->ops->check(fmt, o, err);
}

void mkl_image_note(const struct mkl_image *img, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!img->o.note)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	img->o.note(img->o.note_ctx, line);
}

int mkl_image_open(const struct mkl_image_format *fmt, const struct mkl_image_opts *o,
		   struct mkl_image **out, struct mkl_err *err)
{
	int rc;

	*out = NULL;
	if (mkl_image_check(fmt, o, err))
		return -1;
	rc = fmt->ops->open(fmt, o, out, err);
	if (*out) {	/* also on failure: the caller destroys it */
		(*out)->fmt = fmt;
		(*out)->o = *o;
	}
	return rc;
}

int mkl_image_add(struct mkl_image *img, struct mkl_node *node, mkl_read_fn read, void *ctx,
		  struct mkl_err *err)
{
	return img->fmt->ops->add(img, node, read, ctx, err);
}

int mkl_image_finish(struct mkl_image *img, struct mkl_tree *tree, struct mkl_err *err)
{
	return img->fmt->ops->finish(img, tree, err);
}

int mkl_image_read(struct mkl_image *img, const struct mkl_node *node, mkl_sink_fn sink,
		   void *ctx, struct mkl_err *err)
{
	return img->fmt->ops->read(img, node, sink, ctx, err);
}

void mkl_image_destroy(struct mkl_image *img)
{
	int fd;

	if (!img)
		return;
	fd = img->placed ? -1 : img->fd;
	img->fmt->ops->destroy(img);
	if (fd >= 0)
		close(fd);
}

int mkl_image_ahead(struct mkl_image *img, const char *dir, struct mkl_err *err)
{
	if (!img->fmt->ops->ahead)
		return mkl_error(err, ENOTSUP, "a %s image cannot compress ahead", img->fmt->name);
	return img->fmt->ops->ahead(img, dir, err);
}
