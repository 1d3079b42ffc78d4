/* cloop writer and reader: round trips for V2.0 and V4.0 with each codec,
 * block sizes and input sizes; thread-count independence; corrupt and
 * truncated images fail naming the block. Outside readers are in
 * tests/cli/cloop.sh. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "fmt/cloop.h"
#include "t.h"

static uint64_t rng = 88172645463325252ull;

static unsigned char rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned char)rng;
}

static void fill(unsigned char *p, size_t n, int compressible)
{
	static const char words[] = "usr lib share doc copyright changelog bin sbin etc ";

	for (size_t i = 0; i < n; i++)
		p[i] = compressible ? (unsigned char)words[(i / 3 + (rnd() & 1)) % (sizeof(words) - 1)]
				    : rnd();
}

static int tmpfd(void)
{
	int fd = open("/tmp", O_TMPFILE | O_RDWR, 0600);

	if (fd < 0) {
		char path[] = "/tmp/test-cloop-XXXXXX";

		fd = mkstemp(path);
		unlink(path);
	}
	return fd;
}

/* Write data in uneven pieces; returns the image fd (or -1, err set). */
static int make(const struct mkl_cloop_opts *o, const unsigned char *data, size_t len,
		struct mkl_cloop_stats *st, struct mkl_err *err)
{
	struct mkl_cloop_writer *w = NULL;
	int fd = tmpfd();
	size_t pos = 0, piece = 1;

	if (fd < 0)
		return mkl_error(err, errno, "tmpfile");
	if (mkl_cloop_create(fd, o, &w, err))
		goto fail;
	while (pos < len) {
		size_t n = len - pos < piece ? len - pos : piece;

		if (mkl_cloop_write(w, data + pos, n, err))
			goto fail;
		pos += n;
		piece = piece * 3 + 7;
	}
	if (mkl_cloop_finish(w, st, err))
		goto fail;
	mkl_cloop_writer_destroy(w);
	return fd;
fail:
	mkl_cloop_writer_destroy(w);
	close(fd);
	return -1;
}

struct membuf {
	unsigned char *p;
	size_t len;
};

static int sink_mem(void *ctx, const void *buf, size_t len, struct mkl_err *err)
{
	struct membuf *m = ctx;
	unsigned char *p = realloc(m->p, m->len + len + 1);

	if (!p)
		return mkl_error(err, ENOMEM, "out of memory");
	memcpy(p + m->len, buf, len);
	m->p = p;
	m->len += len;
	return 0;
}

static unsigned char *slurp(int fd, size_t *len)
{
	off_t n = lseek(fd, 0, SEEK_END);
	unsigned char *p = malloc((size_t)n + 1);

	if (pread(fd, p, (size_t)n, 0) != n) {
		free(p);
		return NULL;
	}
	*len = (size_t)n;
	return p;
}

/* Round trip: the reader gives back data padded with zeros to whole blocks. */
static void round_trip(const struct mkl_cloop_opts *o, size_t len, int compressible)
{
	unsigned char *data = malloc(len + 1);
	struct mkl_cloop_stats st, rs;
	struct mkl_cloop_reader *r = NULL;
	struct membuf m = { 0 };
	struct mkl_err err = { 0 };
	char what[128];
	uint32_t bs = o->block_size;
	size_t blocks = (len + bs - 1) / bs;
	int fd, ok;

	snprintf(what, sizeof(what), "v%d %s bs %u len %zu %s%s", o->version, mkl_codec_name(o->codec),
		 bs, len, compressible ? "text" : "random", o->size_known ? " sized" : "");
	fill(data, len, compressible);
	fd = make(o, data, len, &st, &err);
	T_OK(fd >= 0, "%s: create: %s", what, err.msg);
	if (fd < 0)
		goto out;
	T_EQ_INT(st.blocks, blocks);
	T_EQ_INT(st.input_bytes, len);
	T_OK(mkl_cloop_open(fd, &r, &err) == 0, "%s: open: %s", what, err.msg);
	if (!r)
		goto out;
	mkl_cloop_info(r, &rs);
	T_EQ_INT(rs.blocks, blocks);
	T_EQ_INT(rs.block_size, bs);
	T_EQ_INT(rs.version, o->version);
	T_EQ_INT(rs.file_bytes, st.file_bytes);
	T_OK(memcmp(rs.per_codec, st.per_codec, sizeof(rs.per_codec)) == 0, "%s: codec counts", what);
	T_OK(mkl_cloop_extract(r, sink_mem, &m, &err) == 0, "%s: extract: %s", what, err.msg);
	T_EQ_INT(m.len, blocks * bs);
	ok = m.len == blocks * bs && (len == 0 || memcmp(m.p, data, len) == 0);
	for (size_t i = len; ok && i < m.len; i++)
		ok = m.p[i] == 0;
	T_OK(ok, "%s: extracted bytes differ", what);
out:
	mkl_cloop_close(r);
	if (fd >= 0)
		close(fd);
	free(m.p);
	free(data);
}

static void test_round_trips(void)
{
	static const struct { int v; enum mkl_codec_id c; } kinds[] = {
		{ 2, MKL_CODEC_GZIP }, { 4, MKL_CODEC_GZIP }, { 4, MKL_CODEC_XZ },
		{ 4, MKL_CODEC_LZ4 }, { 4, MKL_CODEC_NONE },
	};
	static const uint32_t sizes[] = { 512, 4096, 65536 };

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			uint32_t bs = sizes[s];
			size_t lens[] = { 0, 1, bs - 1, bs, bs + 1, 7 * (size_t)bs + 1234 };

			for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++)
				for (int comp = 0; comp < 2; comp++) {
					struct mkl_cloop_opts o = { .version = kinds[k].v,
								    .codec = kinds[k].c, .block_size = bs,
								    .threads = 2 };

					o.size_known = (l + comp) % 2;
					o.expected_size = lens[l];
					round_trip(&o, lens[l], comp);
				}
		}
}

/* The same image whatever the thread count, and whether the size was known. */
static void test_deterministic(void)
{
	size_t len = 3 * 1024 * 1024 + 777, al, bl;
	unsigned char *data = malloc(len), *a = NULL, *b = NULL;
	struct mkl_err err = { 0 };
	struct mkl_cloop_stats st;
	int fa, fb;

	for (size_t i = 0; i < len; i += 16384)	/* every third block random */
		fill(data + i, len - i < 16384 ? len - i : 16384, (i / 16384) % 3 != 0);
	for (int v = 2; v <= 4; v += 2) {
		struct mkl_cloop_opts o1 = { .version = v, .codec = MKL_CODEC_GZIP, .block_size = 16384,
					     .threads = 1 };
		struct mkl_cloop_opts o4 = o1;

		o4.threads = 4;
		o4.size_known = true;
		o4.expected_size = len;
		fa = make(&o1, data, len, &st, &err);
		fb = make(&o4, data, len, &st, &err);
		T_OK(fa >= 0 && fb >= 0, "create: %s", err.msg);
		if (fa < 0 || fb < 0)
			continue;
		a = slurp(fa, &al);
		b = slurp(fb, &bl);
		T_OK(a && b && al == bl && memcmp(a, b, al) == 0, "v%d: 1 thread (spooled) and 4 threads "
		     "(direct) differ: %zu vs %zu bytes", v, al, bl);
		if (v == 4)
			T_OK(st.per_codec[MKL_CLOOP_NONE] > 0 && st.per_codec[MKL_CLOOP_ZLIB] > 0,
			     "v4 stores the random blocks (zlib %u, none %u)", st.per_codec[0],
			     st.per_codec[1]);
		free(a);
		free(b);
		close(fa);
		close(fb);
	}
	free(data);
}

static int write_at(int fd, off_t off, const void *p, size_t n)
{
	return pwrite(fd, p, n, off) == (ssize_t)n ? 0 : -1;
}

static void test_damage(void)
{
	size_t len = 10 * 4096;
	unsigned char *data = malloc(len), *img, *buf = malloc(4096);
	struct mkl_cloop_opts o = { .version = 2, .codec = MKL_CODEC_GZIP, .block_size = 4096 };
	struct mkl_cloop_reader *r = NULL;
	struct mkl_cloop_stats st;
	struct mkl_err err = { 0 };
	size_t ilen;
	uint64_t b3;
	int fd, fd2, ret;

	fill(data, len, 1);
	fd = make(&o, data, len, &st, &err);
	T_OK(fd >= 0, "create: %s", err.msg);
	img = slurp(fd, &ilen);
	/* offset of block 3 */
	b3 = 0;
	for (int i = 0; i < 8; i++)
		b3 = b3 << 8 | img[136 + 3 * 8 + i];

	/* A flipped byte in block 3's data. */
	fd2 = tmpfd();
	img[b3 + 5] ^= 0x55;
	write_at(fd2, 0, img, ilen);
	img[b3 + 5] ^= 0x55;
	T_OK(mkl_cloop_open(fd2, &r, &err) == 0, "open: %s", err.msg);
	if (r) {
		T_OK(mkl_cloop_read_block(r, 2, buf, &err) == 0, "block 2 still reads: %s", err.msg);
		ret = mkl_cloop_read_block(r, 3, buf, &err);
		T_OK(ret < 0 && strstr(err.msg, "block 3 of 10: compressed data is corrupt"), "%s",
		     err.msg);
		mkl_cloop_close(r);
		r = NULL;
	}
	close(fd2);

	/* Cut in the table. */
	fd2 = tmpfd();
	write_at(fd2, 0, img, 136 + 5 * 8);
	ret = mkl_cloop_open(fd2, &r, &err);
	T_OK(ret < 0 && strstr(err.msg, "offset table truncated"), "%s", err.msg);
	close(fd2);

	/* Cut in the data: in block 7. */
	fd2 = tmpfd();
	{
		uint64_t b7 = 0;

		for (int i = 0; i < 8; i++)
			b7 = b7 << 8 | img[136 + 7 * 8 + i];
		write_at(fd2, 0, img, (size_t)b7 + 3);
	}
	ret = mkl_cloop_open(fd2, &r, &err);
	T_OK(ret < 0 && strstr(err.msg, "block 7 of 10 ends past the end of the file"), "%s", err.msg);
	close(fd2);

	/* Offsets that go backwards. */
	fd2 = tmpfd();
	write_at(fd2, 0, img, ilen);
	write_at(fd2, 136 + 5 * 8, img + 136 + 2 * 8, 8);
	ret = mkl_cloop_open(fd2, &r, &err);
	T_OK(ret < 0 && strstr(err.msg, "block 4 of 10: offset table is corrupt"), "%s", err.msg);
	close(fd2);

	/* Bad block size, no signature, too short. */
	fd2 = tmpfd();
	write_at(fd2, 0, img, ilen);
	write_at(fd2, 128, "\0\0\x03\x01", 4);
	ret = mkl_cloop_open(fd2, &r, &err);
	T_OK(ret < 0 && strstr(err.msg, "block size 769"), "%s", err.msg);
	write_at(fd2, 11, "V9.9", 4);
	ret = mkl_cloop_open(fd2, &r, &err);
	T_OK(ret < 0 && strstr(err.msg, "not a cloop image"), "%s", err.msg);
	ftruncate(fd2, 100);
	ret = mkl_cloop_open(fd2, &r, &err);
	T_OK(ret < 0 && strstr(err.msg, "too short"), "%s", err.msg);
	close(fd2);

	/* Huge block count in a small file. */
	fd2 = tmpfd();
	write_at(fd2, 0, img, ilen);
	write_at(fd2, 132, "\xff\xff\xff\xff", 4);
	ret = mkl_cloop_open(fd2, &r, &err);
	T_OK(ret < 0 && strstr(err.msg, "offset table truncated"), "%s", err.msg);
	close(fd2);

	free(img);
	free(buf);
	free(data);
	close(fd);
}

/* An xz block whose header asks for a 4 GiB dictionary (found by
 * tests/fuzz/fuzz-cloop.c): liblzma would allocate it all for a 4 KiB
 * block; the reader refuses instead. */
static void test_xz_dictionary(void)
{
	size_t len = 2 * 4096, ilen, hs, i;
	unsigned char *data = malloc(len), *img, *h, *buf = malloc(4096);
	struct mkl_cloop_opts o = { .version = 4, .codec = MKL_CODEC_XZ, .block_size = 4096 };
	struct mkl_cloop_reader *r = NULL;
	struct mkl_cloop_stats st;
	struct mkl_err err = { 0 };
	uint64_t b0 = 0;
	uLong crc;
	int fd, fd2;

	fill(data, len, 1);
	fd = make(&o, data, len, &st, &err);
	T_OK(fd >= 0, "create: %s", err.msg);
	img = slurp(fd, &ilen);
	for (i = 0; i < 8; i++)
		b0 = b0 << 8 | img[136 + i];
	T_EQ_INT(b0 >> 60, 2);		/* xz */
	/* after the 12-byte stream header: the block header, its LZMA2
	 * filter (id 0x21, 1 byte of properties: the dictionary size) */
	h = img + (b0 & 0x0fffffffffffffffULL) + 12;
	hs = (h[0] + 1) * 4u;
	for (i = 2; i + 2 < hs - 4 && !(h[i] == 0x21 && h[i + 1] == 1); i++)
		;
	T_OK(i + 2 < hs - 4, "LZMA2 filter in the block header");
	h[i + 2] = 40;			/* 4 GiB - 1 */
	crc = crc32(0, h, (uInt)(hs - 4));
	for (i = 0; i < 4; i++)
		h[hs - 4 + i] = (unsigned char)(crc >> (8 * i));
	fd2 = tmpfd();
	write_at(fd2, 0, img, ilen);
	T_OK(mkl_cloop_open(fd2, &r, &err) == 0, "open: %s", err.msg);
	if (r) {
		T_OK(mkl_cloop_read_block(r, 0, buf, &err) < 0 &&
		     strstr(err.msg, "block 0 of 2: xz block asks for 4096 MiB"), "%s", err.msg);
		T_OK(mkl_cloop_read_block(r, 1, buf, &err) == 0, "block 1 still reads: %s", err.msg);
		mkl_cloop_close(r);
	}
	close(fd2);
	close(fd);
	free(img);
	free(buf);
	free(data);
}

static void test_bad_options(void)
{
	struct mkl_cloop_writer *w = NULL;
	struct mkl_err err = { 0 };
	struct mkl_cloop_opts o = { .version = 2, .codec = MKL_CODEC_XZ };
	int fd = tmpfd();

	T_OK(mkl_cloop_create(fd, &o, &w, &err) < 0 && strstr(err.msg, "zlib only"), "%s", err.msg);
	o.version = 4;
	o.codec = MKL_CODEC_ZSTD;
	T_OK(mkl_cloop_create(fd, &o, &w, &err) < 0, "zstd refused");
	o.codec = MKL_CODEC_GZIP;
	o.block_size = 1000;
	T_OK(mkl_cloop_create(fd, &o, &w, &err) < 0 && strstr(err.msg, "multiple of 512"), "%s", err.msg);
	o.block_size = 4096;
	o.version = 3;
	T_OK(mkl_cloop_create(fd, &o, &w, &err) < 0, "version 3 refused");
	/* More input than announced. */
	o.version = 2;
	o.size_known = true;
	o.expected_size = 4096;
	T_OK(mkl_cloop_create(fd, &o, &w, &err) == 0, "create: %s", err.msg);
	if (w) {
		static unsigned char z[8192];

		T_OK(mkl_cloop_write(w, z, sizeof(z), &err) < 0 || mkl_cloop_finish(w, NULL, &err) < 0,
		     "too much input accepted");
		mkl_cloop_writer_destroy(w);
	}
	mkl_cloop_writer_destroy(NULL);
	mkl_cloop_close(NULL);
	close(fd);
}

int main(void)
{
	test_round_trips();
	test_deterministic();
	test_damage();
	test_xz_dictionary();
	test_bad_options();
	return t_done();
}
