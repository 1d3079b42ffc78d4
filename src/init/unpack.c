/*
 * Decompressors for cloop blocks, small enough for the init: zlib (RFC 1950
 * around RFC 1951 deflate) and lz4 blocks.  Whole buffer in, whole buffer
 * out; every read and write is bounds-checked, so a corrupt block is an
 * error, never a crash.  Written for size, not speed: Huffman codes decode
 * bit by bit against canonical code counts (at boot, the medium is the
 * slow part).  libz.a would add 41 KB to the init, liblz4.a 57 KB.
 */
#include <stdint.h>
#include <string.h>

#include "init.h"

#define MAXBITS		15
#define NLITLEN		288
#define NDIST		30

struct inflate {
	const uint8_t *in, *end;
	uint8_t *out;
	size_t op, cap;
	uint32_t buf;
	int cnt, bad;
};

/* A canonical Huffman code: how many codes of each length, and the
 * symbols in code order. */
struct huff {
	uint16_t count[MAXBITS + 1];
	uint16_t sym[NLITLEN];
};

static unsigned bits(struct inflate *s, int n)
{
	unsigned v;

	while (s->cnt < n) {
		if (s->in == s->end) {
			s->bad = 1;
			return 0;
		}
		s->buf |= (uint32_t)*s->in++ << s->cnt;
		s->cnt += 8;
	}
	v = s->buf & ((1u << n) - 1);
	s->buf >>= n;
	s->cnt -= n;
	return v;
}

/* Build h from code lengths; -1 if the lengths over-subscribe the code. */
static int build(struct huff *h, const uint8_t *len, int n)
{
	uint16_t next[MAXBITS + 1];
	int i, left = 1;

	memset(h->count, 0, sizeof(h->count));
	for (i = 0; i < n; i++)
		h->count[len[i]]++;
	for (i = 1; i <= MAXBITS; i++) {
		left = (left << 1) - h->count[i];
		if (left < 0)
			return -1;
	}
	next[1] = 0;
	for (i = 1; i < MAXBITS; i++)
		next[i + 1] = next[i] + h->count[i];
	for (i = 0; i < n; i++)
		if (len[i])
			h->sym[next[len[i]]++] = i;
	return 0;
}

/*
 * One symbol: walk the code lengths, the canonical codes of each length
 * being consecutive numbers after those of the shorter lengths.
 */
static int decode(struct inflate *s, const struct huff *h)
{
	int code = 0, first = 0, index = 0, len, count;

	for (len = 1; len <= MAXBITS; len++) {
		code |= bits(s, 1);
		count = h->count[len];
		if (code - first < count)
			return h->sym[index + code - first];
		index += count;
		first = (first + count) << 1;
		code <<= 1;
	}
	s->bad = 1;		/* a code the lengths do not define */
	return 0;
}

/* Literals and matches of one block, up to its end-of-block symbol. */
static int codes(struct inflate *s, const struct huff *lit, const struct huff *dist)
{
	int sym, i, extra;
	unsigned len, d;

	for (;;) {
		sym = decode(s, lit);
		if (s->bad)
			return -1;
		if (sym < 256) {
			if (s->op >= s->cap)
				return -1;
			s->out[s->op++] = sym;
			continue;
		}
		if (sym == 256)
			return 0;
		sym -= 257;
		if (sym >= 29)
			return -1;
		/* lengths 3..10 exact, then 4 codes per extra bit, 285 = 258 */
		if (sym < 8) {
			len = 3 + sym;
		} else if (sym == 28) {
			len = 258;
		} else {
			extra = (sym - 4) / 4;
			len = ((4 + (sym & 3)) << extra) + 3 + bits(s, extra);
		}
		sym = decode(s, dist);
		if (sym >= NDIST || s->bad)
			return -1;
		/* distances 1..4 exact, then 2 codes per extra bit */
		if (sym < 4) {
			d = 1 + sym;
		} else {
			extra = (sym - 2) / 2;
			d = ((2 + (sym & 1)) << extra) + 1 + bits(s, extra);
		}
		if (s->bad || d > s->op || len > s->cap - s->op)
			return -1;
		for (i = 0; i < (int)len; i++, s->op++)
			s->out[s->op] = s->out[s->op - d];
	}
}

static int fixed(struct inflate *s, struct huff *lit, struct huff *dist)
{
	uint8_t len[NLITLEN];
	int i;

	for (i = 0; i < NLITLEN; i++)
		len[i] = i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8;
	build(lit, len, NLITLEN);
	memset(len, 5, NDIST);
	build(dist, len, NDIST);
	return codes(s, lit, dist);
}

static int dynamic(struct inflate *s, struct huff *lit, struct huff *dist)
{
	static const uint8_t order[19] = {
		16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15
	};
	uint8_t len[NLITLEN + NDIST];
	int nlit, ndist, ncode, i, sym, rep, v;

	nlit = bits(s, 5) + 257;
	ndist = bits(s, 5) + 1;
	ncode = bits(s, 4) + 4;
	if (nlit > 286 || ndist > NDIST)
		return -1;
	memset(len, 0, sizeof(len));
	for (i = 0; i < ncode; i++)
		len[order[i]] = bits(s, 3);
	if (s->bad || build(lit, len, 19) < 0)
		return -1;
	for (i = 0; i < nlit + ndist;) {
		sym = decode(s, lit);
		if (s->bad)
			return -1;
		if (sym < 16) {
			len[i++] = sym;
			continue;
		}
		v = 0;
		if (sym == 16) {
			if (!i)
				return -1;
			v = len[i - 1];
			rep = 3 + bits(s, 2);
		} else if (sym == 17) {
			rep = 3 + bits(s, 3);
		} else {
			rep = 11 + bits(s, 7);
		}
		if (i + rep > nlit + ndist)
			return -1;
		while (rep--)
			len[i++] = v;
	}
	if (!len[256] || build(lit, len, nlit) < 0 || build(dist, len + nlit, ndist) < 0)
		return -1;
	return codes(s, lit, dist);
}

/*
 * Inflate a zlib stream of inlen bytes into out (cap bytes) and check its
 * Adler-32; the size of the output, or -1 if the stream is corrupt or the
 * output does not fit.
 */
long zlib_unpack(const void *in, size_t inlen, void *out, size_t cap)
{
	static struct huff lit, dist;
	struct inflate s = { .in = in, .end = (const uint8_t *)in + inlen,
			     .out = out, .cap = cap };
	const uint8_t *p = in;
	uint32_t a = 1, b = 0, want;
	int last, type, r;
	size_t i, n;

	if (inlen < 6 || (p[0] & 0x0f) != 8 || (p[0] >> 4) > 7 ||
	    ((unsigned)p[0] << 8 | p[1]) % 31 || (p[1] & 0x20))
		return -1;
	s.in += 2;
	do {
		last = bits(&s, 1);
		type = bits(&s, 2);
		if (s.bad)
			return -1;
		if (type == 0) {
			/* stored: from the next byte, LEN and its complement */
			s.buf = s.cnt = 0;
			if (s.end - s.in < 4)
				return -1;
			n = s.in[0] | s.in[1] << 8;
			if ((n ^ (s.in[2] | s.in[3] << 8)) != 0xffff)
				return -1;
			s.in += 4;
			if ((size_t)(s.end - s.in) < n || n > s.cap - s.op)
				return -1;
			memcpy(s.out + s.op, s.in, n);
			s.in += n;
			s.op += n;
			r = 0;
		} else if (type == 1) {
			r = fixed(&s, &lit, &dist);
		} else if (type == 2) {
			r = dynamic(&s, &lit, &dist);
		} else {
			r = -1;
		}
		if (r < 0)
			return -1;
	} while (!last);
	/* the Adler-32 of the output follows, from the next byte */
	if (s.end - s.in < 4)
		return -1;
	want = (uint32_t)s.in[0] << 24 | s.in[1] << 16 | s.in[2] << 8 | s.in[3];
	for (i = 0; i < s.op; i++) {
		a += s.out[i];
		if (a >= 65521)
			a -= 65521;
		b += a;
		if (b >= 65521)
			b -= 65521;
	}
	return (b << 16 | a) == want ? (long)s.op : -1;
}

/*
 * Decode an lz4 block (the raw block format, as LZ4_compress_default
 * writes it) of inlen bytes into out; the size of the output or -1.
 */
/* An lz4 length's continuation bytes (255 means one more follows). */
static int lz4_more(const uint8_t **pp, const uint8_t *end, size_t *len)
{
	unsigned c;

	do {
		if (*pp == end)
			return -1;
		c = *(*pp)++;
		*len += c;
	} while (c == 255);
	return 0;
}

long lz4_unpack(const void *in, size_t inlen, void *out, size_t cap)
{
	const uint8_t *p = in, *end = p + inlen;
	uint8_t *o = out;
	size_t op = 0, len, d;
	unsigned token;

	while (p < end) {
		token = *p++;
		len = token >> 4;
		if (len == 15 && lz4_more(&p, end, &len))
			return -1;
		if ((size_t)(end - p) < len || cap - op < len)
			return -1;
		memcpy(o + op, p, len);
		p += len;
		op += len;
		if (p == end)
			break;		/* the last sequence has literals only */
		if (end - p < 2)
			return -1;
		d = p[0] | p[1] << 8;
		p += 2;
		len = (token & 15) + 4;
		if (len == 19 && lz4_more(&p, end, &len))
			return -1;
		if (!d || d > op || cap - op < len)
			return -1;
		for (; len; len--, op++)
			o[op] = o[op - d];
	}
	return op;
}
