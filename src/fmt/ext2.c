/* ext2 image writer on libext2fs (see ext2.h).
 *
 * Two passes:
 *
 *  1. Read the source to its end into a tree (tree/tree.h: later entries
 *     replace earlier ones, a tar may name a file before its directory)
 *     and copy every regular file's content of a tar into an unnamed
 *     scratch spool (tree/io.h), in chunks of 1 MiB; a directory's files
 *     are only read, and opened again by their paths in pass 2 (checked
 *     to be regular files of the same size). While reading, each 1 KiB
 *     piece is checked for zeros (for the count of blocks a file needs
 *     once its zero blocks are holes, at 1, 2 and 4 KiB blocks) and hashed
 *     with the metadata into the seed of the UUID. Chunks that are all
 *     zeros are not written, so the scratch file is sparse where the
 *     input is.
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
 *     the block's end), regular files block-mapped (data blocks taken with
 *     ext2fs_new_block2 and set with ext2fs_bmap2(BMAP_SET), never zeroed
 *     first; indirect blocks by BMAP_ALLOC) with runs of consecutive
 *     blocks written in one pwrite past libext2fs's block cache and
 *     all-zero blocks left unmapped, symlinks in the inode (below 60 bytes) or in one
 *     block, device numbers in i_block as the kernel stores them, xattrs
 *     through ext2fs_xattr_set() (an inode's xattrs that do not fit in its
 *     spare room and one block are an error naming the file: dropping a
 *     security.capability would break the system silently).
 *
 * Inodes are written whole (ext2fs_write_inode_full) with every time field
 * set, never through ext2fs_write_new_inode(), which would stamp the
 * current time; fs->now is set to the image time for what libext2fs itself
 * stamps (the super block's write time; libext2fs reads 0 as "now", so an
 * image time of 0 gives a write time of 1 s). The output file is emptied
 * (when not empty: ext4 flushes a file cut to 0 at its close) and made
 * full length first, so blocks nothing writes (unused inode table, free
 * blocks, a data block's tail) read as zeros. libext2fs opens its device by name: the
 * image is reached as /proc/self/fd/N, so the caller's unnamed output
 * file (tree/outfile.h) is written in place and named only when complete.
 * The final flush skips fsync (EXT2_FLAG_FLUSH_NO_SYNC): the caller's
 * commit is what makes the file appear.
 */
#include "fmt/ext2_int.h"

#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <et/com_err.h>

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

int ext2_error(struct mkl_err *err, errcode_t code, const char *fmt, ...)
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
	uint64_t a = ext2_hash_final(&w->h, 0x5eed5eed5eed5eedull), b = ext2_hash_final(&w->h, 0xa5a5a5a5a5a5a5a5ull);

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
		ext2_hash_str(&h, w->o->label);
	ext2_hash_u64(&h, blocks);
	ext2_hash_u64(&h, w->block_size);
	ext2_hash_u64(&h, (uint64_t)w->time);
	a = ext2_hash_final(&h, 0x0123456789abcdefull);
	b = ext2_hash_final(&h, 0xfedcba9876543210ull);
	for (int i = 0; i < 8; i++) {
		uuid[i] = (uint8_t)(a >> (56 - 8 * i));
		uuid[8 + i] = (uint8_t)(b >> (56 - 8 * i));
	}
	uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x40);	/* version 4 layout */
	uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80);	/* RFC 4122 variant */
}

/* Pass 2 from numbering to the final flush. Long (about 120 lines): one
 * sequence of steps over shared figures (block size, content, inode
 * count, the trial filesystem kept), where a given --size needs its own
 * search for the inode count and its own message. */
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
	if (mkl_tree_walk(w->tree, ext2_number_node, w, err))
		return -1;
	/* The block size: given, or from the image's size (or the content's
	 * at 1 KiB blocks). */
	if (!bsize) {
		uint64_t est = o->size;

		if (!est) {
			if (ext2_count_blocks(w, 1024, &content, err))
				return -1;
			est = content * 1024 + (uint64_t)w->next_ino * INODE_SIZE;
		}
		bsize = est < MKL_EXT2_SMALL_LIMIT ? 1024 : 4096;
	}
	w->block_size = bsize;
	if (ext2_count_blocks(w, bsize, &content, err))
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
			e = blocks > 16 ? ext2_trial(dev, bsize, blocks, (uint32_t)tries[i], &w->fs) : EXT2_ET_TOOSMALL;
			if (e && e != EXT2_ET_TOOSMALL && e != EXT2_ET_TOO_MANY_INODES)
				return ext2_error(err, e, "cannot lay out a filesystem of %" PRIu64 " bytes", o->size);
			if (!e && ext2fs_free_blocks_count(w->fs->super) < content) {
				ext2fs_free(w->fs);
				w->fs = NULL;
			}
		}
		if (!w->fs) {
			if (ext2_fit(dev, bsize, content, (uint32_t)tries[1], &min, err))
				return -1;
			/* ext2_fit() returns 0 only with min set; the analyzer does not
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
		if (ext2_fit(dev, bsize, need, (uint32_t)ninodes, &w->fs, err))
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
		return ext2_error(err, e, "cannot place the inode tables");
	for (ext2_ino_t i = EXT2_BAD_INO; i < FIRST_INO; i++)
		if (i != EXT2_ROOT_INO)
			ext2fs_inode_alloc_stats2(w->fs, i, +1, 0);
	if (mkl_tree_walk(w->tree, ext2_write_node, w, err))
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
		ext2_error(err, e, "cannot write the super block and bitmaps");
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
	ext2_hash_init(&w.h);
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
		    ext2_read_source(&w, src, err)))
		goto out;
	w.time = opts->time >= 0 ? opts->time : w.any_entry ? w.newest : 0;
	ext2_hash_u64(&w.h, (uint64_t)w.time);
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

