/* The dm-verity hash tree of an image, made while the image is written.
 *
 * Format: what `veritysetup format` writes by default and the kernel's
 * dm-verity reads: hash format version 1, SHA-256, 4096-byte data and hash
 * blocks, each hash SHA-256(salt || block), the levels stored top first
 * after a 4096-byte block holding veritysetup's superblock (so that
 * `veritysetup verify DATA HASH ROOT --hash-offset=N` needs no other
 * parameter). The tree follows the data in the same file.
 *
 * Use: note every write to the image (mkl_verity_write, any offset, in
 * any order) and every truncation; a write that continues where the
 * written bytes end is hashed at once, block by block, from the caller's
 * buffer (no read back); a write over blocks already hashed (libsquashfs
 * rewrites its superblock at offset 0 last) marks them, and only those are
 * read back and hashed again at the end. A truncation into the last
 * hashed block reads that block's kept part back (at most 4 KiB).
 * mkl_verity_finish then builds the upper levels (0.8 % of the image:
 * held in memory) and writes superblock and tree after the data.
 *
 * The salt is the caller's: mklive derives it from the build time
 * (SOURCE_DATE_EPOCH), so equal builds give equal trees.
 */
#ifndef MKL_VERITY_H
#define MKL_VERITY_H

#include <stddef.h>
#include <stdint.h>

#include "tree/err.h"

#define MKL_VERITY_BLOCK 4096u
#define MKL_VERITY_DIGEST 32u	/* SHA-256 */
#define MKL_VERITY_SALT 32u

struct mkl_verity;

struct mkl_verity *mkl_verity_new(const unsigned char salt[MKL_VERITY_SALT], struct mkl_err *err);
void mkl_verity_free(struct mkl_verity *v);	/* accepts NULL */

/* The image's bytes [off, off + n) are now buf. -1 (ENOMEM, or libcrypto
 * failing) with err; the tree is then unusable. */
int mkl_verity_write(struct mkl_verity *v, uint64_t off, const void *buf, size_t n,
		     struct mkl_err *err);
/* The image is now size bytes long; its bytes are at `at` in fd (read back
 * when the cut falls inside a hashed block). */
int mkl_verity_truncate(struct mkl_verity *v, uint64_t size, int fd, uint64_t at,
			struct mkl_err *err);

struct mkl_verity_result {
	uint64_t data_bytes;	/* the data the tree covers (the image) */
	uint64_t hash_offset;	/* where the superblock starts: data_bytes */
	uint64_t tree_bytes;	/* superblock block + hash levels */
	unsigned levels;
	unsigned char root[MKL_VERITY_DIGEST];
	unsigned char salt[MKL_VERITY_SALT];
	char root_hex[2 * MKL_VERITY_DIGEST + 1];
};

/* The image is whole: its data_bytes (a multiple of 4096, all written
 * and noted) are at `at` in fd. Hash the blocks rewritten since, build the
 * tree and write superblock + tree at at + data_bytes. */
int mkl_verity_finish(struct mkl_verity *v, int fd, uint64_t at, uint64_t data_bytes,
		      struct mkl_verity_result *res, struct mkl_err *err);

/* The salt mklive uses for a build at `time` (SOURCE_DATE_EPOCH or now):
 * SHA-256 of a fixed text and the time. */
void mkl_verity_salt(int64_t time, unsigned char salt[MKL_VERITY_SALT]);

#endif
