/* libFuzzer harness: the init's own cloop reader, the one its nbd server
 * uses at boot (src/init/nbd.c, with the zlib and lz4 decoders of
 * src/init/unpack.c), compiled here with the host's compiler.
 *
 * The input is the image, opened by path through an in-memory file, as the
 * init opens the file on the medium. An image that opens is read block by
 * block (a bounded number of bytes per input), then across block edges,
 * then past its end, which must fail with EINVAL.
 *
 * The builder's reader (src/fmt/cloop.c, over zlib and liblz4) is the
 * oracle: when both readers take the image and agree on its layout, every
 * zlib or stored block the builder's reader decodes must read the same in
 * the init, and an lz4 block that both decode must read the same. (liblz4
 * takes a match offset of 0, which the lz4 format forbids and the init
 * refuses; fuzz-init-unpack checks that every block liblz4's encoder
 * writes decodes in the init.) */
#include <errno.h>
#include <string.h>

#include "fmt/cloop.h"
#include "fuzz.h"

#include "init/unpack.c"
#include "init/nbd.c"
#include "../init-stubs.h"

#define READ_BYTES	(16u << 20)	/* decompressed bytes per input, at most */

static struct cloop c;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mkl_cloop_reader *r = NULL;
	struct mkl_cloop_stats st;
	struct mkl_err e;
	unsigned char *want = NULL;
	char *buf, path[64];
	uint32_t i, max;
	unsigned codec;
	int fd, same, ok;

	fd = fuzz_memfd(data, size, path, sizeof(path));
	if (cloop_open(&c, path) < 0)
		return 0;
	FUZZ_CHECK(c.size == (uint64_t)c.nblocks * c.bsize);
	same = mkl_cloop_open(fd, &r, &e) == 0;
	if (same) {
		mkl_cloop_info(r, &st);
		/* the header where both readers look for it first, or at the end */
		same = st.block_size == c.bsize && st.blocks == c.nblocks &&
		       (st.version == 4) == c.v4 &&
		       !mkl_cloop_header_last(r) == (memmem(data, MKL_CLOOP_HEADROOM, "V2.0", 4) ||
						     memmem(data, MKL_CLOOP_HEADROOM, "V4.0", 4));
		want = same ? malloc(c.bsize) : NULL;
		FUZZ_CHECK(!same || want);
	}
	buf = malloc(c.bsize + 1024);
	FUZZ_CHECK(buf != NULL);
	max = READ_BYTES / c.bsize ? READ_BYTES / c.bsize : 1;
	if (max > c.nblocks)
		max = c.nblocks;
	for (i = 0; i < max; i++) {
		int rc = cloop_read(&c, buf, (uint64_t)i * c.bsize, c.bsize);

		FUZZ_CHECK(rc == 0 || rc == EIO);
		codec = c.v4 ? MKL_CLOOP_FLAGS(c.off[i]) : MKL_CLOOP_ZLIB;
		if (!same || codec == MKL_CLOOP_XZ || codec > MKL_CLOOP_LZ4)
			continue;
		ok = mkl_cloop_read_block(r, i, want, &e) == 0;
		if (ok && (rc == 0 || codec != MKL_CLOOP_LZ4)) {
			FUZZ_CHECK(rc == 0);
			FUZZ_CHECK(!memcmp(buf, want, c.bsize));
		}
	}
	/* a read across the edge of two blocks, and one past the end */
	if (max >= 2)
		cloop_read(&c, buf, c.bsize - 512, 1024);
	FUZZ_CHECK(cloop_read(&c, buf, c.size - 512, 1024) == EINVAL);
	FUZZ_CHECK(cloop_read(&c, buf, c.size + 512, 512) == EINVAL);
	free(buf);
	free(want);
	mkl_cloop_close(r);
	cloop_free(&c);
	return 0;
}
