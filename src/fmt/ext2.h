/* ext2 image writer on libext2fs (e2fsprogs), without root, mounts, loop
 * devices or helper processes: a filesystem image in a regular file, made
 * from a source (a directory or a tar archive, see source/source.h) or
 * empty (a persistence image, or one an initrd is built into later).
 *
 * What the image holds:
 *   - revision 1 ext2, 256-byte inodes (room for in-inode xattrs and
 *     timestamps past 2038 for the ext4 driver), features ext_attr,
 *     dir_index, filetype, sparse_super, large_file; no resize_inode, no
 *     journal, no reserved blocks (s_r_blocks_count 0), no mount-count or
 *     interval checks;
 *   - every entry of the source with its owner, mode (setuid, setgid and
 *     sticky bits too), mtime (also used for atime, ctime and crtime),
 *     symlink (fast symlinks below 60 bytes, else one block), device node
 *     (old and new encodings as the kernel writes them), fifo, socket,
 *     hard links (one inode, right link count) and xattrs (security.*,
 *     trusted.*, user.*; libext2fs stores them in the inode's spare room
 *     when they fit, else in one xattr block; more than that holds is an
 *     error naming the file, never a silent loss);
 *   - zero-filled blocks of regular files are left as holes; reading them
 *     gives the same bytes;
 *   - lost+found (mode 0700, 16 KiB or 12 blocks, as mke2fs makes it) when
 *     the source has none.
 *
 * Reproducible: two runs on the same input with the same options give the
 * same bytes. Entries are laid out in sorted pre-order (the tree's order,
 * whatever the order of a tar), inode numbers are given in that order from
 * 12 (lost+found is 11), blocks are allocated in that order; the UUID and
 * the directory hash seed are derived from a hash of the input (paths,
 * metadata and contents), the label and the options unless given; the
 * filesystem's own times (creation, last write, last check) are opts->time.
 *
 * Directories are written linear (one block after another, entries sorted
 * by name); the kernel indexes a directory when it grows past one block.
 */
#ifndef MKL_EXT2_H
#define MKL_EXT2_H

#include <stdint.h>

#include "tree/err.h"
#include "source/source.h"

#define MKL_EXT2_LABEL_MAX 16		/* bytes in s_volume_name */
#define MKL_EXT2_SMALL_LIMIT (512ull << 20)	/* below: 1 KiB blocks */

struct mkl_ext2_opts {
	/* Image size in bytes (rounded down to whole blocks); 0: sized to
	 * the content, with 5 % + 64 blocks and 10 % + 16 inodes free. */
	uint64_t size;
	/* 1024, 2048 or 4096; 0: 1024 for images below 512 MiB (the content
	 * estimate when size is 0), else 4096 (what mke2fs.conf calls
	 * "small" and "default"). */
	uint32_t block_size;
	/* Inodes; 0: one per 4 KiB (1 KiB blocks) or per 16 KiB (larger
	 * blocks) of a given size, or the content's count plus slack. More
	 * are made when the content needs them. */
	uint32_t inodes;
	const char *label;		/* up to 16 bytes; NULL: none */
	/* The filesystem's times, and those of entries the source does not
	 * describe (lost+found, directories a tar implies); -1: the newest
	 * mtime of the input (0 for an empty image). */
	int64_t time;
	const uint8_t *uuid;		/* 16 bytes; NULL: derived */
	/* Where a scratch file for the contents of the source goes (its
	 * directory is used); NULL: $TMPDIR or /tmp. */
	const char *scratch_near;
};

struct mkl_ext2_stats {
	uint32_t block_size;
	uint64_t blocks, free_blocks;	/* of the filesystem */
	uint32_t inodes, free_inodes;
	uint64_t bytes;			/* the image's size */
	uint64_t files;			/* entries written, root included */
	uint8_t uuid[16];
};

/* Check a label: 1 to 16 bytes, no control characters. */
int mkl_ext2_check_label(const char *label, struct mkl_err *err);

/* Write the image into fd, an open regular file (emptied first). src may
 * be NULL for an empty filesystem (then opts->size must be given); it is
 * read to its end, not closed. The contents of the source are held in an
 * unnamed scratch file while the size is worked out. Fails naming the
 * entry on a bad entry (a symlink longer than a block, xattrs too big, a
 * non-directory lost+found), and naming both sizes when opts->size is too
 * small. fd is reopened as /proc/self/fd/N (libext2fs opens by name). */
int mkl_ext2_write(int fd, const struct mkl_ext2_opts *opts, struct mkl_source *src,
		   struct mkl_ext2_stats *stats, struct mkl_err *err);

#endif
