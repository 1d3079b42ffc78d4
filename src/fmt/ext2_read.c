/* ext2 pass 1 (see ext2_int.h): the source read to its end into a tree,
 * each regular file's content hashed 1 KiB at a time into the UUID seed,
 * its non-zero blocks counted at 1, 2 and 4 KiB, and the content copied
 * to the spool (a tar) or only read (a directory: pass 2 reads it again). */
#include "fmt/ext2_int.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- hashing and zero detection ------------------------------------------- */

void ext2_hash_init(struct hash *h)
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
uint64_t ext2_hash_bytes(struct hash *h, const void *data, size_t n)
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

void ext2_hash_u64(struct hash *h, uint64_t v)
{
	h->l[1] = hmix(h->l[1], v);
	h->l[3] = hmix(h->l[3], ~v);
}

void ext2_hash_str(struct hash *h, const char *s)
{
	ext2_hash_bytes(h, s, strlen(s) + 1);
}

uint64_t ext2_hash_final(const struct hash *h, uint64_t salt)
{
	uint64_t x = hmix(salt, h->l[0]);

	x = hmix(x, h->l[1]);
	x = hmix(x, h->l[2]);
	x = hmix(x, h->l[3]);
	return hmix(x, salt);
}

int ext2_is_zero(const unsigned char *p, size_t n)
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

		if (ext2_hash_bytes(&c->w->h, data + i, n)) {
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

	ext2_hash_str(h, e->path);
	if (e->hardlink) {
		ext2_hash_u64(h, 1);
		ext2_hash_str(h, e->hardlink);
		return;
	}
	ext2_hash_u64(h, e->st.mode);
	ext2_hash_u64(h, (uint64_t)e->st.uid << 32 | e->st.gid);
	ext2_hash_u64(h, e->st.rdev);
	ext2_hash_u64(h, (uint64_t)e->st.mtime);
	ext2_hash_u64(h, e->st.size);
	if ((e->st.mode & S_IFMT) == S_IFLNK && e->st.target)
		ext2_hash_str(h, e->st.target);
	for (x = e->st.xattrs; x; x = x->next) {
		ext2_hash_str(h, x->name);
		ext2_hash_bytes(h, x->value, x->size);
	}
}

int ext2_read_source(struct ext2w *w, struct mkl_source *src, struct mkl_err *err)
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

