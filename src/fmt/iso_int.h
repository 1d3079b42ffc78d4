/* What iso.c and iso_sums.c share: the medium's checksums, made as
 * libisofs reads each file. Not for use outside src/fmt/iso*.c. */
#ifndef MKL_ISO_INT_H
#define MKL_ISO_INT_H

#include <stddef.h>
#include <stdint.h>

#include "fmt/digest.h"
#include "fmt/isolib.h"
#include "fmt/sha256.h"
#include "tree/err.h"

/* One file's checksum, made as libisofs reads the file: reads that go on
 * from where the last one ended are hashed; a read from 0 starts over
 * (libisofs reads the boot images more than once). A file that was not
 * read through in order by the end of the write is hashed then from its
 * source (a fallback: libisofs reads every file once, in order).
 *
 * The list itself is the first file data on the medium (a truncated copy
 * still says what is missing), but its content is known only when every
 * other file has gone through: libisofs writes a placeholder of the
 * list's exact size (its size is known up front: 64 + 2 + 2 + path + 1
 * bytes a line), which starts with 32 random bytes; out_chunk finds the
 * one block that starts with them as the image goes by, and the list is
 * written over the placeholder when the image is complete. */
struct sumrec {
	size_t file;		/* its index in the caller's files */
	const char *path;
	uint64_t size;
	struct mkl_digest *d;
	uint64_t hashed;	/* bytes hashed in order so far */
	int done, broken;
	unsigned char sum[MKL_SHA256_LEN];
	/* the source, for the fallback: the stream's memory copy or the fd */
	const unsigned char *mem;
	int fd;
	uint64_t at;
};

#define NONCE_LEN 32

struct sums {
	struct sumrec *recs;
	size_t n;
	uint64_t text_size;
	unsigned char nonce[NONCE_LEN];	/* the placeholder starts with it */
	uint64_t at;		/* where the placeholder is in the image */
	unsigned found;		/* blocks seen that start with the nonce */
	uint64_t late;		/* bytes hashed by the fallback (0 expected) */
};

struct mkl_iso_file;

/* The records of files (NULL: no checksum list) but those marked nosum,
 * the list's size and the placeholder's nonce. Free with mkl_isosum_free. */
int mkl_isosum_start(struct sums *s, const struct mkl_iso_file *files, size_t nfiles,
		     struct mkl_err *err);
/* Write the list over its placeholder in out_fd, once the image is written. */
int mkl_isosum_write(struct sums *s, int out_fd, struct mkl_err *err);
void mkl_isosum_free(struct sums *s);
/* Hash len bytes that libisofs read at pos of r's file (see above). */
void mkl_isosum_feed(struct sumrec *r, uint64_t pos, const void *buf, size_t len);
/* The list, once the image is written: NULL when out of memory or when a
 * file cannot be read for the fallback (err says which). */
char *mkl_isosum_text(struct sums *s, struct mkl_err *err);
/* The placeholder's content (the nonce, then newlines), and the placed
 * file's while its place is looked for (the nonce inverted, then zeros):
 * data is the struct sums. */
extern const struct mkl_isolib_source mkl_isosum_source, mkl_isosum_probe_source;

#endif
