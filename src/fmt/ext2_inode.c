/* ext2 pass 2, writing (see ext2_int.h): every inode whole with its
 * times, directories as packed blocks, files block-mapped with runs of
 * blocks written in one go and zero blocks left as holes, symlinks,
 * devices and xattrs. */
#include "fmt/ext2_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

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

	return e ? ext2_error(err, e, "cannot write the inode of '%s'", path) : 0;
}

/* Allocate logical block lblk of an inode and write one block there. */
static int put_block(struct ext2w *w, ext2_ino_t ino, struct ext2_inode_large *in, blk64_t lblk,
		     const void *data, int is_dir, const char *path, struct mkl_err *err)
{
	blk64_t pblk = 0;
	errcode_t e;

	e = ext2fs_bmap2(w->fs, ino, (struct ext2_inode *)in, NULL, BMAP_ALLOC, lblk, NULL, &pblk);
	if (e)
		return ext2_error(err, e, "cannot allocate a block for '%s'", path);
	if (is_dir)
		e = ext2fs_write_dir_block4(w->fs, pblk, (void *)data, 0, ino);
	else
		e = io_channel_write_blk64(w->fs->io, pblk, 1, data);
	return e ? ext2_error(err, e, "cannot write a block of '%s'", path) : 0;
}

static int write_dir(struct ext2w *w, struct mkl_node *n, ext2_ino_t ino, struct ext2_inode_large *in,
		     const char *path, struct mkl_err *err)
{
	uint32_t bsize = w->block_size;
	uint64_t nb = ext2_dir_layout(n, bsize, NULL, n == w->lpf ? ext2_lpf_blocks(bsize) : 1);
	size_t len = (size_t)nb * bsize;

	if (len > w->dircap) {
		unsigned char *p = realloc(w->dirbuf, len);

		if (!p)
			return mkl_error(err, ENOMEM, "out of memory (directory '%s')", path);
		w->dirbuf = p;
		w->dircap = len;
	}
	memset(w->dirbuf, 0, len);
	ext2_dir_layout(n, bsize, w->dirbuf, nb);
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
		return ext2_error(err, e, "cannot allocate a block for '%s'", path);
	ext2fs_block_alloc_stats2(w->fs, *pblk, +1);
	e = ext2fs_bmap2(w->fs, ino, inode, NULL, BMAP_SET, lblk, NULL, pblk);
	if (!e)
		e = ext2fs_iblk_add_blocks(w->fs, inode, 1);
	if (e)
		return ext2_error(err, e, "cannot map a block of '%s'", path);
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
		return ext2_error(err, e, "cannot set the size of '%s'", path);
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
			if (ext2_is_zero(w->buf + i * bsize, bsize))
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
		return ext2_error(err, e, "cannot store the xattrs of '%s'", path);
	}
	for (x = n->xattrs; x; x = x->next) {
		e = ext2fs_xattr_set(h, x->name, x->value, x->size);
		if (e) {
			ext2fs_xattrs_close(&h);
			return ext2_error(err, e, "cannot store xattr '%s' of '%s' (%zu bytes; the xattrs of "
					"an inode must fit in its spare room and one %" PRIu32 "-byte block)",
					x->name, path, x->size, w->block_size);
		}
	}
	e = ext2fs_xattrs_close(&h);
	return e ? ext2_error(err, e, "cannot store the xattrs of '%s'", path) : 0;
}

int ext2_write_node(void *ctx, struct mkl_node *name, struct mkl_err *err)
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

