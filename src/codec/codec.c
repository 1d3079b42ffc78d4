/* Codec names and levels, and the streaming compressor (see codec.h).
 *
 * Each stream codec turns bytes written in into compressed bytes pushed to
 * the sink through one output buffer. The formats are the ones the kernel's
 * initramfs unpacker reads:
 *   gzip  zlib deflate with zlib's own gzip header: no name, mtime 0, so the
 *         output depends on the input only;
 *   zstd  one frame, content checksum on, content size unknown;
 *   xz    lzma_easy_encoder with LZMA_CHECK_CRC32 (the kernel has no CRC64
 *         in its default xz decoder);
 *   lz4   the legacy frame: u32 LE magic 0x184C2102, then blocks of u32 LE
 *         compressed size + LZ4 block data, one block per 8 MiB of input;
 *   none  bytes go through unchanged.
 */
#include "codec/codec.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#include <lz4hc.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#define OUT_SIZE (128 * 1024)
#define LZ4_LEGACY_MAGIC 0x184C2102u
#define LZ4_LEGACY_BLOCK (8 * 1024 * 1024)

struct level_range {
	int min, max, def;
};

static const struct level_range levels[] = {
	[MKL_CODEC_NONE] = { 0, 0, 0 },
	[MKL_CODEC_GZIP] = { 1, 9, 9 },
	/* 20..22 need --ultra windows the kernel's decoder may not take. */
	[MKL_CODEC_ZSTD] = { 1, 19, 19 },
	/* xz 7..9 want hundreds of MB to compress a ~2 MB initramfs. */
	[MKL_CODEC_XZ] = { 0, 9, 6 },
	/* 1: LZ4 fast; 2..12: LZ4 HC. */
	[MKL_CODEC_LZ4] = { 1, LZ4HC_CLEVEL_MAX, 9 },
};

static const char *const names[] = {
	[MKL_CODEC_NONE] = "none",
	[MKL_CODEC_GZIP] = "gzip",
	[MKL_CODEC_ZSTD] = "zstd",
	[MKL_CODEC_XZ] = "xz",
	[MKL_CODEC_LZ4] = "lz4",
};

static int valid_id(enum mkl_codec_id id)
{
	return (unsigned)id < sizeof(names) / sizeof(names[0]);
}

int mkl_codec_parse(const char *name, enum mkl_codec_id *out, struct mkl_err *err)
{
	size_t i;

	if (!name)
		return mkl_error(err, EINVAL, "no compressor named");
	if (strcmp(name, "zlib") == 0) {
		*out = MKL_CODEC_GZIP;
		return 0;
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(name, names[i]) == 0) {
			*out = (enum mkl_codec_id)i;
			return 0;
		}
	}
	return mkl_error(err, 0, "unknown compressor '%s' (known: none, gzip, zlib, zstd, xz, lz4)",
			 name);
}

const char *mkl_codec_name(enum mkl_codec_id id)
{
	return valid_id(id) ? names[id] : "unknown";
}

int mkl_codec_default_level(enum mkl_codec_id id)
{
	return valid_id(id) ? levels[id].def : 0;
}

int mkl_codec_check_level(enum mkl_codec_id id, int level, struct mkl_err *err)
{
	if (!valid_id(id))
		return mkl_error(err, EINVAL, "unknown compressor id %d", (int)id);
	if (level < levels[id].min || level > levels[id].max)
		return mkl_error(err, 0, "compression level %d out of range for %s (%d..%d)", level,
				 names[id], levels[id].min, levels[id].max);
	return 0;
}

struct mkl_cstream {
	enum mkl_codec_id id;
	int level;
	mkl_sink_fn sink;
	void *sink_ctx;
	int finished;
	int failed;
	unsigned char *out;	/* OUT_SIZE, or the lz4 block output */
	union {
		z_stream z;
		ZSTD_CCtx *zstd;
		lzma_stream lzma;
		struct {
			unsigned char *in;	/* LZ4_LEGACY_BLOCK bytes */
			size_t fill;
			size_t out_size;
			void *hc_state;		/* LZ4_sizeofStateHC(), levels > 1 */
		} lz4;
	} u;
};

static int put(struct mkl_cstream *cs, const void *buf, size_t len, struct mkl_err *err)
{
	if (!len)
		return 0;
	if (cs->sink(cs->sink_ctx, buf, len, err) < 0) {
		cs->failed = 1;
		return -1;
	}
	return 0;
}

static void put_le32(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = (v >> 24) & 0xff;
}

/* --- gzip --- */

static int gzip_run(struct mkl_cstream *cs, const void *buf, size_t len, int flush,
		    struct mkl_err *err)
{
	z_stream *z = &cs->u.z;
	int ret;

	/* avail_in is a uInt: feed at most 1 GiB at a time. */
	while (len || flush == Z_FINISH) {
		size_t chunk = len > (1u << 30) ? (1u << 30) : len;

		z->next_in = (Bytef *)buf;
		z->avail_in = (uInt)chunk;
		do {
			z->next_out = cs->out;
			z->avail_out = OUT_SIZE;
			ret = deflate(z, flush);
			if (ret == Z_STREAM_ERROR)
				return mkl_error(err, 0, "gzip compression failed: %s",
						 z->msg ? z->msg : "stream error");
			if (put(cs, cs->out, OUT_SIZE - z->avail_out, err) < 0)
				return -1;
		} while (z->avail_out == 0 || (flush == Z_FINISH && ret != Z_STREAM_END));
		buf = (const unsigned char *)buf + chunk;
		len -= chunk;
		if (flush == Z_FINISH)
			break;
	}
	return 0;
}

/* --- zstd --- */

static int zstd_run(struct mkl_cstream *cs, const void *buf, size_t len, ZSTD_EndDirective mode,
		    struct mkl_err *err)
{
	ZSTD_inBuffer in = { buf, len, 0 };
	size_t rem;

	do {
		ZSTD_outBuffer o = { cs->out, OUT_SIZE, 0 };

		rem = ZSTD_compressStream2(cs->u.zstd, &o, &in, mode);
		if (ZSTD_isError(rem))
			return mkl_error(err, 0, "zstd compression failed: %s",
					 ZSTD_getErrorName(rem));
		if (put(cs, cs->out, o.pos, err) < 0)
			return -1;
	} while (mode == ZSTD_e_end ? rem != 0 : in.pos < in.size);
	return 0;
}

/* --- xz --- */

static const char *lzma_msg(lzma_ret r)
{
	switch (r) {
	case LZMA_MEM_ERROR:
		return "out of memory";
	case LZMA_OPTIONS_ERROR:
		return "unsupported options";
	case LZMA_UNSUPPORTED_CHECK:
		return "unsupported check";
	case LZMA_DATA_ERROR:
		return "data error";
	case LZMA_BUF_ERROR:
		return "no progress possible";
	default:
		return "internal error";
	}
}

static int xz_run(struct mkl_cstream *cs, const void *buf, size_t len, lzma_action action,
		  struct mkl_err *err)
{
	lzma_stream *s = &cs->u.lzma;
	lzma_ret r;

	s->next_in = buf;
	s->avail_in = len;
	for (;;) {
		s->next_out = cs->out;
		s->avail_out = OUT_SIZE;
		r = lzma_code(s, action);
		if (r != LZMA_OK && r != LZMA_STREAM_END)
			return mkl_error(err, r == LZMA_MEM_ERROR ? ENOMEM : 0,
					 "xz compression failed: %s", lzma_msg(r));
		if (put(cs, cs->out, OUT_SIZE - s->avail_out, err) < 0)
			return -1;
		if (action == LZMA_FINISH ? r == LZMA_STREAM_END
					  : (s->avail_in == 0 && s->avail_out != 0))
			break;
	}
	return 0;
}

/* --- lz4 legacy --- */

static int lz4_block(struct mkl_cstream *cs, struct mkl_err *err)
{
	int n;

	if (!cs->u.lz4.fill)
		return 0;
	if (cs->level > 1)
		n = LZ4_compress_HC_extStateHC(cs->u.lz4.hc_state, (const char *)cs->u.lz4.in,
					       (char *)cs->out + 4, (int)cs->u.lz4.fill,
					       (int)cs->u.lz4.out_size - 4, cs->level);
	else
		n = LZ4_compress_default((const char *)cs->u.lz4.in, (char *)cs->out + 4,
					 (int)cs->u.lz4.fill, (int)cs->u.lz4.out_size - 4);
	if (n <= 0)
		return mkl_error(err, 0, "lz4 compression failed on a %zu-byte block",
				 cs->u.lz4.fill);
	put_le32(cs->out, (uint32_t)n);
	cs->u.lz4.fill = 0;
	return put(cs, cs->out, (size_t)n + 4, err);
}

static int lz4_write(struct mkl_cstream *cs, const void *buf, size_t len, struct mkl_err *err)
{
	const unsigned char *p = buf;

	while (len) {
		size_t room = LZ4_LEGACY_BLOCK - cs->u.lz4.fill;
		size_t n = len < room ? len : room;

		memcpy(cs->u.lz4.in + cs->u.lz4.fill, p, n);
		cs->u.lz4.fill += n;
		p += n;
		len -= n;
		if (cs->u.lz4.fill == LZ4_LEGACY_BLOCK && lz4_block(cs, err) < 0)
			return -1;
	}
	return 0;
}

/* --- the interface --- */

int mkl_cstream_create(enum mkl_codec_id id, int level, mkl_sink_fn sink, void *sink_ctx,
		       struct mkl_cstream **out, struct mkl_err *err)
{
	struct mkl_cstream *cs;
	unsigned char magic[4];
	lzma_ret lr;
	size_t zr;

	*out = NULL;
	if (!valid_id(id))
		return mkl_error(err, EINVAL, "unknown compressor id %d", (int)id);
	if (level == 0)
		level = levels[id].def;
	if (mkl_codec_check_level(id, level, err) < 0)
		return -1;
	cs = mkl_calloc(1, sizeof(*cs), err);
	if (!cs)
		return -1;
	cs->id = id;
	cs->level = level;
	cs->sink = sink;
	cs->sink_ctx = sink_ctx;
	if (id == MKL_CODEC_LZ4)
		cs->u.lz4.out_size = (size_t)LZ4_compressBound(LZ4_LEGACY_BLOCK) + 4;
	if (id != MKL_CODEC_NONE) {
		cs->out = mkl_malloc(id == MKL_CODEC_LZ4 ? cs->u.lz4.out_size : OUT_SIZE, err);
		if (!cs->out)
			goto fail;
	}

	switch (id) {
	case MKL_CODEC_NONE:
		break;
	case MKL_CODEC_GZIP:
		/* windowBits 15 + 16: gzip wrapper with zlib's default header
		 * (no name, mtime 0, OS unix). */
		if (deflateInit2(&cs->u.z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
			mkl_error(err, ENOMEM, "cannot start gzip compression");
			goto fail;
		}
		break;
	case MKL_CODEC_ZSTD:
		cs->u.zstd = ZSTD_createCCtx();
		if (!cs->u.zstd) {
			mkl_error(err, ENOMEM, "cannot start zstd compression");
			goto fail;
		}
		zr = ZSTD_CCtx_setParameter(cs->u.zstd, ZSTD_c_compressionLevel, level);
		if (!ZSTD_isError(zr))
			zr = ZSTD_CCtx_setParameter(cs->u.zstd, ZSTD_c_checksumFlag, 1);
		if (ZSTD_isError(zr)) {
			mkl_error(err, 0, "cannot set zstd parameters: %s", ZSTD_getErrorName(zr));
			goto fail;
		}
		break;
	case MKL_CODEC_XZ:
		cs->u.lzma = (lzma_stream)LZMA_STREAM_INIT;
		lr = lzma_easy_encoder(&cs->u.lzma, (uint32_t)level, LZMA_CHECK_CRC32);
		if (lr != LZMA_OK) {
			mkl_error(err, lr == LZMA_MEM_ERROR ? ENOMEM : 0,
				  "cannot start xz compression: %s", lzma_msg(lr));
			goto fail;
		}
		break;
	case MKL_CODEC_LZ4:
		cs->u.lz4.in = mkl_malloc(LZ4_LEGACY_BLOCK, err);
		if (!cs->u.lz4.in)
			goto fail;
		if (level > 1) {
			cs->u.lz4.hc_state = mkl_malloc((size_t)LZ4_sizeofStateHC(), err);
			if (!cs->u.lz4.hc_state)
				goto fail;
		}
		put_le32(magic, LZ4_LEGACY_MAGIC);
		if (put(cs, magic, 4, err) < 0)
			goto fail;
		break;
	}
	*out = cs;
	return 0;
fail:
	mkl_cstream_destroy(cs);
	return -1;
}

int mkl_cstream_write(struct mkl_cstream *cs, const void *buf, size_t len, struct mkl_err *err)
{
	int ret = -1;

	if (cs->finished || cs->failed)
		return mkl_error(err, EINVAL, "%s stream written after it %s", names[cs->id],
				 cs->finished ? "was finished" : "failed");
	if (!len)
		return 0;
	switch (cs->id) {
	case MKL_CODEC_NONE:
		ret = put(cs, buf, len, err);
		break;
	case MKL_CODEC_GZIP:
		ret = gzip_run(cs, buf, len, Z_NO_FLUSH, err);
		break;
	case MKL_CODEC_ZSTD:
		ret = zstd_run(cs, buf, len, ZSTD_e_continue, err);
		break;
	case MKL_CODEC_XZ:
		ret = xz_run(cs, buf, len, LZMA_RUN, err);
		break;
	case MKL_CODEC_LZ4:
		ret = lz4_write(cs, buf, len, err);
		break;
	}
	if (ret < 0)
		cs->failed = 1;
	return ret;
}

int mkl_cstream_finish(struct mkl_cstream *cs, struct mkl_err *err)
{
	int ret = -1;

	if (cs->finished || cs->failed)
		return mkl_error(err, EINVAL, "%s stream finished after it %s", names[cs->id],
				 cs->finished ? "was finished" : "failed");
	switch (cs->id) {
	case MKL_CODEC_NONE:
		ret = 0;
		break;
	case MKL_CODEC_GZIP:
		ret = gzip_run(cs, NULL, 0, Z_FINISH, err);
		break;
	case MKL_CODEC_ZSTD:
		ret = zstd_run(cs, NULL, 0, ZSTD_e_end, err);
		break;
	case MKL_CODEC_XZ:
		ret = xz_run(cs, NULL, 0, LZMA_FINISH, err);
		break;
	case MKL_CODEC_LZ4:
		ret = lz4_block(cs, err);
		break;
	}
	if (ret < 0)
		cs->failed = 1;
	else
		cs->finished = 1;
	return ret;
}

void mkl_cstream_destroy(struct mkl_cstream *cs)
{
	if (!cs)
		return;
	switch (cs->id) {
	case MKL_CODEC_NONE:
		break;
	case MKL_CODEC_GZIP:
		deflateEnd(&cs->u.z);	/* safe on a stream that failed to init */
		break;
	case MKL_CODEC_ZSTD:
		ZSTD_freeCCtx(cs->u.zstd);
		break;
	case MKL_CODEC_XZ:
		lzma_end(&cs->u.lzma);
		break;
	case MKL_CODEC_LZ4:
		free(cs->u.lz4.in);
		free(cs->u.lz4.hc_state);
		break;
	}
	free(cs->out);
	free(cs);
}
