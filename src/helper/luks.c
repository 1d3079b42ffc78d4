/* LUKS1, as its on-disk format specification (version 1.2.3) lays it out:
 * the header (big-endian), the anti-forensic splitter and the master-key
 * digest. No I/O and no cipher here: the job (cryptpersist.c) reads and
 * writes, and the kernel's dm-crypt encrypts. See helper.h.
 *
 *   0    magic "LUKS\xba\xbe"     6 version (1)
 *   8    cipher name [32]        40 cipher mode [32]     72 hash spec [32]
 *   104  payload offset (sectors)  108 key bytes
 *   112  master-key digest [20]   132 its salt [32]       164 its iterations
 *   168  UUID [40]
 *   208  8 key slots of 48 bytes: active (0x00AC71F3) or not (0x0000DEAD),
 *        iterations, salt [32], key material offset (sectors), stripes
 */
#include <stdio.h>
#include <string.h>

#include "helper.h"

static const unsigned char magic[6] = { 'L', 'U', 'K', 'S', 0xba, 0xbe };

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

/* A text field: NUL-padded, and NUL-terminated in our copy (h is zeroed:
 * nothing after the first NUL is kept). */
static void field(char *dst, const unsigned char *src, size_t n)
{
	memcpy(dst, src, strnlen((const char *)src, n - 1));
}

int luks_is(const unsigned char *b)
{
	return !memcmp(b, magic, sizeof(magic)) && b[6] == 0 && b[7] == 1;
}

int luks_parse(const unsigned char *b, struct luks_hdr *h, char *why, size_t n)
{
	unsigned i;

	if (memcmp(b, magic, sizeof(magic)))
		return persist_fail(why, n, "no LUKS header");
	if (b[6] != 0 || b[7] != 1)
		return persist_fail(why, n, "a LUKS header of another version than 1 (LUKS2?)");
	memset(h, 0, sizeof(*h));
	field(h->cipher, b + 8, sizeof(h->cipher));
	field(h->mode, b + 40, sizeof(h->mode));
	field(h->hash, b + 72, sizeof(h->hash));
	h->payload = be32(b + 104);
	h->key_bytes = be32(b + 108);
	memcpy(h->mk_digest, b + 112, LUKS_DIGEST);
	memcpy(h->mk_salt, b + 132, LUKS_SALT);
	h->mk_iter = be32(b + 164);
	field(h->uuid, b + 168, sizeof(h->uuid));
	for (i = 0; i < LUKS_SLOTS; i++) {
		const unsigned char *s = b + 208 + 48 * i;

		h->slot[i].active = be32(s) == LUKS_SLOT_ON;
		h->slot[i].iter = be32(s + 4);
		memcpy(h->slot[i].salt, s + 8, LUKS_SALT);
		h->slot[i].offset = be32(s + 40);
		h->slot[i].stripes = be32(s + 44);
		if (h->slot[i].active &&
		    (!h->slot[i].iter || !h->slot[i].stripes || h->slot[i].stripes > LUKS_STRIPES_MAX ||
		     h->slot[i].offset >= h->payload))
			return persist_fail(why, n, "a LUKS key slot out of bounds");
	}
	if (strcmp(h->hash, "sha256"))
		return persist_fail(why, n, "a LUKS header with a hash other than sha256");
	if (!h->key_bytes || h->key_bytes > LUKS_KEY_MAX || !h->mk_iter)
		return persist_fail(why, n, "a LUKS header with a key size out of bounds");
	return 0;
}

void luks_encode(const struct luks_hdr *h, unsigned char *b)
{
	unsigned i;

	memset(b, 0, LUKS_PHDR);
	memcpy(b, magic, sizeof(magic));
	b[7] = 1;
	memcpy(b + 8, h->cipher, strnlen(h->cipher, 31));
	memcpy(b + 40, h->mode, strnlen(h->mode, 31));
	memcpy(b + 72, h->hash, strnlen(h->hash, 31));
	put_be32(b + 104, h->payload);
	put_be32(b + 108, h->key_bytes);
	memcpy(b + 112, h->mk_digest, LUKS_DIGEST);
	memcpy(b + 132, h->mk_salt, LUKS_SALT);
	put_be32(b + 164, h->mk_iter);
	memcpy(b + 168, h->uuid, strnlen(h->uuid, 39));
	for (i = 0; i < LUKS_SLOTS; i++) {
		unsigned char *s = b + 208 + 48 * i;

		put_be32(s, h->slot[i].active ? LUKS_SLOT_ON : LUKS_SLOT_OFF);
		put_be32(s + 4, h->slot[i].iter);
		memcpy(s + 8, h->slot[i].salt, LUKS_SALT);
		put_be32(s + 40, h->slot[i].offset);
		put_be32(s + 44, h->slot[i].stripes);
	}
}

/* As cryptsetup lays LUKS1 out: the key slots' areas on 4 KiB, one after
 * the other from 4 KiB on, the payload on the next MiB. */
void luks_layout(struct luks_hdr *h)
{
	uint32_t area = (uint32_t)(((uint64_t)h->key_bytes * LUKS_STRIPES + 4095) / 4096 * 8), i;

	for (i = 0; i < LUKS_SLOTS; i++) {
		h->slot[i].offset = 8 + i * area;
		h->slot[i].stripes = LUKS_STRIPES;
	}
	h->payload = (8 + LUKS_SLOTS * area + 2047) / 2048 * 2048;
}

uint32_t luks_slot_sectors(const struct luks_hdr *h, unsigned i)
{
	return (uint32_t)(((uint64_t)h->key_bytes * h->slot[i].stripes + 511) / 512);
}

/* The splitter's diffusion: d in 32-byte blocks, each replaced by
 * SHA-256(block number, big-endian 32 bits || block); a last short
 * block by as much of its hash. */
static void diffuse(unsigned char *d, size_t n)
{
	unsigned char num[4], sum[32];
	struct mkl_sha256 s;
	uint32_t i;
	size_t off, len;

	for (i = 0, off = 0; off < n; i++, off += len) {
		len = n - off < 32 ? n - off : 32;
		put_be32(num, i);
		mkl_sha256_init(&s);
		mkl_sha256_update(&s, num, 4);
		mkl_sha256_update(&s, d + off, len);
		mkl_sha256_final(&s, sum);
		memcpy(d + off, sum, len);
	}
	explicit_bzero(sum, sizeof(sum));
	explicit_bzero(&s, sizeof(s));
}

/* d = diffuse(d ^ s_0) ... over the first stripes-1 stripes of m */
static void af_fold(const unsigned char *m, size_t n, unsigned stripes, unsigned char *d)
{
	unsigned i;
	size_t j;

	memset(d, 0, n);
	for (i = 0; i + 1 < stripes; i++) {
		for (j = 0; j < n; j++)
			d[j] ^= m[i * n + j];
		diffuse(d, n);
	}
}

void luks_af_split(const unsigned char *key, size_t n, unsigned stripes, unsigned char *m)
{
	unsigned char *last = m + (size_t)(stripes - 1) * n;
	size_t j;

	af_fold(m, n, stripes, last);
	for (j = 0; j < n; j++)
		last[j] ^= key[j];
}

void luks_af_merge(const unsigned char *m, size_t n, unsigned stripes, unsigned char *key)
{
	const unsigned char *last = m + (size_t)(stripes - 1) * n;
	size_t j;

	af_fold(m, n, stripes, key);
	for (j = 0; j < n; j++)
		key[j] ^= last[j];
}

void luks_mk_digest(const struct luks_hdr *h, const unsigned char *mk, unsigned char out[LUKS_DIGEST])
{
	pbkdf2_sha256(mk, h->key_bytes, h->mk_salt, LUKS_SALT, h->mk_iter, out, LUKS_DIGEST);
}

void luks_dm_cipher(const struct luks_hdr *h, char *out, size_t size)
{
	snprintf(out, size, "%s-%s", h->cipher, h->mode);
}
