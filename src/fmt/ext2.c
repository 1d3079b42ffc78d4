/* ext2 image writer on libext2fs (see ext2.h).
 *
 * Two passes:
 *
 *  1. Read the source to its end into a tree (tree/tree.h: later entries
 *     replace earlier ones, a tar may name a file before its directory)
 *     and copy every regular file's content into an unnamed scratch file,
 *     in chunks of 1 MiB. While copying, each 1 KiB piece is checked for
 *     zeros (for the count of blocks a file needs once its zero blocks are
 *     holes, at 1, 2 and 4 KiB blocks) and hashed with the metadata into
 *     the seed of the UUID. Chunks that are all zeros are not written, so
 *     the scratch file is sparse where the input is.
 *
 *  2. With the tree finished, count what the image needs: inode numbers
 *     are given in pre-order (root 2, lost+found 11, the rest from 12; a
 *     hard link shares its first name's number), blocks are counted per
 *     inode (data blocks that are not all zero, indirect blocks for the
 *     file's length, directory blocks as they will be packed, one block
 *     per slow symlink and per inode with xattrs). The block count of the
 *     filesystem is found by asking ext2fs_initialize() how many blocks
 *     are left free for a trial size and growing it until the content
 *     (plus the slack) fits; a size that is given is checked the same way.
 *     Then every inode is written in pre-order: directories as blocks we
 *     pack ourselves (entries sorted, each block's last entry stretched to
 *     the block's end), regular files block-mapped by ext2fs_bmap2() with
 *     runs of consecutive blocks written in one go and all-zero blocks
 *     left unmapped, symlinks in the inode (below 60 bytes) or in one
 *     block, device numbers in i_block as the kernel stores them, xattrs
 *     through ext2fs_xattr_set() (an inode's xattrs that do not fit in its
 *     spare room and one block are an error naming the file: dropping a
 *     security.capability would break the system silently).
 *
 * Inodes are written whole (ext2fs_write_inode_full) with every time field
 * set, never through ext2fs_write_new_inode(), which would stamp the
 * current time; fs->now is set to the image time for what libext2fs itself
 * stamps (the super block's write time; libext2fs reads 0 as "now", so an
 * image time of 0 gives a write time of 1 s). The output file is emptied and
 * made full length first, so blocks nothing writes (unused inode table,
 * free blocks) read as zeros. libext2fs opens its device by name: the
 * image is reached as /proc/self/fd/N, so the caller's unnamed output
 * file (tree/outfile.h) is written in place and named only when complete.
 * The final flush skips fsync (EXT2_FLAG_FLUSH_NO_SYNC): the caller's
 * commit is what makes the file appear.
 */
#include "fmt/ext2.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <ext2fs/ext2_fs.h>
#include <ext2fs/ext2fs.h>
#include <et/com_err.h>

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

/* --- errors ---------------------------------------------------------------- */

/* The text of a libext2fs error code (its own table, or errno). */
static const char *e2_text(errcode_t code)
{
	const struct error_table *t = &et_ext2_error_table;

	if (code > 0 && code < 4096)
		return strerror((int)code);
	if (code >= t->base && code < t->base + t->n_msgs)
		return t->msgs[code - t->base];
	return "unknown libext2fs error";
}

static int e2_error(struct mkl_err *err, errcode_t code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int e2_error(struct mkl_err *err, errcode_t code, const char *fmt, ...)
{
	char what[MKL_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (code > 0 && code < 4096)
		return mkl_error(err, (int)code, "%s", what);
	return mkl_error(err, 0, "%s: %s", what, e2_text(code));
}

/* --- hashing and zero detection ------------------------------------------- */

static void hash_init(struct hash *h)
{
	h->l[0] = 0x243f6a8885a308d3ull;
	h->l[1] = 0x13198a2e03707344ull;
	h->l[2] = 0xa4093822299f31d0ull;
	h->l[3] = 0x082efa98ec4e6c89ull;
}

static inline uint64_t hmix(uint64_t h, uint64_t w)
{
	h = (h ^ w) * 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 31);
}

/* Hash n bytes; returns non-zero when any byte is non-zero. */
static uint64_t hash_bytes(struct hash *h, const void *data, size_t n)
{
	const unsigned char *p = data;
	uint64_t any = 0, w[4];
	size_t i = 0;

	for (; i + 32 <= n; i += 32) {
		memcpy(w, p + i, 32);
		any |= w[0] | w[1] | w[2] | w[3];
		h->l[0] = hmix(h->l[0], le64toh(w[0]));
		h->l[1] = hmix(h->l[1], le64toh(w[1]));
		h->l[2] = hmix(h->l[2], le64toh(w[2]));
		h->l[3] = hmix(h->l[3], le64toh(w[3]));
	}
	for (; i < n; i++) {
		any |= p[i];
		h->l[i & 3] = hmix(h->l[i & 3], p[i] | 0x100ull);
	}
	h->l[0] = hmix(h->l[0], n);
	return any;
}

static void hash_u64(struct hash *h, uint64_t v)
{
	h->l[1] = hmix(h->l[1], v);
	h->l[3] = hmix(h->l[3], ~v);
}

static void hash_str(struct hash *h, const char *s)
{
	hash_bytes(h, s, strlen(s) + 1);
}

static uint64_t hash_final(const struct hash *h, uint64_t salt)
{
	uint64_t x = hmix(salt, h->l[0]);

	x = hmix(x, h->l[1]);
	x = hmix(x, h->l[2]);
	x = hmix(x, h->l[3]);
	return hmix(x, salt);
}

static int is_zero(const unsigned char *p, size_t n)
{
	uint64_t w[4], any = 0;
	size_t i = 0;

	for (; i + 32 <= n; i += 32) {
		memcpy(w, p + i, 32);
		if (w[0] | w[1] | w[2] | w[3])
			return 0;
	}
	for (; i < n; i++)
		any |= p[i];
	return !any;
}

/* --- pass 1: the source into a tree and a scratch file -------------------- */

/* The spool's filter: hash each 1 KiB piece into the UUID seed, count
 * the blocks (at 1, 2 and 4 KiB) that hold a non-zero byte, and leave
 * all-zero chunks out of the scratch file. */
struct spool_ctx {
	struct ext2w *w;
	struct spool_rec *rec;
	uint64_t size;
	unsigned mask;		/* non-zero 1 KiB pieces of the current 4 KiB */
};

static int spool_filter(void *ctx, uint64_t pos, const unsigned char *data, size_t len,
			struct mkl_err *err)
{
	struct spool_ctx *c = ctx;
	struct spool_rec *rec = c->rec;
	uint64_t any = 0;

	for (size_t i = 0; i < len; i += PIECE) {
		size_t n = len - i < PIECE ? len - i : PIECE;
		unsigned k = (unsigned)(((pos + i) / PIECE) & 3);

		if (hash_bytes(&c->w->h, data + i, n)) {
			c->mask |= 1u << k;
			any = 1;
		}
		if (k == 3 || pos + i + n == c->size) {
			rec->nonzero[0] += (uint64_t)__builtin_popcount(c->mask);
			rec->nonzero[1] += (c->mask & 3) != 0;
			rec->nonzero[1] += (c->mask & 12) != 0;
			rec->nonzero[2] += c->mask != 0;
			c->mask = 0;
		}
	}
	/* A directory source's files are read again in pass 2: nothing kept. */
	return any != 0 && c->w->root_fd < 0;
}

static void hash_entry(struct hash *h, const struct mkl_source_entry *e)
{
	const struct mkl_xattr *x;

	hash_str(h, e->path);
	if (e->hardlink) {
		hash_u64(h, 1);
		hash_str(h, e->hardlink);
		return;
	}
	hash_u64(h, e->st.mode);
	hash_u64(h, (uint64_t)e->st.uid << 32 | e->st.gid);
	hash_u64(h, e->st.rdev);
	hash_u64(h, (uint64_t)e->st.mtime);
	hash_u64(h, e->st.size);
	if ((e->st.mode & S_IFMT) == S_IFLNK && e->st.target)
		hash_str(h, e->st.target);
	for (x = e->st.xattrs; x; x = x->next) {
		hash_str(h, x->name);
		hash_bytes(h, x->value, x->size);
	}
}

static int read_source(struct ext2w *w, struct mkl_source *src, struct mkl_err *err)
{
	struct mkl_source_entry e;
	int r;

	while ((r = mkl_source_next(src, &e, err)) > 0) {
		struct mkl_node *node;
		struct spool_rec *rec;

		if (mkl_cancelled())
			return mkl_error(err, ECANCELED, "reading the source");
		hash_entry(&w->h, &e);
		if (e.hardlink) {
			if (mkl_tree_add_hardlink(w->tree, e.path, e.hardlink, NULL, err))
				return -1;
			continue;
		}
		if (mkl_tree_add(w->tree, e.path, &e.st, &node, err))
			return -1;
		if (!w->any_entry || e.st.mtime > w->newest)
			w->newest = e.st.mtime;
		w->any_entry = true;
		if ((e.st.mode & S_IFMT) != S_IFREG)
			continue;
		rec = mkl_calloc(1, sizeof(*rec), err);
		if (!rec)
			return -1;
		rec->next = w->recs;
		w->recs = rec;
		node->data = rec;
		if (e.st.size) {
			struct spool_ctx c = { w, rec, e.st.size, 0 };

			if (mkl_spool_add(&w->spool, &rec->at, e.path, e.st.size, mkl_source_read, src,
					  spool_filter, &c, err))
				return -1;
		}
	}
	if (r < 0)
		return -1;
	return mkl_spool_finish(&w->spool, err);
}

/* --- pass 2: counting ----------------------------------------------------- */

static unsigned block_index(uint32_t b)
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
static uint64_t lpf_blocks(uint32_t bsize)
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
static uint64_t dir_layout(struct mkl_node *dir, uint32_t bsize, unsigned char *buf, uint64_t minblocks)
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
static int number_node(void *ctx, struct mkl_node *n, struct mkl_err *err)
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
		uint64_t d = dir_layout(n, bsize, NULL, n == w->lpf ? lpf_blocks(bsize) : 1);

		b = d + indirect_blocks(d, bsize);
	} else if (mkl_is_reg(n)) {
		const struct spool_rec *rec = n->data;
		uint64_t len = (n->size + bsize - 1) / bsize;

		b = (rec ? rec->nonzero[block_index(bsize)] : 0) + indirect_blocks(len, bsize);
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

static int count_blocks(struct ext2w *w, uint32_t bsize, uint64_t *blocks, struct mkl_err *err)
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
static errcode_t trial(const char *dev, uint32_t bsize, uint64_t blocks, uint32_t inodes,
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
	errcode_t e = trial(dev, bsize, blocks, inodes, &fs);

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
static int fit(const char *dev, uint32_t bsize, uint64_t need, uint32_t inodes, ext2_filsys *fs,
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
			return e2_error(err, e, "cannot lay out a filesystem of %" PRIu64 " blocks", hi);
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
			return e2_error(err, e, "cannot lay out a filesystem of %" PRIu64 " blocks", mid);
		if (free_blocks >= need)
			hi = mid;
		else
			lo = mid + 1;
	}
	e = trial(dev, bsize, hi, inodes, fs);
	return e ? e2_error(err, e, "cannot lay out a filesystem of %" PRIu64 " blocks", hi) : 0;
}

/* --- pass 2: writing ------------------------------------------------------ */

static void set_time(struct ext2_inode_large *in, int64_t t)
{
	__u32 extra = (__u32)(((t - (int32_t)t) >> 32) & EXT4_EPOCH_MASK);

	in->i_atime = in->i_ctime = in->i_mtime = (__u32)t;
	in->i_crtime = (__u32)t;
	in->i_atime_extra = in->i_ctime_extra = in->i_mtime_extra = in->i_crtime_extra = extra;
}

static int write_inode(struct ext2w *w, ext2_ino_t ino, struct ext2_inode_large *in, const char *path,
		       struct mkl_err *err)
{
	errcode_t e = ext2fs_write_inode_full(w->fs, ino, (struct ext2_inode *)in, sizeof(*in));

	return e ? e2_error(err, e, "cannot write the inode of '%s'", path) : 0;
}

/* Allocate logical block lblk of an inode and write one block there. */
static int put_block(struct ext2w *w, ext2_ino_t ino, struct ext2_inode_large *in, blk64_t lblk,
		     const void *data, int is_dir, const char *path, struct mkl_err *err)
{
	blk64_t pblk = 0;
	errcode_t e;

	e = ext2fs_bmap2(w->fs, ino, (struct ext2_inode *)in, NULL, BMAP_ALLOC, lblk, NULL, &pblk);
	if (e)
		return e2_error(err, e, "cannot allocate a block for '%s'", path);
	if (is_dir)
		e = ext2fs_write_dir_block4(w->fs, pblk, (void *)data, 0, ino);
	else
		e = io_channel_write_blk64(w->fs->io, pblk, 1, data);
	return e ? e2_error(err, e, "cannot write a block of '%s'", path) : 0;
}

static int write_dir(struct ext2w *w, struct mkl_node *n, ext2_ino_t ino, struct ext2_inode_large *in,
		     const char *path, struct mkl_err *err)
{
	uint32_t bsize = w->block_size;
	uint64_t nb = dir_layout(n, bsize, NULL, n == w->lpf ? lpf_blocks(bsize) : 1);
	size_t len = (size_t)nb * bsize;

	if (len > w->dircap) {
		unsigned char *p = realloc(w->dirbuf, len);

		if (!p)
			return mkl_error(err, ENOMEM, "out of memory (directory '%s')", path);
		w->dirbuf = p;
		w->dircap = len;
	}
	memset(w->dirbuf, 0, len);
	dir_layout(n, bsize, w->dirbuf, nb);
	in->i_size = (__u32)len;
	if (write_inode(w, ino, in, path, err))
		return -1;
	for (uint64_t b = 0; b < nb; b++)
		if (put_block(w, ino, in, b, w->dirbuf + b * bsize, 1, path, err))
			return -1;
	return 0;
}

/* Where a file's next data block goes. */
struct alloc_pos {
	blk64_t goal;		/* the block after the last data block; 0: none yet */
	blk64_t last;		/* the last logical block mapped, + 1; 0: none */
};

/* Give logical block lblk of a file a block of its own. Not BMAP_ALLOC:
 * ext2fs_alloc_block3() writes zeros to every block it hands out, one
 * block a write through libext2fs's cache, which doubled the writes and
 * was the largest cost on a small tree. The image is a file of zeros, so
 * data blocks need none; indirect blocks (still made by BMAP_ALLOC) do.
 * The indirect block that lblk is the first to need is made first, as
 * BMAP_ALLOC would, so it sits before its data: the same layout. */
static int alloc_data_block(struct ext2w *w, ext2_ino_t ino, struct ext2_inode_large *in, blk64_t lblk,
			    struct alloc_pos *a, blk64_t *pblk, const char *path, struct mkl_err *err)
{
	struct ext2_inode *inode = (struct ext2_inode *)in;
	blk64_t per = w->block_size / 4, none = 0;
	errcode_t e = 0;

	/* Blocks from 12 on hang from indirect blocks of `per` entries each. */
	if (lblk >= EXT2_NDIR_BLOCKS &&
	    (a->last <= EXT2_NDIR_BLOCKS || (a->last - 1 - EXT2_NDIR_BLOCKS) / per != (lblk - EXT2_NDIR_BLOCKS) / per))
		e = ext2fs_bmap2(w->fs, ino, inode, NULL, BMAP_SET | BMAP_ALLOC, lblk, NULL, &none);
	if (!e && !a->goal)
		a->goal = ext2fs_find_inode_goal(w->fs, ino, inode, lblk);
	if (!e)
		e = ext2fs_new_block2(w->fs, a->goal, NULL, pblk);
	if (e)
		return e2_error(err, e, "cannot allocate a block for '%s'", path);
	ext2fs_block_alloc_stats2(w->fs, *pblk, +1);
	e = ext2fs_bmap2(w->fs, ino, inode, NULL, BMAP_SET, lblk, NULL, pblk);
	if (!e)
		e = ext2fs_iblk_add_blocks(w->fs, inode, 1);
	if (e)
		return e2_error(err, e, "cannot map a block of '%s'", path);
	a->goal = *pblk + 1;
	a->last = lblk + 1;
	return 0;
}

/* A file of a directory source, opened again by its path (pass 1 read it
 * for the hash and the zero blocks but kept no copy): it must still be a
 * regular file of the size read then. */
static int reopen(struct ext2w *w, const struct mkl_node *n, const char *path, struct mkl_err *err)
{
	int fd = openat(w->root_fd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;

	if (fd < 0)
		return mkl_error(err, errno, "cannot open '%s/%s'", w->root, path);
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != n->size) {
		close(fd);
		return mkl_error(err, 0, "'%s/%s' changed while the image was made (read again: not a "
				 "regular file of %" PRIu64 " bytes)", w->root, path, n->size);
	}
	return fd;
}

static int read_again(struct ext2w *w, int fd, uint64_t pos, size_t len, const char *path,
		      struct mkl_err *err)
{
	ssize_t got = mkl_pread_full(fd, w->buf, len, pos, path, err);

	if (got >= 0 && (size_t)got < len)
		mkl_error(err, 0, "'%s/%s' changed while the image was made (shorter when read again)",
			  w->root, path);
	return got >= 0 && (size_t)got == len ? 0 : -1;
}

/* A regular file: each chunk from the scratch file is cut into blocks;
 * blocks with data get a block each (ext2fs_bmap2 allocates it next to the
 * one before, and the indirect blocks as they are needed), then runs of
 * physically consecutive blocks go out in one write. All-zero blocks are
 * left unmapped: holes. */
static int write_file(struct ext2w *w, struct mkl_node *n, ext2_ino_t ino, struct ext2_inode_large *in,
		      const char *path, struct mkl_err *err)
{
	const struct spool_rec *rec = n->data;
	uint32_t bsize = w->block_size;
	uint64_t pos = 0;
	struct alloc_pos apos = { 0, 0 };
	int fd = -1;
	errcode_t e;

	e = ext2fs_inode_size_set(w->fs, (struct ext2_inode *)in, n->size);
	if (e)
		return e2_error(err, e, "cannot set the size of '%s'", path);
	if (write_inode(w, ino, in, path, err))
		return -1;
	if (!n->size)
		return 0;
	if (!rec)
		return mkl_error(err, EIO, "no content recorded for '%s'", path);
	if (w->root_fd >= 0 && (fd = reopen(w, n, path, err)) < 0)
		return -1;
	while (pos < n->size) {
		size_t len = n->size - pos < CHUNK ? (size_t)(n->size - pos) : CHUNK;
		size_t nb = (len + bsize - 1) / bsize, k = 0;
		blk64_t lblk0 = pos / bsize;

		if (mkl_cancelled()) {
			mkl_error(err, ECANCELED, "writing '%s'", path);
			goto fail;
		}
		if (fd >= 0 ? read_again(w, fd, pos, len, path, err)
			    : mkl_spool_read(&w->spool, &rec->at, pos, w->buf, len, path, err))
			goto fail;
		memset(w->buf + len, 0, nb * bsize - len);
		for (size_t i = 0; i < nb; i++) {
			w->pblk[i] = 0;
			if (is_zero(w->buf + i * bsize, bsize))
				continue;
			if (alloc_data_block(w, ino, in, lblk0 + i, &apos, &w->pblk[i], path, err))
				goto fail;
		}
		while (k < nb) {
			size_t start;

			if (!w->pblk[k]) {
				k++;
				continue;
			}
			start = k++;
			while (k < nb && w->pblk[k] == w->pblk[k - 1] + 1)
				k++;
			/* Straight to the file, past libext2fs's block cache: a
			 * write through it of more than 4 blocks first flushes
			 * every cached metadata block (one pwrite each), and a
			 * smaller one evicts them. Data blocks are never in that
			 * cache (alloc_data_block does not zero them through
			 * it), so nothing there goes stale. */
			if (mkl_pwrite_all(w->out_fd, w->buf + start * bsize, (k - start) * bsize,
					   (uint64_t)w->pblk[start] * bsize, "the image", err)) {
				mkl_err_prefix(err, "'%s'", path);
				goto fail;
			}
		}
		pos += len;
	}
	if (fd >= 0)
		close(fd);
	return write_inode(w, ino, in, path, err);
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

static int write_symlink(struct ext2w *w, struct mkl_node *n, ext2_ino_t ino, struct ext2_inode_large *in,
			 const char *path, struct mkl_err *err)
{
	size_t len = strlen(n->target);

	in->i_size = (__u32)len;
	if (len <= FAST_LINK_MAX) {
		memcpy(in->i_block, n->target, len);
		return write_inode(w, ino, in, path, err);
	}
	if (len >= w->block_size)
		return mkl_error(err, ENAMETOOLONG, "symbolic link '%s' (%zu bytes) is longer than a "
				 "%" PRIu32 "-byte block can hold", path, len, w->block_size);
	if (write_inode(w, ino, in, path, err))
		return -1;
	memset(w->buf, 0, w->block_size);
	memcpy(w->buf, n->target, len);
	return put_block(w, ino, in, 0, w->buf, 0, path, err);
}

static int write_xattrs(struct ext2w *w, struct mkl_node *n, ext2_ino_t ino, const char *path,
			struct mkl_err *err)
{
	struct ext2_xattr_handle *h = NULL;
	const struct mkl_xattr *x;
	errcode_t e;

	e = ext2fs_xattrs_open(w->fs, ino, &h);
	if (!e)
		e = ext2fs_xattrs_read(h);
	if (e) {
		if (h)
			ext2fs_xattrs_close(&h);
		return e2_error(err, e, "cannot store the xattrs of '%s'", path);
	}
	for (x = n->xattrs; x; x = x->next) {
		e = ext2fs_xattr_set(h, x->name, x->value, x->size);
		if (e) {
			ext2fs_xattrs_close(&h);
			return e2_error(err, e, "cannot store xattr '%s' of '%s' (%zu bytes; the xattrs of "
					"an inode must fit in its spare room and one %" PRIu32 "-byte block)",
					x->name, path, x->size, w->block_size);
		}
	}
	e = ext2fs_xattrs_close(&h);
	return e ? e2_error(err, e, "cannot store the xattrs of '%s'", path) : 0;
}

static int write_node(void *ctx, struct mkl_node *name, struct mkl_err *err)
{
	struct ext2w *w = ctx;
	struct mkl_node *n = mkl_node_inode(name);
	ext2_ino_t ino = n->inode;
	struct ext2_inode_large in;
	char *path;
	int rc = -1;

	if (ext2fs_test_inode_bitmap2(w->fs->inode_map, ino))
		return 0;	/* a hard link: written at its first name */
	if (mkl_cancelled())
		return mkl_error(err, ECANCELED, "writing the ext2 image");
	path = mkl_node_path(n);
	if (!path)
		return mkl_error(err, ENOMEM, "out of memory");
	if (mkl_is_dir(n) ? n->nlink > LINK_MAX_DIR : n->nlink > LINK_MAX_FILE) {
		mkl_error(err, EMLINK, "'%s' has %" PRIu32 " links, more than ext2 holds", path, n->nlink);
		goto out;
	}
	memset(&in, 0, sizeof(in));
	in.i_mode = (__u16)n->mode;
	in.i_uid = (__u16)n->uid;
	ext2fs_set_i_uid_high(in, n->uid >> 16);
	in.i_gid = (__u16)n->gid;
	ext2fs_set_i_gid_high(in, n->gid >> 16);
	in.i_links_count = (__u16)n->nlink;
	in.i_extra_isize = EXTRA_ISIZE;
	set_time(&in, n->implicit ? w->time : n->mtime);
	ext2fs_inode_alloc_stats2(w->fs, ino, +1, mkl_is_dir(n));

	switch (n->mode & S_IFMT) {
	case S_IFDIR:
		rc = write_dir(w, n, ino, &in, path, err);
		break;
	case S_IFREG:
		rc = write_file(w, n, ino, &in, path, err);
		break;
	case S_IFLNK:
		rc = write_symlink(w, n, ino, &in, path, err);
		break;
	case S_IFCHR:
	case S_IFBLK: {
		unsigned int ma = major(n->rdev), mi = minor(n->rdev);

		if (ma < 256 && mi < 256)
			in.i_block[0] = ma << 8 | mi;
		else
			in.i_block[1] = (mi & 0xff) | ma << 8 | (mi & ~0xffu) << 12;
		rc = write_inode(w, ino, &in, path, err);
		break;
	}
	case S_IFIFO:
	case S_IFSOCK:
		rc = write_inode(w, ino, &in, path, err);
		break;
	default:
		mkl_error(err, 0, "'%s' has an unknown file type (mode %06o)", path, n->mode);
		break;
	}
	if (rc == 0 && n->xattrs)
		rc = write_xattrs(w, n, ino, path, err);
out:
	free(path);
	return rc;
}

/* --- the whole ------------------------------------------------------------ */

int mkl_ext2_check_label(const char *label, struct mkl_err *err)
{
	size_t n = strlen(label);

	if (n == 0 || n > MKL_EXT2_LABEL_MAX)
		return mkl_error(err, 0, "label '%s' is not 1 to %d bytes", label, MKL_EXT2_LABEL_MAX);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)label[i] < 0x20 || label[i] == 0x7f)
			return mkl_error(err, 0, "label '%s' holds a control character", label);
	return 0;
}

/* Add lost+found when the source has none (before the tree is finished). */
static int add_lost_found(struct ext2w *w, struct mkl_err *err)
{
	struct mkl_node *n = mkl_tree_lookup(w->tree, "lost+found");

	if (n && !mkl_is_dir(n))
		return mkl_error(err, 0, "'lost+found' in the source is not a directory");
	if (!n) {
		struct mkl_stat st = { .mode = S_IFDIR | 0700, .mtime = w->time };

		if (mkl_tree_add(w->tree, "lost+found", &st, &n, err))
			return -1;
		w->lpf_made = true;
	}
	w->lpf = n;
	return 0;
}

static void set_super(struct ext2w *w, const uint8_t uuid[16])
{
	struct ext2_super_block *s = w->fs->super;
	const struct mkl_ext2_opts *o = w->o;
	uint64_t t = (uint64_t)w->time;
	uint64_t a = hash_final(&w->h, 0x5eed5eed5eed5eedull), b = hash_final(&w->h, 0xa5a5a5a5a5a5a5a5ull);

	memcpy(s->s_uuid, uuid, 16);
	for (int i = 0; i < 2; i++) {
		s->s_hash_seed[i] = (__u32)(a >> (32 * i));
		s->s_hash_seed[2 + i] = (__u32)(b >> (32 * i));
	}
	s->s_def_hash_version = EXT2_HASH_HALF_MD4;
	s->s_flags |= EXT2_FLAGS_SIGNED_HASH;
	memset(s->s_volume_name, 0, sizeof(s->s_volume_name));
	if (o->label)
		memcpy(s->s_volume_name, o->label, strlen(o->label));
	s->s_mkfs_time = s->s_wtime = s->s_lastcheck = (__u32)t;
	s->s_mkfs_time_hi = s->s_wtime_hi = s->s_lastcheck_hi = (__u8)(t >> 32);
	s->s_mtime = 0;
	s->s_mtime_hi = 0;
	s->s_max_mnt_count = -1;
	s->s_checkinterval = 0;
	s->s_default_mount_opts = EXT2_DEFM_XATTR_USER | EXT2_DEFM_ACL;
	s->s_min_extra_isize = s->s_want_extra_isize = EXTRA_ISIZE;
	ext2fs_r_blocks_count_set(s, 0);
	w->fs->now = w->time ? (time_t)w->time : 1;
	ext2fs_mark_super_dirty(w->fs);
}

static void make_uuid(struct ext2w *w, uint64_t blocks, uint8_t uuid[16])
{
	struct hash h = w->h;
	uint64_t a, b;

	if (w->o->label)
		hash_str(&h, w->o->label);
	hash_u64(&h, blocks);
	hash_u64(&h, w->block_size);
	hash_u64(&h, (uint64_t)w->time);
	a = hash_final(&h, 0x0123456789abcdefull);
	b = hash_final(&h, 0xfedcba9876543210ull);
	for (int i = 0; i < 8; i++) {
		uuid[i] = (uint8_t)(a >> (56 - 8 * i));
		uuid[8 + i] = (uint8_t)(b >> (56 - 8 * i));
	}
	uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x40);	/* version 4 layout */
	uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80);	/* RFC 4122 variant */
}

static int write_image(struct ext2w *w, int fd, struct mkl_ext2_stats *stats, struct mkl_err *err)
{
	const struct mkl_ext2_opts *o = w->o;
	uint64_t content, need, blocks, ninodes, used, bytes;
	uint32_t bsize = o->block_size;
	char dev[64];
	uint8_t uuid[16];
	struct stat fst;
	errcode_t e;

	w->out_fd = fd;
	if (mkl_tree_walk(w->tree, number_node, w, err))
		return -1;
	/* The block size: given, or from the image's size (or the content's
	 * at 1 KiB blocks). */
	if (!bsize) {
		uint64_t est = o->size;

		if (!est) {
			if (count_blocks(w, 1024, &content, err))
				return -1;
			est = content * 1024 + (uint64_t)w->next_ino * INODE_SIZE;
		}
		bsize = est < MKL_EXT2_SMALL_LIMIT ? 1024 : 4096;
	}
	w->block_size = bsize;
	if (count_blocks(w, bsize, &content, err))
		return -1;

	/* Inodes: the numbers used (1 to 10 are reserved), plus slack. */
	used = w->next_ino - 1;
	ninodes = used + used / 10 + 16;
	if (o->inodes)
		ninodes = o->inodes > used ? o->inodes : used;
	else if (o->size && o->size / (bsize == 1024 ? 4096 : 16384) > ninodes)
		ninodes = o->size / (bsize == 1024 ? 4096 : 16384);
	if (ninodes > UINT32_MAX)
		return mkl_error(err, 0, "too many inodes for ext2 (%" PRIu64 ")", ninodes);

	snprintf(dev, sizeof(dev), "/proc/self/fd/%d", fd);
	if (access(dev, R_OK | W_OK))
		return mkl_error(err, errno, "cannot reopen the output as '%s' (is /proc mounted?)", dev);
	if (o->size) {
		/* The inodes the size calls for; if the content does not fit
		 * with them, as few as the content needs (plus slack). */
		uint64_t tries[2] = { ninodes, o->inodes ? ninodes : used + used / 10 + 16 };
		uint64_t least = 0;
		ext2_filsys min = NULL;

		blocks = o->size / bsize;
		for (int i = 0; i < 2 && !w->fs; i++) {
			if (i && tries[1] >= tries[0])
				break;
			e = blocks > 16 ? trial(dev, bsize, blocks, (uint32_t)tries[i], &w->fs) : EXT2_ET_TOOSMALL;
			if (e && e != EXT2_ET_TOOSMALL && e != EXT2_ET_TOO_MANY_INODES)
				return e2_error(err, e, "cannot lay out a filesystem of %" PRIu64 " bytes", o->size);
			if (!e && ext2fs_free_blocks_count(w->fs->super) < content) {
				ext2fs_free(w->fs);
				w->fs = NULL;
			}
		}
		if (!w->fs) {
			if (fit(dev, bsize, content, (uint32_t)tries[1], &min, err))
				return -1;
			/* fit() returns 0 only with min set; the analyzer does not
			 * follow e2_error (variadic) to its -1. */
			/* NOLINTNEXTLINE(clang-analyzer-core.NullDereference) */
			least = ext2fs_blocks_count(min->super) * bsize;
			ext2fs_free(min);
			return mkl_error(err, 0, "%" PRIu64 " bytes are too small for the content: it needs "
					 "at least %" PRIu64 " bytes (%" PRIu64 " KiB) with %" PRIu32 "-byte blocks",
					 o->size, least, (least + 1023) / 1024, bsize);
		}
	} else {
		need = content + content / 20 + 64;
		if (fit(dev, bsize, need, (uint32_t)ninodes, &w->fs, err))
			return -1;
	}
	blocks = ext2fs_blocks_count(w->fs->super);
	bytes = blocks * bsize;
	if (o->uuid)
		memcpy(uuid, o->uuid, 16);
	else
		make_uuid(w, blocks, uuid);
	set_super(w, uuid);

	/* A zeroed file of the final length. Emptied first only when it is
	 * not empty: ext4 takes a file cut to 0 and written again for a
	 * replaced file and starts writing it back at its close (20 ms of a
	 * 0.3 s run here); a new output file is empty already. */
	if (fstat(fd, &fst) || (fst.st_size && ftruncate(fd, 0)) || ftruncate(fd, (off_t)bytes))
		return mkl_error(err, errno, "cannot size the image to %" PRIu64 " bytes", bytes);
	e = ext2fs_allocate_tables(w->fs);
	if (e)
		return e2_error(err, e, "cannot place the inode tables");
	for (ext2_ino_t i = EXT2_BAD_INO; i < FIRST_INO; i++)
		if (i != EXT2_ROOT_INO)
			ext2fs_inode_alloc_stats2(w->fs, i, +1, 0);
	if (mkl_tree_walk(w->tree, write_node, w, err))
		return -1;

	if (stats) {
		memset(stats, 0, sizeof(*stats));
		stats->block_size = bsize;
		stats->blocks = blocks;
		stats->free_blocks = ext2fs_free_blocks_count(w->fs->super);
		stats->inodes = w->fs->super->s_inodes_count;
		stats->free_inodes = w->fs->super->s_free_inodes_count;
		stats->bytes = bytes;
		stats->files = w->files;
		memcpy(stats->uuid, uuid, 16);
	}
	e = ext2fs_close2(w->fs, EXT2_FLAG_FLUSH_NO_SYNC);
	if (e) {
		/* ext2fs_close2 frees only on success. */
		e2_error(err, e, "cannot write the super block and bitmaps");
		return -1;
	}
	w->fs = NULL;
	return 0;
}

int mkl_ext2_write(int fd, const struct mkl_ext2_opts *opts, struct mkl_source *src,
		   struct mkl_ext2_stats *stats, struct mkl_err *err)
{
	struct ext2w w;
	struct spool_rec *rec;
	int rc = -1;

	memset(&w, 0, sizeof(w));
	w.o = opts;
	w.spool.fd = -1;
	w.root_fd = -1;
	w.next_ino = FIRST_INO + 1;
	hash_init(&w.h);
	if (opts->label && mkl_ext2_check_label(opts->label, err))
		return -1;
	if (opts->block_size && opts->block_size != 1024 && opts->block_size != 2048 &&
	    opts->block_size != 4096)
		return mkl_error(err, 0, "block size %" PRIu32 " is not 1024, 2048 or 4096", opts->block_size);
	if (!src && !opts->size)
		return mkl_error(err, 0, "an empty ext2 image needs a size");

	w.tree = mkl_tree_create(err);
	w.buf = mkl_malloc(CHUNK, err);
	w.pblk = mkl_calloc(CHUNK / 1024, sizeof(*w.pblk), err);
	if (!w.tree || !w.buf || !w.pblk)
		goto out;
	if (src && (w.root = mkl_source_dir_root(src))) {
		w.root_fd = open(w.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (w.root_fd < 0) {
			mkl_error(err, errno, "cannot open '%s'", w.root);
			goto out;
		}
	}
	if (src && ((w.root_fd < 0 && mkl_spool_open(&w.spool, opts->scratch_near, err)) ||
		    read_source(&w, src, err)))
		goto out;
	w.time = opts->time >= 0 ? opts->time : w.any_entry ? w.newest : 0;
	hash_u64(&w.h, (uint64_t)w.time);
	if (add_lost_found(&w, err) || mkl_tree_finish(w.tree, err))
		goto out;
	rc = write_image(&w, fd, stats, err);
out:
	if (w.fs)
		ext2fs_free(w.fs);
	mkl_spool_close(&w.spool);
	if (w.root_fd >= 0)
		close(w.root_fd);
	while ((rec = w.recs)) {
		w.recs = rec->next;
		free(rec);
	}
	mkl_tree_destroy(w.tree);
	free(w.buf);
	free(w.pblk);
	free(w.dirbuf);
	return rc;
}
