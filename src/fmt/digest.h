/* SHA-256 on the host, from OpenSSL's libcrypto (EVP; SHA-NI or AVX2 where
 * the CPU has them: about 2 GB/s here against 0.28 GB/s for the plain C
 * src/fmt/sha256.c, which the static init keeps using). Same sums as
 * sha256.c; tests/unit/test-sha256.c checks both against sha256sum(1). */
#ifndef MKL_DIGEST_H
#define MKL_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "fmt/sha256.h"
#include "tree/err.h"

struct mkl_digest;

/* A SHA-256 context, started. NULL (with err) when out of memory. */
struct mkl_digest *mkl_digest_new(struct mkl_err *err);
/* Start over. Returns 0, or -1 when libcrypto fails (no err: callers
 * say what they were hashing). */
int mkl_digest_reset(struct mkl_digest *d);
int mkl_digest_update(struct mkl_digest *d, const void *data, size_t len);
/* The sum; the context must be reset before it is used again. */
int mkl_digest_final(struct mkl_digest *d, unsigned char out[MKL_SHA256_LEN]);
void mkl_digest_free(struct mkl_digest *d);	/* accepts NULL */

/* The SHA-256 of size bytes of fd from byte at (read with pread, 1 MiB at
 * a time), into out. what names the file in errors. */
int mkl_digest_fd(int fd, uint64_t at, uint64_t size, const char *what,
		  unsigned char out[MKL_SHA256_LEN], struct mkl_err *err);

#endif
