/* libFuzzer harness: the init's zlib and lz4 block decoders
 * (src/init/unpack.c), against zlib's and liblz4's as the oracle.
 *
 * Input: one byte choosing the decoder (bit 0: zlib or lz4) and the output
 * room (bits 1-7: 512 bytes to 64 KiB), then the payload. Two checks:
 *   - the payload as a compressed block: what the init's decoder makes of
 *     it must fit the room, and be what the reference decoder makes of it
 *     when that one takes it too (zlib: whatever zlib decodes, the init
 *     must; liblz4 takes a match offset of 0, which the format forbids and
 *     the init refuses, so for lz4 only agreement is checked);
 *   - the payload as data: compressed by the reference encoder, as the
 *     builder compresses cloop blocks, it must decode to itself at boot. */
#include <lz4.h>
#include <lz4hc.h>
#include <string.h>
#include <zlib.h>

#include "fuzz.h"

#include "init/unpack.c"

static unsigned char ref[65536], packed[LZ4_COMPRESSBOUND(65536) + 1024];

/* Exactly cap bytes, so that AddressSanitizer sees a write past them. */
static unsigned char *room(size_t cap)
{
	unsigned char *p = malloc(cap ? cap : 1);

	FUZZ_CHECK(p != NULL);
	return p;
}

static void check_decode(int lz4, const uint8_t *in, size_t len, size_t cap)
{
	unsigned char *ours = room(cap);
	long n;
	int m;

	if (lz4) {
		n = lz4_unpack(in, len, ours, cap);
		m = LZ4_decompress_safe((const char *)in, (char *)ref, (int)len, (int)cap);
	} else {
		uLongf dlen = cap;
		uLong slen = len;

		n = zlib_unpack(in, len, ours, cap);
		m = uncompress2(ref, &dlen, in, &slen) == Z_OK ? (int)dlen : -1;
	}
	FUZZ_CHECK(n >= -1 && n <= (long)cap);
	if (m >= 0 && (!lz4 || n >= 0)) {
		FUZZ_CHECK(n == m);
		FUZZ_CHECK(!memcmp(ours, ref, (size_t)m));
	}
	free(ours);
}

static void round_trip(int lz4, int level, const uint8_t *in, size_t len)
{
	unsigned char *ours = room(len);
	size_t plen;
	long n;

	if (lz4) {
		int k = level < 3 ? LZ4_compress_default((const char *)in, (char *)packed, (int)len,
							 (int)sizeof(packed))
				  : LZ4_compress_HC((const char *)in, (char *)packed, (int)len,
						    (int)sizeof(packed), level);

		FUZZ_CHECK(k > 0 || len == 0);
		plen = (size_t)k;
		if (len == 0) {
			free(ours);
			return;	/* the init never asks for an empty block */
		}
		n = lz4_unpack(packed, plen, ours, len);
	} else {
		uLongf clen = sizeof(packed);

		FUZZ_CHECK(compress2(packed, &clen, in, len, level % 10) == Z_OK);
		n = zlib_unpack(packed, clen, ours, len);
	}
	FUZZ_CHECK(n == (long)len);
	FUZZ_CHECK(!len || !memcmp(ours, in, len));
	free(ours);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t cap, len;

	if (size < 1)
		return 0;
	cap = (size_t)((data[0] >> 1) + 1) * 512;
	check_decode(data[0] & 1, data + 1, size - 1, cap);
	len = size - 1 < cap ? size - 1 : cap;
	round_trip(data[0] & 1, (data[0] >> 1) % 13, data + 1, len);
	return 0;
}
