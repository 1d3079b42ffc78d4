/* ext2 pass 2, before writing (see ext2_int.h): inode numbers in
 * pre-order, blocks counted per inode, directory blocks packed, and the
 * filesystem size found with libext2fs's trial filesystems. */
#include "fmt/ext2_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- pass 2: counting ----------------------------------------------------- */

unsigned ext2_block_index(uint32_t b)
{
	return b == 1024 ? 0 : b == 2048 ? 1 : 2;
}

/* Indirect blocks a block-mapped file of n blocks needs. */
static uint64_t indirect_blocks(uint64_t n, uint32_t bsize)
{
	uint64_t p = bsize / 4, extra;

	if (n <= EXT2_NDIR_BLOCKS)
		return 0;
	n -= EXT2_NDIR_BLOCKS;
	extra = 1;
	if (n <= p)
		return extra;
	n -= p;
	if (n <= p * p)
		return extra + 1 + (n + p - 1) / p;
	extra += 1 + p;
	n -= p * p;
	return extra + 1 + (n + p * p - 1) / (p * p) + (n + p - 1) / p;
}

static uint8_t file_type(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return EXT2_FT_REG_FILE;
	case S_IFDIR: return EXT2_FT_DIR;
	case S_IFCHR: return EXT2_FT_CHRDEV;
	case S_IFBLK: return EXT2_FT_BLKDEV;
	case S_IFIFO: return EXT2_FT_FIFO;
	case S_IFSOCK: return EXT2_FT_SOCK;
	case S_IFLNK: return EXT2_FT_SYMLINK;
	}
	return EXT2_FT_UNKNOWN;
}

static uint32_t rec_len(size_t namelen)
{
	return (uint32_t)((8 + namelen + 3) & ~(size_t)3);
}

/* Blocks lost+found is given (mke2fs: 16 KiB, at most the direct blocks). */
uint64_t ext2_lpf_blocks(uint32_t bsize)
{
	uint64_t n = 16384 / bsize;

	return n > EXT2_NDIR_BLOCKS ? EXT2_NDIR_BLOCKS : n < 2 ? 2 : n;
}

struct dir_fill {
	unsigned char *buf;	/* NULL: count only */
	uint32_t bsize;
	uint64_t blk;		/* current block */
	uint32_t off;		/* in it */
	struct ext2_dir_entry *last;
	uint32_t last_len;
};

static void dir_close_last(struct dir_fill *d, uint32_t len)
{
	if (d->last)
		d->last->rec_len = (__u16)len;
}

static void dir_add(struct dir_fill *d, uint32_t ino, const char *name, size_t len, uint8_t type)
{
	uint32_t rl = rec_len(len);
	struct ext2_dir_entry *de;

	if (d->off + rl > d->bsize) {
		dir_close_last(d, d->last_len + d->bsize - d->off);
		d->last = NULL;
		d->blk++;
		d->off = 0;
	}
	if (d->buf) {
		de = (struct ext2_dir_entry *)(d->buf + d->blk * d->bsize + d->off);
		de->inode = ino;
		ext2fs_dirent_set_name_len(de, (int)len);
		ext2fs_dirent_set_file_type(de, type);
		memcpy(de->name, name, len);
		dir_close_last(d, d->last_len);
		d->last = de;
		d->last_len = rl;
	}
	d->off += rl;
}

/* Lay out a directory: its block count (at least minblocks); with buf
 * (zeroed, the block count times the block size), the blocks too. */
uint64_t ext2_dir_layout(struct mkl_node *dir, uint32_t bsize, unsigned char *buf, uint64_t minblocks)
{
	struct dir_fill d = { .buf = buf, .bsize = bsize };
	struct mkl_node *c;
	uint64_t n;

	dir_add(&d, dir->inode, ".", 1, EXT2_FT_DIR);
	dir_add(&d, dir->parent ? dir->parent->inode : dir->inode, "..", 2, EXT2_FT_DIR);
	for (c = dir->children; c; c = c->next)
		dir_add(&d, c->inode, c->name, strlen(c->name), file_type(c->mode));
	dir_close_last(&d, d.last_len + bsize - d.off);
	n = d.blk + 1;
	if (n < minblocks) {
		if (buf) {
			for (uint64_t b = n; b < minblocks; b++) {
				struct ext2_dir_entry *de = (struct ext2_dir_entry *)(buf + b * bsize);

				de->inode = 0;
				de->rec_len = (__u16)bsize;
			}
		}
		n = minblocks;
	}
	return n;
}

/* Give inode numbers in pre-order; a hard link takes its inode's number. */
int ext2_number_node(void *ctx, struct mkl_node *n, struct mkl_err *err)
{
	struct ext2w *w = ctx;
	struct mkl_node *in = mkl_node_inode(n);

	if (!in->inode) {
		if (!n->parent)
			in->inode = EXT2_ROOT_INO;
		else if (in == w->lpf)
			in->inode = FIRST_INO;
		else if (w->next_ino == 0)
			return mkl_error(err, 0, "too many entries for ext2 (more than 2^32 inodes)");
		else
			in->inode = w->next_ino++;
	}
	n->inode = in->inode;
	w->files++;
	return 0;
}

/* Blocks one inode needs at the given block size (an upper bound). */
static uint64_t node_blocks(struct ext2w *w, struct mkl_node *n, uint32_t bsize)
{
	uint64_t b = 0;

	if (mkl_is_dir(n)) {
		uint64_t d = ext2_dir_layout(n, bsize, NULL, n == w->lpf ? ext2_lpf_blocks(bsize) : 1);

		b = d + indirect_blocks(d, bsize);
	} else if (mkl_is_reg(n)) {
		const struct spool_rec *rec = n->data;
		uint64_t len = (n->size + bsize - 1) / bsize;

		b = (rec ? rec->nonzero[ext2_block_index(bsize)] : 0) + indirect_blocks(len, bsize);
	} else if (mkl_is_lnk(n)) {
		b = strlen(n->target) > FAST_LINK_MAX;
	}
	if (n->xattrs)
		b++;
	return b;
}

struct count_ctx {
	struct ext2w *w;
	uint32_t bsize;
	uint64_t blocks;
};

static int count_node(void *ctx, struct mkl_node *n, struct mkl_err *err)
{
	struct count_ctx *c = ctx;

	if (!n->link)
		c->blocks += node_blocks(c->w, n, c->bsize);
	return 0;
}

int ext2_count_blocks(struct ext2w *w, uint32_t bsize, uint64_t *blocks, struct mkl_err *err)
{
	struct count_ctx c = { .w = w, .bsize = bsize };

	if (mkl_tree_walk(w->tree, count_node, &c, err))
		return -1;
	*blocks = c.blocks;
	return 0;
}


/* --- pass 2: geometry ----------------------------------------------------- */

static unsigned log2u(uint32_t v)
{
	unsigned n = 0;

	while (v > 1) {
		v >>= 1;
		n++;
	}
	return n;
}

/* A filesystem of `blocks` blocks and `inodes` inodes, in memory (nothing
 * is written before ext2fs_close2). */
errcode_t ext2_trial(const char *dev, uint32_t bsize, uint64_t blocks, uint32_t inodes,
		       ext2_filsys *fs)
{
	struct ext2_super_block p;
	errcode_t e;

	memset(&p, 0, sizeof(p));
	p.s_rev_level = EXT2_DYNAMIC_REV;
	p.s_log_block_size = log2u(bsize) - EXT2_MIN_BLOCK_LOG_SIZE;
	p.s_log_cluster_size = p.s_log_block_size;
	p.s_inode_size = INODE_SIZE;
	p.s_first_ino = FIRST_INO;
	p.s_feature_compat = EXT2_FEATURE_COMPAT_EXT_ATTR | EXT2_FEATURE_COMPAT_DIR_INDEX;
	p.s_feature_incompat = EXT2_FEATURE_INCOMPAT_FILETYPE;
	p.s_feature_ro_compat = EXT2_FEATURE_RO_COMPAT_SPARSE_SUPER | EXT2_FEATURE_RO_COMPAT_LARGE_FILE;
	p.s_inodes_count = inodes;
	p.s_errors = EXT2_ERRORS_CONTINUE;
	p.s_creator_os = EXT2_OS_LINUX;
	ext2fs_blocks_count_set(&p, blocks);
	*fs = NULL;
	e = ext2fs_initialize(dev, EXT2_FLAG_RW | EXT2_FLAG_64BITS, &p, unix_io_manager, fs);
	return e ? e : *fs ? 0 : EXT2_ET_NO_MEMORY;	/* success always gives a filesystem */
}

/* Free blocks of a trial filesystem; 0 when it cannot be made. */
static errcode_t trial_free(const char *dev, uint32_t bsize, uint64_t blocks, uint32_t inodes,
			    uint64_t *free_blocks)
{
	ext2_filsys fs;
	errcode_t e = ext2_trial(dev, bsize, blocks, inodes, &fs);

	*free_blocks = 0;
	if (e == EXT2_ET_TOOSMALL || e == EXT2_ET_TOO_MANY_INODES)
		return 0;
	if (e)
		return e;
	*free_blocks = ext2fs_free_blocks_count(fs->super);
	ext2fs_free(fs);
	return 0;
}

/* The smallest block count (about: free space does not grow strictly
 * with the size, as a new group brings its own tables) at which `need`
 * blocks are free; the trial filesystem of that size is left in *fs. */
int ext2_fit(const char *dev, uint32_t bsize, uint64_t need, uint32_t inodes, ext2_filsys *fs,
	       struct mkl_err *err)
{
	uint64_t lo = need, hi = need + (uint64_t)inodes * INODE_SIZE / bsize + need / (bsize * 8) + 64;
	uint64_t free_blocks;
	errcode_t e;
	int i;

	/* Grow until it fits... */
	for (i = 0; i < 64; i++) {
		e = trial_free(dev, bsize, hi, inodes, &free_blocks);
		if (e)
			return ext2_error(err, e, "cannot lay out a filesystem of %" PRIu64 " blocks", hi);
		if (free_blocks >= need)
			break;
		lo = hi + 1;
		hi += free_blocks && need - free_blocks < hi ? need - free_blocks : hi;
	}
	if (i == 64)
		return mkl_error(err, 0, "cannot find a filesystem size for %" PRIu64 " blocks of content",
				 need);
	/* ...then halve the gap to the smallest size that fits. */
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		e = trial_free(dev, bsize, mid, inodes, &free_blocks);
		if (e)
			return ext2_error(err, e, "cannot lay out a filesystem of %" PRIu64 " blocks", mid);
		if (free_blocks >= need)
			hi = mid;
		else
			lo = mid + 1;
	}
	e = ext2_trial(dev, bsize, hi, inodes, fs);
	return e ? ext2_error(err, e, "cannot lay out a filesystem of %" PRIu64 " blocks", hi) : 0;
}

