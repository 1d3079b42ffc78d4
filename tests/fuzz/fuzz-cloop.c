/* libFuzzer harness: the builder's cloop reader (src/fmt/cloop.c), as
 * `mklive cloop info` and `extract` use it.
 *
 * The input is the image, read through an in-memory file. An image that
 * opens must describe itself consistently (its blocks fit in the file, the
 * per-codec counts add up to the block count); then its blocks are read,
 * each either decoding to exactly one block or failing with a message. Only
 * the first few blocks of an image with huge blocks are read, to keep each
 * input fast. */
#include <string.h>

#include "fmt/cloop.h"
#include "fuzz.h"

#define READ_BYTES	(16u << 20)	/* decompressed bytes per input, at most */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mkl_cloop_reader *r;
	struct mkl_cloop_stats st;
	struct mkl_err err;
	unsigned char *buf;
	uint64_t sum = 0;
	uint32_t i, max;
	int fd;

	fd = fuzz_memfd(data, size, NULL, 0);
	err.msg[0] = 0;
	if (mkl_cloop_open(fd, &r, &err) < 0) {
		FUZZ_CHECK(err.msg[0] && memchr(err.msg, 0, sizeof(err.msg)));
		return 0;
	}
	mkl_cloop_info(r, &st);
	FUZZ_CHECK(st.version == 2 || st.version == 4);
	FUZZ_CHECK(st.block_size && st.block_size % 512 == 0 && st.block_size <= (64u << 20));
	FUZZ_CHECK(st.file_bytes == size);
	for (i = 0; i < 16; i++)
		sum += st.per_codec[i];
	FUZZ_CHECK(sum == st.blocks);
	FUZZ_CHECK(strlen(mkl_cloop_header_line(r)) < 64);
	max = READ_BYTES / st.block_size ? READ_BYTES / st.block_size : 1;
	if (max > st.blocks)
		max = st.blocks;
	buf = malloc(st.block_size);
	FUZZ_CHECK(buf != NULL);
	for (i = 0; i < max; i++)
		if (mkl_cloop_read_block(r, i, buf, &err) < 0)
			FUZZ_CHECK(err.msg[0] && memchr(err.msg, 0, sizeof(err.msg)));
	FUZZ_CHECK(mkl_cloop_read_block(r, st.blocks, buf, &err) < 0);
	free(buf);
	mkl_cloop_close(r);
	return 0;
}
