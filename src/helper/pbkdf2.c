/* HMAC-SHA-256 (RFC 2104) and PBKDF2 (RFC 8018, section 5.2) over it: the
 * key derivation of LUKS1 key slots and of its master-key digest. The
 * SHA-256 is the init's own (src/fmt/sha256.c, compiled in here too).
 * The key's inner and outer states are hashed once, so each iteration
 * costs two SHA-256 compressions. */
#include <string.h>

#include "helper.h"

void hmac_sha256_init(struct hmac_sha256 *h, const void *key, size_t len)
{
	unsigned char k[64], pad[64];
	size_t i;

	memset(k, 0, sizeof(k));
	if (len > sizeof(k)) {
		mkl_sha256_init(&h->inner);
		mkl_sha256_update(&h->inner, key, len);
		mkl_sha256_final(&h->inner, k);
	} else {
		memcpy(k, key, len);
	}
	for (i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x36;
	mkl_sha256_init(&h->inner);
	mkl_sha256_update(&h->inner, pad, 64);
	for (i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x5c;
	mkl_sha256_init(&h->outer);
	mkl_sha256_update(&h->outer, pad, 64);
	explicit_bzero(k, sizeof(k));
	explicit_bzero(pad, sizeof(pad));
}

/* HMAC of two pieces (a message and, for PBKDF2's first round, the block
 * number) with the key h was made with. */
static void hmac2(const struct hmac_sha256 *h, const void *a, size_t alen, const void *b, size_t blen,
		  unsigned char out[32])
{
	struct mkl_sha256 s = h->inner;

	mkl_sha256_update(&s, a, alen);
	if (blen)
		mkl_sha256_update(&s, b, blen);
	mkl_sha256_final(&s, out);
	s = h->outer;
	mkl_sha256_update(&s, out, 32);
	mkl_sha256_final(&s, out);
	explicit_bzero(&s, sizeof(s));
}

void hmac_sha256(const struct hmac_sha256 *h, const void *msg, size_t len, unsigned char out[32])
{
	hmac2(h, msg, len, NULL, 0, out);
}

void pbkdf2_sha256(const void *pass, size_t plen, const void *salt, size_t slen, uint32_t iter,
		   unsigned char *out, size_t olen)
{
	struct hmac_sha256 h;
	unsigned char u[32], t[32], num[4];
	uint32_t block, i;
	size_t j, n;

	hmac_sha256_init(&h, pass, plen);
	for (block = 1; olen; block++) {
		num[0] = (unsigned char)(block >> 24), num[1] = (unsigned char)(block >> 16);
		num[2] = (unsigned char)(block >> 8), num[3] = (unsigned char)block;
		hmac2(&h, salt, slen, num, 4, u);
		memcpy(t, u, 32);
		for (i = 1; i < iter; i++) {
			hmac2(&h, u, 32, NULL, 0, u);
			for (j = 0; j < 32; j++)
				t[j] ^= u[j];
		}
		n = olen < 32 ? olen : 32;
		memcpy(out, t, n);
		out += n;
		olen -= n;
	}
	explicit_bzero(&h, sizeof(h));
	explicit_bzero(u, sizeof(u));
	explicit_bzero(t, sizeof(t));
}
