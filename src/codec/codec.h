/* Compressors behind one interface: a stream (initramfs, anything that
 * compresses a whole byte stream) and, for block formats, one-shot blocks.
 *
 * Stream formats are the ones the Linux kernel's initramfs unpacker reads:
 * gzip, zstd (single-threaded frames with the content size unknown is
 * fine), xz with the CRC32 check (the kernel's xz decoder has no CRC64 by
 * default), lz4 in the legacy frame format, and none.
 */
#ifndef MKL_CODEC_H
#define MKL_CODEC_H

#include <stddef.h>

#include "tree/err.h"

enum mkl_codec_id {
	MKL_CODEC_NONE,
	MKL_CODEC_GZIP,		/* zlib deflate in a gzip wrapper (streams), raw zlib (blocks) */
	MKL_CODEC_ZSTD,
	MKL_CODEC_XZ,
	MKL_CODEC_LZ4,
};

/* "none", "gzip" (alias "zlib"), "zstd", "xz", "lz4" -> id; -1 when unknown (err set). */
int mkl_codec_parse(const char *name, enum mkl_codec_id *out, struct mkl_err *err);
const char *mkl_codec_name(enum mkl_codec_id id);
/* Default and valid range of levels for the codec (none: 0..0). */
int mkl_codec_default_level(enum mkl_codec_id id);
int mkl_codec_check_level(enum mkl_codec_id id, int level, struct mkl_err *err);

/* Streaming compressor: bytes written in go to sink compressed. level 0 = default. */
struct mkl_cstream;
int mkl_cstream_create(enum mkl_codec_id id, int level, mkl_sink_fn sink, void *sink_ctx,
		       struct mkl_cstream **out, struct mkl_err *err);
int mkl_cstream_write(struct mkl_cstream *cs, const void *buf, size_t len, struct mkl_err *err);
/* Flush the end of the stream to the sink. */
int mkl_cstream_finish(struct mkl_cstream *cs, struct mkl_err *err);
void mkl_cstream_destroy(struct mkl_cstream *cs);	/* accepts NULL */

#endif
