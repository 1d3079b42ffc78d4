/* The dm-verity hash tree, made as the image is written (see verity.h). */
#include "fmt/verity.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fmt/digest.h"
#include "fmt/sha256.h"
#include "tree/io.h"

#define B MKL_VERITY_BLOCK
#define D MKL_VERITY_DIGEST
#define PER_BLOCK (B / D)	/* 128 hashes in a hash block */
#define PER_BLOCK_BITS 7

struct mkl_verity {
	unsigned char salt[MKL_VERITY_SALT];
	struct mkl_digest *d;
	unsigned char *leaf;	/* level 0: the data blocks' hashes, nfull of them */
	uint64_t nfull, cap;
	unsigned char tail[B];	/* the bytes after the last full block */
	size_t tail_len;
	uint64_t *dirty;	/* blocks written again after they were hashed */
	size_t ndirty, dirty_cap;
	int failed;
};

struct mkl_verity *mkl_verity_new(const unsigned char salt[MKL_VERITY_SALT], struct mkl_err *err)
{
	struct mkl_verity *v = mkl_calloc(1, sizeof(*v), err);

	if (!v)
		return NULL;
	memcpy(v->salt, salt, MKL_VERITY_SALT);
	v->d = mkl_digest_new(err);
	if (!v->d) {
		free(v);
		return NULL;
	}
	return v;
}

void mkl_verity_free(struct mkl_verity *v)
{
	if (!v)
		return;
	mkl_digest_free(v->d);
	free(v->leaf);
	free(v->dirty);
	free(v);
}

static int fail(struct mkl_verity *v, struct mkl_err *err, int e, const char *what)
{
	v->failed = 1;
	return mkl_error(err, e, "dm-verity hash tree: %s", what);
}

/* SHA-256(salt || block), format version 1 */
static int hash_block(struct mkl_verity *v, const void *block, unsigned char out[D])
{
	if (mkl_digest_reset(v->d) || mkl_digest_update(v->d, v->salt, MKL_VERITY_SALT) ||
	    mkl_digest_update(v->d, block, B) || mkl_digest_final(v->d, out))
		return -1;
	return 0;
}

static int push_leaf(struct mkl_verity *v, const void *block, struct mkl_err *err)
{
	if (v->nfull == v->cap) {
		uint64_t cap = v->cap ? v->cap * 2 : 1024;
		unsigned char *p = realloc(v->leaf, (size_t)(cap * D));

		if (!p)
			return fail(v, err, ENOMEM, "out of memory");
		v->leaf = p;
		v->cap = cap;
	}
	if (hash_block(v, block, v->leaf + v->nfull * D))
		return fail(v, err, EIO, "SHA-256 failed (libcrypto)");
	v->nfull++;
	return 0;
}

static int mark_dirty(struct mkl_verity *v, uint64_t blk, struct mkl_err *err)
{
	if (v->ndirty && v->dirty[v->ndirty - 1] == blk)
		return 0;
	if (v->ndirty == v->dirty_cap) {
		size_t cap = v->dirty_cap ? v->dirty_cap * 2 : 16;
		uint64_t *p = realloc(v->dirty, cap * sizeof(*p));

		if (!p)
			return fail(v, err, ENOMEM, "out of memory");
		v->dirty = p;
		v->dirty_cap = cap;
	}
	v->dirty[v->ndirty++] = blk;
	return 0;
}

/* Bytes at off (>= the hashed blocks' end, <= the written end) into the
 * tail, hashing each block it completes; NULL buf: zeros. */
static int put(struct mkl_verity *v, uint64_t off, const unsigned char *buf, size_t n,
	       struct mkl_err *err)
{
	while (n > 0) {
		size_t idx = (size_t)(off - v->nfull * B), k = B - idx < n ? B - idx : n;

		if (idx == 0 && k == B && buf) {	/* a whole block: hashed in place */
			if (push_leaf(v, buf, err))
				return -1;
			v->tail_len = 0;
		} else {
			if (buf)
				memcpy(v->tail + idx, buf, k);
			else
				memset(v->tail + idx, 0, k);
			if (idx + k > v->tail_len)
				v->tail_len = idx + k;
			if (v->tail_len == B) {
				if (push_leaf(v, v->tail, err))
					return -1;
				v->tail_len = 0;
			}
		}
		off += k;
		n -= k;
		if (buf)
			buf += k;
	}
	return 0;
}

int mkl_verity_write(struct mkl_verity *v, uint64_t off, const void *data, size_t n,
		     struct mkl_err *err)
{
	const unsigned char *buf = data;
	uint64_t hashed = v->nfull * B, end;

	if (v->failed)
		return mkl_error(err, EIO, "dm-verity hash tree: failed earlier");
	if (n == 0)
		return 0;
	if (off < hashed) {	/* over hashed blocks: again at the end */
		uint64_t e = off + n < hashed ? off + n : hashed;

		for (uint64_t blk = off / B; blk <= (e - 1) / B; blk++)
			if (mark_dirty(v, blk, err))
				return -1;
		buf += e - off;
		n -= (size_t)(e - off);
		off = e;
		if (n == 0)
			return 0;
	}
	end = hashed + v->tail_len;
	if (off > end && put(v, end, NULL, (size_t)(off - end), err))	/* a hole: zeros */
		return -1;
	return put(v, off, buf, n, err);
}

int mkl_verity_truncate(struct mkl_verity *v, uint64_t size, int fd, uint64_t at,
			struct mkl_err *err)
{
	uint64_t end = v->nfull * B + v->tail_len;
	ssize_t r;

	if (v->failed)
		return mkl_error(err, EIO, "dm-verity hash tree: failed earlier");
	if (size >= end)
		return size > end ? put(v, end, NULL, (size_t)(size - end), err) : 0;
	if (size >= v->nfull * B) {
		v->tail_len = (size_t)(size - v->nfull * B);
		return 0;
	}
	/* into hashed blocks: drop them; the one cut in two is read back */
	v->nfull = size / B;
	v->tail_len = (size_t)(size % B);
	while (v->ndirty && v->dirty[v->ndirty - 1] >= v->nfull)
		v->ndirty--;
	if (v->tail_len) {
		r = mkl_pread_full(fd, v->tail, v->tail_len, at + v->nfull * B, "the image", err);
		if (r < 0 || (size_t)r != v->tail_len) {
			if (r >= 0)
				mkl_error(err, EIO, "the image is shorter than its writes");
			v->failed = 1;
			return mkl_err_prefix(err, "dm-verity hash tree");
		}
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* veritysetup's superblock (struct verity_sb, 512 bytes, little-endian) */
static void superblock(unsigned char *sb, const struct mkl_verity *v, uint64_t data_blocks,
		       const unsigned char root[D])
{
	struct mkl_sha256 s;
	unsigned char uuid[MKL_SHA256_LEN];

	memcpy(sb, "verity\0\0", 8);
	put_le(sb + 8, 1, 4);		/* superblock version */
	put_le(sb + 12, 1, 4);		/* hash type: normal (not Chrome OS) */
	/* the UUID of the hash device, derived (veritysetup's is random) */
	mkl_sha256_init(&s);
	mkl_sha256_update(&s, "mklive verity uuid", 18);
	mkl_sha256_update(&s, root, D);
	mkl_sha256_final(&s, uuid);
	uuid[6] = (uuid[6] & 0x0f) | 0x40;
	uuid[8] = (uuid[8] & 0x3f) | 0x80;
	memcpy(sb + 16, uuid, 16);
	memcpy(sb + 32, "sha256", 6);	/* algorithm[32] */
	put_le(sb + 64, B, 4);		/* data block size */
	put_le(sb + 68, B, 4);		/* hash block size */
	put_le(sb + 72, data_blocks, 8);
	put_le(sb + 80, MKL_VERITY_SALT, 2);
	memcpy(sb + 88, v->salt, MKL_VERITY_SALT);
}

int mkl_verity_finish(struct mkl_verity *v, int fd, uint64_t at, uint64_t data_bytes,
		      struct mkl_verity_result *res, struct mkl_err *err)
{
	uint64_t n = data_bytes / B, count[64], total = 0, pos;
	unsigned char *tree = NULL, *level[64], block[B];
	unsigned levels = 0;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	if (v->failed)
		return mkl_error(err, EIO, "dm-verity hash tree: failed earlier");
	if (data_bytes % B || v->tail_len || v->nfull != n || n == 0)
		return mkl_error(err, EINVAL, "dm-verity hash tree: the image is %llu bytes, "
				 "%llu noted: not whole 4 KiB blocks", (unsigned long long)data_bytes,
				 (unsigned long long)(v->nfull * B + v->tail_len));
	/* the blocks written again (the squashfs superblock), read back */
	qsort(v->dirty, v->ndirty, sizeof(*v->dirty), cmp_u64);
	for (size_t i = 0; i < v->ndirty; i++) {
		ssize_t r;

		if (i && v->dirty[i] == v->dirty[i - 1])
			continue;
		r = mkl_pread_full(fd, block, B, at + v->dirty[i] * B, "the image", err);
		if (r != (ssize_t)B) {
			if (r >= 0)
				mkl_error(err, EIO, "the image ends inside block %llu",
					  (unsigned long long)v->dirty[i]);
			return mkl_err_prefix(err, "dm-verity hash tree");
		}
		if (hash_block(v, block, v->leaf + v->dirty[i] * D))
			return fail(v, err, EIO, "SHA-256 failed (libcrypto)");
	}
	v->ndirty = 0;

	/* levels as veritysetup counts them: while (n - 1) >> (7 * levels) */
	while (levels < 9 && (n - 1) >> (PER_BLOCK_BITS * levels))
		levels++;
	/* one data block: no level, the root is its hash (as veritysetup) */
	for (unsigned i = 0; i < levels; i++) {
		count[i] = (n + (1ull << (PER_BLOCK_BITS * (i + 1))) - 1) >> (PER_BLOCK_BITS * (i + 1));
		total += count[i];
	}
	tree = calloc(1 + total, B);	/* the superblock's block, then the levels */
	if (!tree)
		return mkl_error(err, ENOMEM, "dm-verity hash tree: out of memory");
	/* stored top first: level levels-1 right after the superblock */
	pos = 1;
	for (unsigned i = levels; i-- > 0;) {
		level[i] = tree + pos * B;
		pos += count[i];
	}
	if (levels)
		memcpy(level[0], v->leaf, (size_t)(n * D));
	for (unsigned i = 1; i < levels; i++)
		for (uint64_t j = 0; j < count[i - 1]; j++)
			if (hash_block(v, level[i - 1] + j * B, level[i] + j * D)) {
				fail(v, err, EIO, "SHA-256 failed (libcrypto)");
				goto out;
			}
	if (!levels)
		memcpy(res->root, v->leaf, D);
	else if (hash_block(v, level[levels - 1], res->root)) {
		fail(v, err, EIO, "SHA-256 failed (libcrypto)");
		goto out;
	}
	superblock(tree, v, n, res->root);
	if (mkl_pwrite_all(fd, tree, (size_t)((1 + total) * B), at + data_bytes,
			   "the image's dm-verity hash tree", err))
		goto out;
	res->data_bytes = data_bytes;
	res->hash_offset = data_bytes;
	res->tree_bytes = (1 + total) * B;
	res->levels = levels;
	memcpy(res->salt, v->salt, MKL_VERITY_SALT);
	mkl_sha256_hex(res->root, res->root_hex);
	rc = 0;
out:
	free(tree);
	return rc;
}

void mkl_verity_salt(int64_t time, unsigned char salt[MKL_VERITY_SALT])
{
	struct mkl_sha256 s;
	unsigned char t[8];

	put_le(t, (uint64_t)time, 8);
	mkl_sha256_init(&s);
	mkl_sha256_update(&s, "mklive dm-verity salt", 21);
	mkl_sha256_update(&s, t, 8);
	mkl_sha256_final(&s, salt);
}
