/* cloop compressed block images, V2.0 and V4.0 (layout in cloop_format.h):
 * a parallel writer and a checking reader.
 *
 * Writer. Blocks compress on `threads` worker threads through a bounded
 * ring of 4 slots per thread; the caller's thread writes finished blocks
 * in order, so the output is the same whatever the thread count. The
 * offset table sits before the data, and its size depends on the block
 * count:
 *   - expected_size given and out_fd a regular file: the table space is
 *     reserved, blocks are written straight after it, and the table is
 *     filled in by pwrite at the end (offsets count from out_fd's position
 *     at create time, which must be 0 for a file the readers accept);
 *   - otherwise (a stream of unknown length, or a pipe): the compressed
 *     blocks go to an unnamed spool file (in spool_dir, else $TMPDIR, else
 *     /tmp), and finish writes header, table and then the spooled blocks.
 * The last partial block is padded with zeros, as create_compressed_fs does:
 * an image always holds n * block_size bytes.
 */
#ifndef MKL_FMT_CLOOP_H
#define MKL_FMT_CLOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "codec/codec.h"
#include "fmt/cloop_format.h"
#include "tree/err.h"

struct mkl_cloop_opts {
	int version;			/* 2 (default when 0) or 4 */
	enum mkl_codec_id codec;	/* V2.0: MKL_CODEC_GZIP only; V4.0: gzip, xz, lz4, none */
	int level;			/* 0: 9 for zlib, the codec's default otherwise */
	uint32_t block_size;		/* 0: 64 KiB; a multiple of 512, at most 64 MiB */
	unsigned threads;		/* 0: all online cores */
	bool exact;			/* zlib: compress2()'s own search (byte-identical to
					 * create_compressed_fs), not the capped one */
	bool size_known;		/* expected_size is the input's size */
	uint64_t expected_size;
	const char *spool_dir;		/* NULL: $TMPDIR or /tmp */
};

struct mkl_cloop_stats {
	int version;
	uint32_t block_size;
	uint32_t blocks;
	uint32_t per_codec[16];		/* blocks by V4 codec number (V2: all zlib) */
	uint64_t input_bytes;		/* bytes given to the writer */
	uint64_t image_bytes;		/* n * block_size */
	uint64_t file_bytes;		/* the cloop file */
};

struct mkl_cloop_writer;

/* The options make a writer (version, codec, block size, level), without
 * writing anything; mkl_cloop_create checks the same. */
int mkl_cloop_check_opts(const struct mkl_cloop_opts *opts, struct mkl_err *err);
int mkl_cloop_create(int out_fd, const struct mkl_cloop_opts *opts, struct mkl_cloop_writer **out,
		     struct mkl_err *err);
/* An mkl_sink_fn: ctx is the writer. */
int mkl_cloop_write(void *writer, const void *buf, size_t len, struct mkl_err *err);
int mkl_cloop_finish(struct mkl_cloop_writer *w, struct mkl_cloop_stats *stats, struct mkl_err *err);
void mkl_cloop_writer_destroy(struct mkl_cloop_writer *w);	/* accepts NULL */

/* Reader. open checks the header and the whole offset table against the
 * file size, so a truncated or damaged file fails there, naming the block;
 * read_block checks each block's data. */
struct mkl_cloop_reader;

int mkl_cloop_open(int fd, struct mkl_cloop_reader **out, struct mkl_err *err);
/* stats: version, block size, blocks, per_codec, image_bytes, file_bytes. */
void mkl_cloop_info(const struct mkl_cloop_reader *r, struct mkl_cloop_stats *stats);
/* The preamble's version line, e.g. "#V2.0 Format", and where the header is. */
const char *mkl_cloop_header_line(const struct mkl_cloop_reader *r);
bool mkl_cloop_header_last(const struct mkl_cloop_reader *r);
/* Decompress block i (< blocks) into buf (block_size bytes). */
int mkl_cloop_read_block(struct mkl_cloop_reader *r, uint32_t i, void *buf, struct mkl_err *err);
/* All blocks, in order, to sink (n * block_size bytes). */
int mkl_cloop_extract(struct mkl_cloop_reader *r, mkl_sink_fn sink, void *ctx, struct mkl_err *err);
void mkl_cloop_close(struct mkl_cloop_reader *r);	/* accepts NULL; does not close fd */

/* "zlib", "none", "xz", "lz4", "lzo" for V4 codec numbers, else "unknown". */
const char *mkl_cloop_codec_name(unsigned cloop_codec);

#endif
