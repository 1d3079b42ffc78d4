/* The ext2 writer's own header, for its parts (see ext2.h, and ext2.c for
 * the two passes):
 *   ext2_read.c    pass 1: the source into a tree, contents into the spool
 *                  (or, for a directory, only read), hashing, zero blocks
 *   ext2_layout.c  pass 2: inode numbers, block counts, directory blocks,
 *                  the filesystem size (trial filesystems of libext2fs)
 *   ext2_inode.c   pass 2: every inode written, with its blocks and xattrs
 *   ext2.c         the whole: super block, UUID, lost+found, errors
 */
#ifndef MKL_EXT2_INT_H
#define MKL_EXT2_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <ext2fs/ext2_fs.h>
#include <ext2fs/ext2fs.h>

#include "fmt/ext2.h"
#include "tree/io.h"

#define CHUNK (1u << 20)	/* scratch copy and write-back unit */
#define PIECE 1024u		/* zero detection unit: the smallest block */
#define INODE_SIZE 256u
#define EXTRA_ISIZE 32u		/* i_extra_isize: through i_crtime_extra... */
#define FIRST_INO 11u
#define LINK_MAX_DIR 32000u	/* ext2's limit on a directory's links */
#define LINK_MAX_FILE 65000u
#define FAST_LINK_MAX 59u	/* longest target kept in i_block */

/* Where one regular file's content sits in the scratch file. */
struct spool_rec {
	struct spool_rec *next;
	struct mkl_spool_rec at;
	uint64_t nonzero[3];	/* blocks with a non-zero byte at 1, 2, 4 KiB */
};

/* A fast non-cryptographic hash over 4 lanes of 64 bits: it only has to
 * make UUIDs of different inputs differ. */
struct hash {
	uint64_t l[4];
};

struct ext2w {
	const struct mkl_ext2_opts *o;
	struct mkl_tree *tree;
	struct mkl_node *lpf;		/* lost+found */
	bool lpf_made;			/* lost+found is ours, not the source's */
	struct mkl_spool spool;		/* file contents (pass 1) */
	struct spool_rec *recs;
	unsigned char *buf;		/* CHUNK bytes */
	blk64_t *pblk;			/* where the blocks of a chunk went */
	struct hash h;
	int64_t newest;			/* newest mtime in the input */
	bool any_entry;
	int64_t time;			/* the image's time */
	/* counting */
	uint32_t block_size;
	uint32_t next_ino;		/* after numbering: the highest + 1 */
	uint64_t need_blocks;
	uint64_t files;
	int root_fd;			/* a directory source: files are read again */
	const char *root;		/* from there, not copied to the spool */
	/* writing */
	int out_fd;			/* the image, also open in libext2fs by name */
	ext2_filsys fs;
	unsigned char *dirbuf;
	size_t dircap;
};

/* ext2.c: an error with libext2fs's text for code. */
int ext2_error(struct mkl_err *err, errcode_t code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ext2_read.c */
void ext2_hash_init(struct hash *h);
/* Hash n bytes; returns non-zero when any byte is non-zero. */
uint64_t ext2_hash_bytes(struct hash *h, const void *data, size_t n);
void ext2_hash_u64(struct hash *h, uint64_t v);
void ext2_hash_str(struct hash *h, const char *s);
uint64_t ext2_hash_final(const struct hash *h, uint64_t salt);
int ext2_is_zero(const unsigned char *p, size_t n);
/* Pass 1: the source into w->tree, contents into w->spool (or read only,
 * when w->root_fd is a directory source's root). */
int ext2_read_source(struct ext2w *w, struct mkl_source *src, struct mkl_err *err);

/* ext2_layout.c */
unsigned ext2_block_index(uint32_t bsize);
uint64_t ext2_lpf_blocks(uint32_t bsize);
/* A directory's block count (at least minblocks); with buf (zeroed, that
 * many blocks), the blocks too. */
uint64_t ext2_dir_layout(struct mkl_node *dir, uint32_t bsize, unsigned char *buf, uint64_t minblocks);
int ext2_number_node(void *ctx, struct mkl_node *n, struct mkl_err *err);
int ext2_count_blocks(struct ext2w *w, uint32_t bsize, uint64_t *blocks, struct mkl_err *err);
errcode_t ext2_trial(const char *dev, uint32_t bsize, uint64_t blocks, uint32_t inodes, ext2_filsys *fs);
int ext2_fit(const char *dev, uint32_t bsize, uint64_t need, uint32_t inodes, ext2_filsys *fs,
	     struct mkl_err *err);

/* ext2_inode.c: one name of the tree (its inode once, at its first name). */
int ext2_write_node(void *ctx, struct mkl_node *name, struct mkl_err *err);

#endif
