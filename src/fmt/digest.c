/* SHA-256 over libcrypto's EVP interface (see digest.h). */
#include "fmt/digest.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "tree/io.h"

#include <openssl/evp.h>

struct mkl_digest {
	EVP_MD_CTX *ctx;
};

/* One fetch of the algorithm per process: EVP_sha256() would look the
 * provider up again at every init. */
static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static EVP_MD *md;

static void fetch_md(void)
{
	md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

int mkl_digest_reset(struct mkl_digest *d)
{
	return EVP_DigestInit_ex(d->ctx, md, NULL) == 1 ? 0 : -1;
}

struct mkl_digest *mkl_digest_new(struct mkl_err *err)
{
	struct mkl_digest *d;

	pthread_once(&md_once, fetch_md);
	if (!md) {
		mkl_error(err, 0, "libcrypto has no SHA-256");
		return NULL;
	}
	d = mkl_calloc(1, sizeof(*d), err);
	if (!d)
		return NULL;
	d->ctx = EVP_MD_CTX_new();
	if (!d->ctx || mkl_digest_reset(d)) {
		mkl_digest_free(d);
		mkl_error(err, ENOMEM, "cannot start SHA-256 (libcrypto)");
		return NULL;
	}
	return d;
}

int mkl_digest_update(struct mkl_digest *d, const void *data, size_t len)
{
	return EVP_DigestUpdate(d->ctx, data, len) == 1 ? 0 : -1;
}

int mkl_digest_final(struct mkl_digest *d, unsigned char out[MKL_SHA256_LEN])
{
	unsigned int n = 0;

	return EVP_DigestFinal_ex(d->ctx, out, &n) == 1 && n == MKL_SHA256_LEN ? 0 : -1;
}

void mkl_digest_free(struct mkl_digest *d)
{
	if (!d)
		return;
	EVP_MD_CTX_free(d->ctx);
	free(d);
}

int mkl_digest_fd(int fd, uint64_t at, uint64_t size, const char *what,
		  unsigned char out[MKL_SHA256_LEN], struct mkl_err *err)
{
	enum { CHUNK = 1 << 20 };
	struct mkl_digest *d = mkl_digest_new(err);
	unsigned char *buf = d ? mkl_malloc(CHUNK, err) : NULL;
	int rc = -1;

	if (!buf)
		goto out;
	for (uint64_t off = 0; off < size;) {
		size_t want = size - off < CHUNK ? (size_t)(size - off) : CHUNK;
		ssize_t n = mkl_pread_full(fd, buf, want, at + off, what, err);

		if (n < 0)
			goto out;
		if ((size_t)n != want) {
			mkl_error(err, EIO, "cannot read '%s' for its checksum: it ends at byte %llu",
				  what, (unsigned long long)(off + (uint64_t)n));
			goto out;
		}
		if (mkl_digest_update(d, buf, want))
			goto crypto;
		off += want;
	}
	if (mkl_digest_final(d, out))
		goto crypto;
	rc = 0;
	goto out;
crypto:
	mkl_error(err, EIO, "cannot hash '%s' (libcrypto)", what);
out:
	free(buf);
	mkl_digest_free(d);
	return rc;
}
