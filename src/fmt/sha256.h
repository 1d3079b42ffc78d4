/* SHA-256 (FIPS 180-4), for the medium's checksums: the builder records
 * them, `mklive verify` and the init (boot option mklive.verify) check
 * them. Plain C with no dependencies, so the static init can use it too. */
#ifndef MKL_SHA256_H
#define MKL_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define MKL_SHA256_LEN 32

struct mkl_sha256 {
	uint32_t h[8];
	uint64_t bytes;
	unsigned char buf[64];
	size_t fill;
};

void mkl_sha256_init(struct mkl_sha256 *s);
void mkl_sha256_update(struct mkl_sha256 *s, const void *data, size_t len);
void mkl_sha256_final(struct mkl_sha256 *s, unsigned char out[MKL_SHA256_LEN]);
/* 64 lower-case hex digits and a NUL. */
void mkl_sha256_hex(const unsigned char sum[MKL_SHA256_LEN], char out[2 * MKL_SHA256_LEN + 1]);

#endif
