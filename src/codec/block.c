/* One-shot block compressors (see block.h). */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#include <lz4hc.h>
#include <lzma.h>
#include <zlib.h>

#include "codec/block.h"

struct mkl_bcomp {
	enum mkl_codec_id id;
	int level;
	unsigned flags;
	int z_ready;
	z_stream z;
	void *lz4_state;	/* LZ4 (fast) or LZ4 HC state */
};

int mkl_bcomp_create(enum mkl_codec_id id, int level, unsigned flags, struct mkl_bcomp **out,
		     struct mkl_err *err)
{
	struct mkl_bcomp *c;

	*out = NULL;
	if (id == MKL_CODEC_ZSTD)
		return mkl_error(err, ENOTSUP, "zstd blocks are not supported");
	if (level == 0)
		level = mkl_codec_default_level(id);
	if (mkl_codec_check_level(id, level, err))
		return -1;
	c = mkl_calloc(1, sizeof(*c), err);
	if (!c)
		return -1;
	c->id = id;
	c->level = level;
	c->flags = flags;
	if (id == MKL_CODEC_GZIP) {
		/* compress2()'s parameters: window 15, memLevel 8, default strategy. */
		if (deflateInit(&c->z, level) != Z_OK) {
			free(c);
			return mkl_error(err, ENOMEM, "cannot set up the zlib compressor");
		}
		c->z_ready = 1;
	} else if (id == MKL_CODEC_LZ4) {
		c->lz4_state = malloc(level >= 3 ? (size_t)LZ4_sizeofStateHC() : (size_t)LZ4_sizeofState());
		if (!c->lz4_state) {
			free(c);
			return mkl_error(err, ENOMEM, "out of memory");
		}
	}
	*out = c;
	return 0;
}

size_t mkl_block_bound(enum mkl_codec_id id, size_t len)
{
	switch (id) {
	case MKL_CODEC_GZIP:
		return (size_t)compressBound((uLong)len);
	case MKL_CODEC_XZ:
		return lzma_stream_buffer_bound(len);
	case MKL_CODEC_LZ4:
		return (size_t)LZ4_compressBound((int)(len > INT_MAX ? INT_MAX : len));
	default:
		return len;
	}
}

static int run_zlib(struct mkl_bcomp *c, const void *in, size_t len, void *out, size_t cap,
		    size_t *out_len, struct mkl_err *err)
{
	int ret;

	if (deflateReset(&c->z) != Z_OK)
		return mkl_error(err, 0, "zlib: cannot reset the compressor");
	/* deflateReset restores the level's parameters; zlib's levels 8 and 9
	 * follow match chains of 1024 and 4096 links, which costs ~4x the time
	 * for ~0.1% of size on file system images. Cap them at 256 (level 7's). */
	if (!(c->flags & MKL_BLOCK_EXACT) && c->level >= 8)
		deflateTune(&c->z, 32, c->level == 9 ? 258 : 128, 258, 256);
	c->z.next_in = (Bytef *)(uintptr_t)in;
	c->z.avail_in = (uInt)len;
	c->z.next_out = out;
	c->z.avail_out = (uInt)cap;
	ret = deflate(&c->z, Z_FINISH);
	if (ret != Z_STREAM_END)
		return mkl_error(err, 0, "zlib: compression failed (%d)", ret);
	*out_len = cap - c->z.avail_out;
	return 0;
}

static int run_xz(struct mkl_bcomp *c, const void *in, size_t len, void *out, size_t cap,
		  size_t *out_len, struct mkl_err *err)
{
	lzma_options_lzma opt;
	lzma_filter filters[2];
	size_t pos = 0;
	lzma_ret ret;

	if (lzma_lzma_preset(&opt, (uint32_t)c->level))
		return mkl_error(err, EINVAL, "xz: no preset %d", c->level);
	/* A dictionary larger than the block buys nothing and costs memory. */
	if (opt.dict_size > len)
		opt.dict_size = len < LZMA_DICT_SIZE_MIN ? LZMA_DICT_SIZE_MIN : (uint32_t)len;
	filters[0].id = LZMA_FILTER_LZMA2;
	filters[0].options = &opt;
	filters[1].id = LZMA_VLI_UNKNOWN;
	filters[1].options = NULL;
	ret = lzma_stream_buffer_encode(filters, LZMA_CHECK_CRC32, NULL, in, len, out, &pos, cap);
	if (ret != LZMA_OK)
		return mkl_error(err, ret == LZMA_MEM_ERROR ? ENOMEM : 0, "xz: compression failed (%d)",
				 (int)ret);
	*out_len = pos;
	return 0;
}

static int run_lz4(struct mkl_bcomp *c, const void *in, size_t len, void *out, size_t cap,
		   size_t *out_len, struct mkl_err *err)
{
	int n;

	if (len > LZ4_MAX_INPUT_SIZE)
		return mkl_error(err, EINVAL, "lz4: block of %zu bytes is too large", len);
	if (c->level >= 3)
		n = LZ4_compress_HC_extStateHC(c->lz4_state, in, out, (int)len,
					       (int)(cap > INT_MAX ? INT_MAX : cap), c->level);
	else
		n = LZ4_compress_fast_extState(c->lz4_state, in, out, (int)len,
					       (int)(cap > INT_MAX ? INT_MAX : cap), 1);
	if (n <= 0 && len > 0)
		return mkl_error(err, 0, "lz4: compression failed");
	*out_len = (size_t)(n > 0 ? n : 0);
	return 0;
}

int mkl_bcomp_run(struct mkl_bcomp *c, const void *in, size_t len, void *out, size_t cap,
		  size_t *out_len, struct mkl_err *err)
{
	switch (c->id) {
	case MKL_CODEC_GZIP:
		return run_zlib(c, in, len, out, cap, out_len, err);
	case MKL_CODEC_XZ:
		return run_xz(c, in, len, out, cap, out_len, err);
	case MKL_CODEC_LZ4:
		return run_lz4(c, in, len, out, cap, out_len, err);
	case MKL_CODEC_NONE:
		if (cap < len)
			return mkl_error(err, ENOBUFS, "output buffer too small");
		memcpy(out, in, len);
		*out_len = len;
		return 0;
	default:
		return mkl_error(err, ENOTSUP, "%s blocks are not supported", mkl_codec_name(c->id));
	}
}

void mkl_bcomp_destroy(struct mkl_bcomp *c)
{
	if (!c)
		return;
	if (c->z_ready)
		deflateEnd(&c->z);
	free(c->lz4_state);
	free(c);
}

int mkl_block_decompress(enum mkl_codec_id id, const void *in, size_t len, void *out, size_t cap,
			 size_t *out_len, struct mkl_err *err)
{
	switch (id) {
	case MKL_CODEC_GZIP: {
		uLongf dlen = (uLongf)cap;
		uLong slen = (uLong)len;
		int ret = uncompress2(out, &dlen, in, &slen);

		if (ret == Z_MEM_ERROR)
			return mkl_error(err, ENOMEM, "out of memory");
		if (ret != Z_OK)
			return mkl_error(err, 0, "compressed data is corrupt%s",
					 ret == Z_BUF_ERROR && slen == len ? " (truncated)" : "");
		*out_len = dlen;
		return 0;
	}
	case MKL_CODEC_XZ: {
		/* liblzma allocates the dictionary the block's header asks for,
		 * up to 4 GiB, whatever the block's size: allow one as large as
		 * the block or as xz -9's (64 MiB), and the decoder's own few. */
		const uint64_t limit = (uint64_t)(cap > (64u << 20) ? cap : (64u << 20)) + (8u << 20);
		uint64_t memlimit = limit;
		size_t ipos = 0, opos = 0;
		lzma_ret ret = lzma_stream_buffer_decode(&memlimit, 0, NULL, in, &ipos, len, out,
							 &opos, cap);

		if (ret == LZMA_MEM_ERROR)
			return mkl_error(err, ENOMEM, "out of memory");
		if (ret == LZMA_MEMLIMIT_ERROR)
			return mkl_error(err, 0, "xz block asks for %llu MiB to decode (its dictionary), "
					 "more than the %llu MiB allowed", (unsigned long long)(memlimit >> 20),
					 (unsigned long long)(limit >> 20));
		if (ret != LZMA_OK)
			return mkl_error(err, 0, "compressed data is corrupt");
		*out_len = opos;
		return 0;
	}
	case MKL_CODEC_LZ4: {
		int n;

		if (len > INT_MAX || cap > INT_MAX)
			return mkl_error(err, EINVAL, "lz4: block too large");
		n = LZ4_decompress_safe(in, out, (int)len, (int)cap);
		if (n < 0)
			return mkl_error(err, 0, "compressed data is corrupt");
		*out_len = (size_t)n;
		return 0;
	}
	case MKL_CODEC_NONE:
		if (len > cap)
			return mkl_error(err, 0, "stored block of %zu bytes is larger than %zu", len, cap);
		memcpy(out, in, len);
		*out_len = len;
		return 0;
	default:
		return mkl_error(err, ENOTSUP, "%s blocks are not supported", mkl_codec_name(id));
	}
}
