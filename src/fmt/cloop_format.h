/* The cloop compressed block device format, V2.0 and V4.0: plain constants
 * and layout only (no library includes), shared by the writer, the reader
 * and the static init's nbd server.
 *
 * Header first (what we write, and what create_compressed_fs writes):
 *
 *   0     128-byte preamble: a shell script, "#!/bin/sh\n#V2.0 Format\n..."
 *         padded with zeros; readers look for "V2.0" or "V4.0" at byte 11
 *   128   u32 BE block size (a multiple of 512)
 *   132   u32 BE block count n
 *   136   (n+1) u64 BE offsets, absolute in the file: block i is the bytes
 *         [off[i], off[i+1]); V4.0 keeps a codec in the top 4 bits of each
 *         entry (CLOOP_FLAGS), the offset in the low 60 (CLOOP_OFFSET)
 *   ...   the compressed blocks, in order
 *
 * V4.0 may instead put the table and then the 136-byte header at the end of
 * the file ("header last"; the kernel driver looks at both places). Every
 * block decompresses to exactly block_size bytes: the last block is padded
 * with zeros before compression, so the uncompressed size is n * block_size.
 */
#ifndef MKL_CLOOP_FORMAT_H
#define MKL_CLOOP_FORMAT_H

#include <stdint.h>

#define MKL_CLOOP_HEADROOM	128
#define MKL_CLOOP_HEADER_SIZE	136	/* preamble + block size + block count */
#define MKL_CLOOP_SIG_OFFSET	11	/* "V2.0" / "V4.0" */
#define MKL_CLOOP_SIG_SIZE	4
#define MKL_CLOOP_SIG_V2	"V2.0"
#define MKL_CLOOP_SIG_V4	"V4.0"

/* The preamble cloop-utils' create_compressed_fs writes (V4.0: same text). */
#define MKL_CLOOP_PREAMBLE(ver)						\
	"#!/bin/sh\n#" ver " Format\n"					\
	"modprobe cloop file=$0 && mount -r -t iso9660 /dev/cloop $1\n"	\
	"exit $?\n"
#define MKL_CLOOP_PREAMBLE_V2	MKL_CLOOP_PREAMBLE("V2.0")
#define MKL_CLOOP_PREAMBLE_V4	MKL_CLOOP_PREAMBLE("V4.0")

/* V4.0 per-block codecs (top 4 bits of an offset entry). */
#define MKL_CLOOP_ZLIB		0	/* zlib stream (RFC 1950), as V2.0 */
#define MKL_CLOOP_NONE		1	/* stored: block_size raw bytes */
#define MKL_CLOOP_XZ		2	/* .xz stream, CRC32 check (the kernel's xz_dec) */
#define MKL_CLOOP_LZ4		3	/* raw LZ4 block, no frame (LZ4_decompress_safe) */
#define MKL_CLOOP_LZO		4	/* lzo1x: read by the driver, not written by us */

#define MKL_CLOOP_FLAGS(x)	((unsigned)((uint64_t)(x) >> 60))
#define MKL_CLOOP_OFFSET(x)	((uint64_t)(x) & 0x0fffffffffffffffULL)
#define MKL_CLOOP_ENTRY(off, flags) (((uint64_t)(flags) << 60) | (uint64_t)(off))

/* Block size limits: a multiple of 512 (the kernel driver and qemu's
 * block/cloop.c refuse anything else); qemu refuses blocks over 64 MiB
 * (MAX_BLOCK_SIZE) and reads a compressed block of at most 2 * 64 MiB;
 * create_compressed_fs warns beyond 256 KiB. */
#define MKL_CLOOP_BLOCK_ALIGN	512u
#define MKL_CLOOP_MAX_BLOCK	(64u << 20)
#define MKL_CLOOP_DEFAULT_BLOCK	(64u << 10)

struct mkl_cloop_head {
	char preamble[MKL_CLOOP_HEADROOM];
	uint32_t block_size;	/* big endian */
	uint32_t num_blocks;	/* big endian */
};

#endif
