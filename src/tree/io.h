/* Reads and writes that finish or say why, whole files into memory, a
 * scratch spool of file contents, and the one small hash of the base layer.
 *
 * Writes: every byte goes out or the error names what was written (a full
 * disk is ENOSPC, also when write() returns 0). EINTR is retried unless
 * the work was cancelled (mkl_cancelled()), which is then the error
 * (ECANCELED). Reads: fewer bytes than asked only at end of file.
 *
 * The spool keeps file contents in an unnamed scratch file while a tree is
 * read (a tar cannot be read twice) and reads ranges of them back later by
 * a per-file record. A filter may leave chunks out (all zeros): the scratch
 * file is sparse there and reads them back as zeros.
 */
#ifndef MKL_IO_H
#define MKL_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tree/err.h"
#include "tree/tree.h"

/* Write all of buf to fd (at its position, or at off). `what` names the
 * file in messages: "writing WHAT: reason". 0 or -1. */
int mkl_write_all(int fd, const void *buf, size_t len, const char *what, struct mkl_err *err);
int mkl_pwrite_all(int fd, const void *buf, size_t len, uint64_t off, const char *what,
		   struct mkl_err *err);
/* len zero bytes. */
int mkl_write_zeros(int fd, uint64_t len, const char *what, struct mkl_err *err);

/* Read len bytes (fewer only at end of file): the count, or -1. */
ssize_t mkl_read_full(int fd, void *buf, size_t len, const char *what, struct mkl_err *err);
ssize_t mkl_pread_full(int fd, void *buf, size_t len, uint64_t off, const char *what,
		       struct mkl_err *err);
/* The same from a reader callback (src/source's mkl_source_read, ...). */
long mkl_read_fn_full(mkl_read_fn read, void *ctx, void *buf, size_t len, struct mkl_err *err);

/* A growable buffer; { 0 } is an empty one. mkl_buf_sink appends (an
 * mkl_sink_fn: codec output, squashfs read-back, ...). */
struct mkl_buf {
	unsigned char *data;
	size_t len, cap;
};

int mkl_buf_sink(void *ctx, const void *data, size_t len, struct mkl_err *err);
void mkl_buf_free(struct mkl_buf *b);

/* Append the whole file at path to out. Returns 1 (out untouched) when
 * optional is set and the file does not exist; 0, or -1. */
int mkl_read_file(const char *path, struct mkl_buf *out, bool optional, struct mkl_err *err);

/* --- the spool ------------------------------------------------------------ */

/* Where one file's content sits in the spool. */
struct mkl_spool_rec {
	struct mkl_spool_rec *next;	/* the spool's list (records it made) */
	uint64_t off;			/* byte 0 of the file in the scratch file */
	uint64_t size;
};

struct mkl_spool {
	int fd;				/* the scratch file; -1 before open */
	uint64_t end;			/* bytes spooled */
	struct mkl_spool_rec *recs;	/* made by mkl_spool_add_node, freed at close */
	unsigned char *buf;		/* MKL_SPOOL_CHUNK bytes, made on first use */
};

#define MKL_SPOOL_CHUNK (1u << 20)
#define MKL_SPOOL_INIT { .fd = -1 }

/* An unnamed scratch file beside `near` (see mkl_scratch_open); near NULL:
 * in $TMPDIR (or /tmp). */
int mkl_spool_open(struct mkl_spool *s, const char *near, struct mkl_err *err);

/* Called with each chunk of a file as it is spooled (pos: its offset in
 * the file; chunks are MKL_SPOOL_CHUNK bytes but the last): 1 to store
 * it, 0 not to (a hole: it reads back as zeros; a spool without a file,
 * fd -1, only reads its input through the filter), -1 to fail. */
typedef int (*mkl_spool_filter_fn)(void *ctx, uint64_t pos, const unsigned char *data, size_t len,
				   struct mkl_err *err);

/* Append exactly `size` bytes read with read(rctx) and fill rec (the
 * caller's). name is for messages; filter may be NULL. A reader that ends
 * early or goes on past size is an error naming the file. */
int mkl_spool_add(struct mkl_spool *s, struct mkl_spool_rec *rec, const char *name, uint64_t size,
		  mkl_read_fn read, void *rctx, mkl_spool_filter_fn filter, void *fctx,
		  struct mkl_err *err);
/* len bytes of the file at off. */
int mkl_spool_read(const struct mkl_spool *s, const struct mkl_spool_rec *rec, uint64_t off,
		   void *buf, size_t len, const char *name, struct mkl_err *err);
/* Make the scratch file its full length (a hole at the end reads as zeros). */
int mkl_spool_finish(struct mkl_spool *s, struct mkl_err *err);
/* Close the file and free the records the spool made. Accepts a spool
 * never opened (MKL_SPOOL_INIT). */
void mkl_spool_close(struct mkl_spool *s);

/* A tree node's content: the record goes in node->data (the spool owns
 * it); read back through the node or any hard link to it. A regular file
 * of size 0 needs no record. */
int mkl_spool_add_node(struct mkl_spool *s, struct mkl_node *n, mkl_read_fn read, void *ctx,
		       struct mkl_err *err);
int mkl_spool_read_node(const struct mkl_spool *s, const struct mkl_node *n, uint64_t off, void *buf,
			size_t len, struct mkl_err *err);

/* --- hashing -------------------------------------------------------------- */

/* FNV-1a, 64 bits: for hash tables and for digests that only have to
 * tell inputs apart (the medium ID). Start from MKL_HASH_INIT. */
#define MKL_HASH_INIT 14695981039346656037ull

static inline void mkl_hash_bytes(uint64_t *h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		/* The analyzer loses the bytes of an initialised uint64_t array. */
		*h ^= p[i];	/* NOLINT(clang-analyzer-core.uninitialized.Assign) */
		*h *= 1099511628211ull;
	}
}

static inline uint64_t mkl_hash_str(const char *s)
{
	uint64_t h = MKL_HASH_INIT;

	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 1099511628211ull;
	}
	return h;
}

#endif
