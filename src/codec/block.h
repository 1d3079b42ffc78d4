/* One-shot block compressors, for block formats (cloop): each block is
 * compressed on its own and decompresses on its own.
 *
 *   gzip (zlib): a zlib stream (RFC 1950), as compress2() writes it
 *   xz:          a complete .xz stream with a CRC32 check, LZMA2 with the
 *                dictionary cut to the block (the kernel's xz_dec reads it)
 *   lz4:         a raw LZ4 block (LZ4_compress_default, or LZ4 HC for
 *                levels >= 3), no frame
 *   none:        the bytes as they are
 *
 * A compressor keeps its state between blocks (one per thread).
 */
#ifndef MKL_CODEC_BLOCK_H
#define MKL_CODEC_BLOCK_H

#include <stddef.h>

#include "codec/codec.h"

/* zlib levels 8 and 9 cap the match-chain search at 256 (deflateTune)
 * unless this flag is given: the output is then what compress2() writes
 * at that level, byte for byte, and about four times slower to make. */
#define MKL_BLOCK_EXACT	1u

struct mkl_bcomp;

/* level 0 = the codec's default. */
int mkl_bcomp_create(enum mkl_codec_id id, int level, unsigned flags, struct mkl_bcomp **out,
		     struct mkl_err *err);
/* The largest compressed size of len input bytes: out must hold this much. */
size_t mkl_block_bound(enum mkl_codec_id id, size_t len);
/* Compress len bytes into out (cap >= mkl_block_bound()); *out_len set. */
int mkl_bcomp_run(struct mkl_bcomp *c, const void *in, size_t len, void *out, size_t cap,
		  size_t *out_len, struct mkl_err *err);
void mkl_bcomp_destroy(struct mkl_bcomp *c);	/* accepts NULL */

/* Decompress one block into out (cap bytes); *out_len = bytes produced.
 * Corrupt input or output longer than cap is an error ("compressed data is
 * corrupt"). */
int mkl_block_decompress(enum mkl_codec_id id, const void *in, size_t len, void *out, size_t cap,
			 size_t *out_len, struct mkl_err *err);

#endif
