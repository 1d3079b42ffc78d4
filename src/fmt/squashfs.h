/* squashfs writer (libsquashfs 1.2, as Debian 12 ships it) and read-back.
 *
 * Use: create on an open, empty, seekable fd; for every regular file that
 * owns its inode (node->link == NULL), in the order the source yields them,
 * stream its content with mkl_sqfs_add_data(); when the source is done and
 * mkl_tree_finish() has run, mkl_sqfs_finish() writes inodes, directories,
 * the id/xattr/fragment/export tables and the super block. Compression
 * runs on `threads` workers; output is identical whatever the thread count.
 *
 * After finish, file contents can be read back by node (the build reads
 * the kernel and modules this way, so a tar input needs no second pass).
 */
#ifndef MKL_SQUASHFS_H
#define MKL_SQUASHFS_H

#include <stdint.h>

#include "tree/err.h"
#include "tree/tree.h"

struct mkl_sqfs_opts {
	const char *compressor;	/* "zstd" (default when NULL), "xz", "gzip", "lz4" */
	int level;		/* 0: the compressor's default */
	uint32_t block_size;	/* 0: 131072; power of two, 4 KiB .. 1 MiB */
	unsigned threads;	/* 0: number of online CPUs */
	int64_t mkfs_time;	/* super block time (SOURCE_DATE_EPOCH or now) */
	/* non-NULL: a dm-verity hash tree with this salt (32 bytes), made as
	 * the image is written and put after it by finish (fmt/verity.h) */
	const unsigned char *verity_salt;
};

struct mkl_sqfs;

/* Check a compressor name/level/block size without writing anything. */
int mkl_sqfs_check_opts(const struct mkl_sqfs_opts *opts, struct mkl_err *err);

int mkl_sqfs_create(int fd, const struct mkl_sqfs_opts *opts, struct mkl_sqfs **out,
		    struct mkl_err *err);
/* Same, with the image starting at byte `at` of fd (the build writes it
 * straight into the ISO, where libisofs will place it); fd must hold no
 * more than `at` bytes. */
int mkl_sqfs_create_at(int fd, uint64_t at, const struct mkl_sqfs_opts *opts,
		       struct mkl_sqfs **out, struct mkl_err *err);

/* Stream one regular file's content (node->size bytes) through read(ctx).
 * Records where the data went in node->data. */
int mkl_sqfs_add_data(struct mkl_sqfs *sq, struct mkl_node *node, mkl_read_fn read,
		      void *ctx, struct mkl_err *err);

/* Write everything else for the finished tree. */
int mkl_sqfs_finish(struct mkl_sqfs *sq, struct mkl_tree *tree, struct mkl_err *err);

/* After finish: read a regular file's content back, in order, into sink. */
int mkl_sqfs_read_file(struct mkl_sqfs *sq, const struct mkl_node *node, mkl_sink_fn sink,
		       void *ctx, struct mkl_err *err);

/* Compressing ahead: while a tree is still being made (a recipe's, as
 * mmdebstrap installs it), a thread of the lowest priority walks dir over
 * and over and compresses the full blocks of its regular files with the
 * image's compressor into a scratch file beside `near`, keyed by their
 * SHA-256. Start it before the first mkl_sqfs_add_data; stop it when the
 * tree is done (mkl_sqfs_add_data stops it too). From then on a block
 * made ahead is not compressed again: the same bytes, so the image does
 * not depend on it; what changed after it was read misses. Errors of the
 * thread only end it: the build goes on without. */
int mkl_sqfs_ahead_start(struct mkl_sqfs *sq, const char *dir, const char *near,
			 struct mkl_err *err);
void mkl_sqfs_ahead_stop(struct mkl_sqfs *sq);	/* accepts NULL, or none started */
struct mkl_sqfs_ahead_stats {
	uint64_t files;		/* files read ahead */
	uint64_t blocks;	/* distinct blocks made */
	uint64_t bytes_in, bytes_out;
	uint64_t hits;		/* blocks the build took from them */
};
/* After stop (all zero before, or without one). */
void mkl_sqfs_ahead_stats(const struct mkl_sqfs *sq, struct mkl_sqfs_ahead_stats *st);

/* Bytes written so far (the image size after finish; without the hash
 * tree). */
uint64_t mkl_sqfs_bytes(const struct mkl_sqfs *sq);
/* After finish with verity_salt: where the tree went and its root hash;
 * NULL without one. */
struct mkl_verity_result;
const struct mkl_verity_result *mkl_sqfs_verity(const struct mkl_sqfs *sq);

void mkl_sqfs_destroy(struct mkl_sqfs *sq);	/* accepts NULL */

#endif
