/* Image formats: how the read-only tree is packed on the medium.
 *
 * One table (image.c, mkl_image_formats[]) describes each format: its name
 * on the command line and in mklive.conf, its path on the medium, what the
 * init attaches and mounts it as, the kernel modules that needs, the
 * compressors it takes (and those the init can read), its block sizes, and
 * the writer's entry points. The build, the CLI, the config parser,
 * --help, the docs check and module selection all read the table; a new
 * format is its own file (image_NAME.c), one row here, and the init's
 * reader (see docs/ARCHITECTURE.md, "Image formats: the registry").
 *
 * A writer takes file contents during the one pass over the source
 * (add, in source order), is finished with the whole tree (finish), then
 * leaves its image in a scratch file (fd, bytes) that the ISO streams in,
 * or, where it can, in the output ISO itself (placed: see place_fd);
 * after finish the build reads the kernel and modules back (read).
 */
#ifndef MKL_IMAGE_H
#define MKL_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tree/err.h"
#include "tree/tree.h"

struct mkl_image_opts {
	const char *output;	/* scratch files go beside it */
	const char *compressor;	/* NULL: the format's default (its first) */
	int level;		/* 0: the compressor's default */
	uint32_t block_size;	/* 0: the format's default */
	unsigned threads;	/* 0: all online cores */
	int64_t time;		/* SOURCE_DATE_EPOCH, or now */
	const char *label;	/* volume label of a payload that has one */
	/* place_at > 0: place_fd is the output ISO, where a format that can
	 * (squashfs) writes its image from byte place_at on instead of to a
	 * scratch file; the ISO writer then lays the file out there
	 * (src/fmt/iso.c, .placed), so its bytes are written once. 0: a
	 * scratch file. */
	int place_fd;
	uint64_t place_at;
	/* a dm-verity hash tree after the image, in the same file, made as
	 * it is written (fmt/verity.h; squashfs only: check refuses others) */
	bool verity;
	void (*note)(void *ctx, const char *msg);	/* optional: a line for -v */
	void *note_ctx;
};

/* A writer; each format's own struct begins with this. */
struct mkl_image {
	const struct mkl_image_format *fmt;
	struct mkl_image_opts o;
	int fd;			/* the finished image (scratch file), -1 before */
	uint64_t bytes;		/* its size, after finish (with the hash tree) */
	uint64_t placed;	/* >0: fd is o.place_fd and the image starts here */
	/* with o.verity, after finish: the root hash (hex), the bytes the
	 * tree covers, where its superblock starts (from the image's start) */
	char verity_root[65];
	uint64_t verity_data, verity_offset, verity_tree;
};

/* A line for -v through o->note. */
void mkl_image_note(const struct mkl_image *img, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

struct mkl_image_format {
	const char *name;		/* --image-format NAME, [image] format = NAME */
	const char *help;		/* one line: what it is */
	const char *path;		/* on the medium */
	const char *init_format;	/* format= in the initramfs's /mklive.conf: how the
					 * init attaches it (loop, or the nbd bridge for cloop) */
	const char *fstype;		/* what the init mounts the attached device as */
	const char *const *modules;	/* kernel modules it needs in the initramfs, beyond
					 * the boot set (NULL-terminated; NULL: none) */
	const char *compressor;		/* the default */
	const char *compressors;	/* "a, b, c": what --compressor takes */
	const char *boot_compressors;	/* those the init can read; NULL: all of them */
	bool hardlinks;			/* the mounted image shows hard links as links */
	bool verity;			/* its writer makes a dm-verity tree (o.verity) and
					 * the init mounts it through dm-verity */
	const char *limits;		/* what the payload cannot carry, said at build time
					 * when the tree has it; NULL: nothing */
	const struct mkl_image_ops *ops;
};

/* The writer's entry points, in the style of genimage's image handlers. */
struct mkl_image_ops {
	/* Level, block size and the like, before anything is written. */
	int (*check)(const struct mkl_image_format *fmt, const struct mkl_image_opts *o,
		     struct mkl_err *err);
	int (*open)(const struct mkl_image_format *fmt, const struct mkl_image_opts *o,
		    struct mkl_image **out, struct mkl_err *err);
	/* One regular file's content (node->size bytes from read), in source order. */
	int (*add)(struct mkl_image *img, struct mkl_node *node, mkl_read_fn read, void *ctx,
		   struct mkl_err *err);
	/* Everything else, for the finished tree; sets fd and bytes. */
	int (*finish)(struct mkl_image *img, struct mkl_tree *tree, struct mkl_err *err);
	/* After finish: a regular file's content, in order, into sink. */
	int (*read)(struct mkl_image *img, const struct mkl_node *node, mkl_sink_fn sink,
		    void *ctx, struct mkl_err *err);
	void (*destroy)(struct mkl_image *img);	/* the format's own state; not fd */
	/* Optional (NULL: the format cannot): compress ahead from dir, a tree
	 * still being made, until the first add (see squashfs.h). */
	int (*ahead)(struct mkl_image *img, const char *dir, struct mkl_err *err);
};

/* The table, ended by a row with a NULL name; the first row is the default. */
extern const struct mkl_image_format mkl_image_formats[];

/* The format called name, or NULL. */
const struct mkl_image_format *mkl_image_format_find(const char *name);
/* "squashfs, cloop": the names, for messages and --help, into out. */
void mkl_image_format_names(char *out, size_t size);
/* Is compressor (NULL: the default) one the format takes, and with level and
 * block_size (0: defaults) an image the init can boot? Errors say what to pick. */
int mkl_image_check(const struct mkl_image_format *fmt, const struct mkl_image_opts *o,
		    struct mkl_err *err);
/* The compressor the format will use (o->compressor, or its default). */
const char *mkl_image_compressor(const struct mkl_image_format *fmt, const struct mkl_image_opts *o);

/* The writer calls, through fmt->ops. */
int mkl_image_open(const struct mkl_image_format *fmt, const struct mkl_image_opts *o,
		   struct mkl_image **out, struct mkl_err *err);
int mkl_image_add(struct mkl_image *img, struct mkl_node *node, mkl_read_fn read, void *ctx,
		  struct mkl_err *err);
int mkl_image_finish(struct mkl_image *img, struct mkl_tree *tree, struct mkl_err *err);
int mkl_image_read(struct mkl_image *img, const struct mkl_node *node, mkl_sink_fn sink,
		   void *ctx, struct mkl_err *err);
void mkl_image_destroy(struct mkl_image *img);	/* accepts NULL; closes fd unless placed */
/* Through ops->ahead; ENOTSUP when the format has none. */
int mkl_image_ahead(struct mkl_image *img, const char *dir, struct mkl_err *err);

/* Each format's file (image_squashfs.c, image_cloop.c). */
extern const struct mkl_image_ops mkl_image_squashfs_ops, mkl_image_cloop_ops;

#endif
