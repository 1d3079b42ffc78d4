/* Codecs: names and levels, and every stream codec checked by the outside
 * decompressor (gzip -d, zstd -d, xz -d, lz4 -d) against the input bytes. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec/codec.h"
#include "t.h"

static int t_rc;

static char dir[] = "/tmp/mklive-codec.XXXXXX";

static int file_sink(void *ctx, const void *buf, size_t len, struct mkl_err *err)
{
	if (fwrite(buf, 1, len, ctx) != len)
		return mkl_error(err, errno, "cannot write test output");
	return 0;
}

static int fail_sink(void *ctx, const void *buf, size_t len, struct mkl_err *err)
{
	return mkl_error(err, ENOSPC, "test sink full");
}

static int have(const char *tool)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", tool);
	return system(cmd) == 0;
}

static unsigned char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n ? (size_t)n : 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Compress data in odd-sized pieces to a file. */
static int compress_to(enum mkl_codec_id id, int level, const unsigned char *data, size_t len,
		       const char *path)
{
	struct mkl_cstream *cs;
	struct mkl_err err = { 0 };
	FILE *f = fopen(path, "wb");
	size_t off = 0, piece = 7777;
	int ret;

	if (!f)
		return -1;
	ret = mkl_cstream_create(id, level, file_sink, f, &cs, &err);
	T_EQ_INT(ret, 0);
	if (ret < 0) {
		printf("# %s\n", err.msg);
		fclose(f);
		return -1;
	}
	while (off < len && ret == 0) {
		size_t n = len - off < piece ? len - off : piece;

		ret = mkl_cstream_write(cs, data + off, n, &err);
		off += n;
		piece = piece * 3 % 300007 + 1;	/* vary: small to ~300 KB */
	}
	if (ret == 0)
		ret = mkl_cstream_finish(cs, &err);
	if (ret < 0)
		printf("# %s\n", err.msg);
	mkl_cstream_destroy(cs);
	fclose(f);
	return ret;
}

static void round_trip(enum mkl_codec_id id, int level, const char *tool, const char *dflags,
		       const unsigned char *data, size_t len, const char *tag)
{
	char in[512], out[512], cmd[1200];
	unsigned char *back;
	size_t blen = 0;

	snprintf(in, sizeof(in), "%s/%s-%s.c", dir, mkl_codec_name(id), tag);
	snprintf(out, sizeof(out), "%s/%s-%s.out", dir, mkl_codec_name(id), tag);
	T_OK((t_rc = compress_to(id, level, data, len, in)) == 0, "compress_to(id, level, data, len, in) returned %d", t_rc);
	if (!tool) {
		back = read_file(in, &blen);
	} else if (!have(tool)) {
		printf("skip - %s not installed, %s not checked\n", tool, mkl_codec_name(id));
		t_skipped++;
		return;
	} else {
		snprintf(cmd, sizeof(cmd), "%s %s < '%s' > '%s'", tool, dflags, in, out);
		T_OK((t_rc = system(cmd)) == 0, "system(cmd) returned %d", t_rc);
		back = read_file(out, &blen);
	}
	T_OK(back != NULL, "%s %s: no output", mkl_codec_name(id), tag);
	T_EQ_INT(blen, len);
	T_OK(back && blen == len && memcmp(back, data, len) == 0, "%s %s: bytes differ",
	     mkl_codec_name(id), tag);
	free(back);
}

int main(void)
{
	static const struct {
		enum mkl_codec_id id;
		const char *tool, *flags;
	} codecs[] = {
		{ MKL_CODEC_NONE, NULL, NULL },
		{ MKL_CODEC_GZIP, "gzip", "-dc" },
		{ MKL_CODEC_ZSTD, "zstd", "-dcq" },
		{ MKL_CODEC_XZ, "xz", "-dc" },
		{ MKL_CODEC_LZ4, "lz4", "-dc" },
	};
	size_t big = 9u << 20, small = 200000, i;
	struct mkl_err err = { 0 };
	enum mkl_codec_id id;
	struct mkl_cstream *cs;
	unsigned char *data;
	uint32_t x = 12345;
	char cmd[600];
	FILE *p;

	if (!mkdtemp(dir)) {
		printf("not ok - mkdtemp\n");
		return 1;
	}

	/* Names and levels. */
	T_EQ_INT(mkl_codec_parse("zstd", &id, &err), 0);
	T_EQ_INT(id, MKL_CODEC_ZSTD);
	T_EQ_INT(mkl_codec_parse("zlib", &id, &err), 0);
	T_EQ_INT(id, MKL_CODEC_GZIP);
	T_EQ_INT(mkl_codec_parse("lz4", &id, &err), 0);
	T_EQ_INT(id, MKL_CODEC_LZ4);
	T_EQ_INT(mkl_codec_parse("brotli", &id, &err), -1);
	T_OK(strstr(err.msg, "unknown compressor 'brotli'") != NULL, "msg: %s", err.msg);
	T_EQ_STR(mkl_codec_name(MKL_CODEC_XZ), "xz");
	T_EQ_STR(mkl_codec_name(MKL_CODEC_GZIP), "gzip");
	T_EQ_INT(mkl_codec_default_level(MKL_CODEC_NONE), 0);
	T_EQ_INT(mkl_codec_check_level(MKL_CODEC_ZSTD, mkl_codec_default_level(MKL_CODEC_ZSTD),
				       &err), 0);
	T_EQ_INT(mkl_codec_check_level(MKL_CODEC_GZIP, 10, &err), -1);
	T_OK(strstr(err.msg, "level 10") && strstr(err.msg, "gzip"), "msg: %s", err.msg);
	T_EQ_INT(mkl_codec_check_level(MKL_CODEC_NONE, 1, &err), -1);
	T_EQ_INT(mkl_codec_check_level(MKL_CODEC_LZ4, 12, &err), 0);
	T_EQ_INT(mkl_cstream_create(MKL_CODEC_XZ, 42, file_sink, NULL, &cs, &err), -1);
	T_OK(cs == NULL, "no stream on error");

	/* Data: 4 MiB of noise then 5 MiB of text, over one lz4 block. */
	data = malloc(big);
	for (i = 0; i < (4u << 20); i++) {
		x = x * 1103515245u + 12345u;
		data[i] = (unsigned char)(x >> 16);
	}
	for (; i < big; i += 0) {
		char line[128];
		int n = snprintf(line, sizeof(line), "line %zu: the quick brown fox\n", i);

		for (int k = 0; k < n && i < big; k++)
			data[i++] = (unsigned char)line[k];
	}

	for (i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++) {
		enum mkl_codec_id c = codecs[i].id;
		int fast = c == MKL_CODEC_ZSTD ? 3 : c == MKL_CODEC_XZ ? 1 : c == MKL_CODEC_LZ4 ? 1 : 0;

		round_trip(c, 0, codecs[i].tool, codecs[i].flags, data + (4u << 20) - small / 2,
			   small, "default");
		round_trip(c, fast, codecs[i].tool, codecs[i].flags, data, big, "big");
		round_trip(c, 0, codecs[i].tool, codecs[i].flags, data, 0, "empty");
	}
	/* lz4 HC path on the big input too (two legacy blocks). */
	round_trip(MKL_CODEC_LZ4, 9, "lz4", "-dc", data, big, "hc");

	/* lz4: legacy magic, then a block size. */
	{
		char path[512];
		size_t n = 0;
		unsigned char *b;

		snprintf(path, sizeof(path), "%s/lz4-hc.c", dir);
		b = read_file(path, &n);
		T_OK(b && n > 8 && b[0] == 0x02 && b[1] == 0x21 && b[2] == 0x4c && b[3] == 0x18,
		     "lz4 legacy magic");
		/* First block holds exactly 8 MiB of input: its size is the
		 * LZ4 data that follows, then the second block's size. */
		if (b && n > 8) {
			uint32_t s1 = b[4] | b[5] << 8 | b[6] << 16 | (uint32_t)b[7] << 24;

			T_OK(8 + s1 + 4 < n, "second lz4 block present (s1 %u, n %zu)", s1, n);
		}
		free(b);
	}
	/* gzip: no name, mtime 0. */
	{
		char path[512];
		size_t n = 0;
		unsigned char *b;

		snprintf(path, sizeof(path), "%s/gzip-default.c", dir);
		b = read_file(path, &n);
		T_OK(b && n > 10 && b[0] == 0x1f && b[1] == 0x8b && b[2] == 8 && b[3] == 0 &&
		     b[4] == 0 && b[5] == 0 && b[6] == 0 && b[7] == 0, "gzip header: no flags, mtime 0");
		free(b);
	}
	/* xz: the check is CRC32. */
	if (have("xz")) {
		char line[512];
		int crc32 = 0, crc64 = 0;

		snprintf(cmd, sizeof(cmd), "xz -lvv '%s/xz-default.c'", dir);
		p = popen(cmd, "r");
		while (p && fgets(line, sizeof(line), p)) {
			if (strstr(line, "CRC32"))
				crc32 = 1;
			if (strstr(line, "CRC64"))
				crc64 = 1;
		}
		if (p)
			pclose(p);
		T_OK(crc32 && !crc64, "xz -lvv shows CRC32 only (crc32 %d, crc64 %d)", crc32, crc64);
	} else {
		T_SKIP("xz not installed: check type not read");
	}
	/* zstd: the frame has a checksum ("XXH64" in zstd -lv). */
	if (have("zstd")) {
		char line[512];
		int xxh = 0;

		snprintf(cmd, sizeof(cmd), "zstd -lv '%s/zstd-default.c' 2>&1", dir);
		p = popen(cmd, "r");
		while (p && fgets(line, sizeof(line), p))
			if (strstr(line, "Check") && strstr(line, "XXH64"))
				xxh = 1;
		if (p)
			pclose(p);
		T_OK(xxh, "zstd -lv shows an XXH64 check");
	} else {
		T_SKIP("zstd not installed: checksum flag not read");
	}

	/* A failing sink fails the stream and the error is the sink's. */
	for (i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++) {
		int ret;

		memset(&err, 0, sizeof(err));
		ret = mkl_cstream_create(codecs[i].id, 1 + (codecs[i].id == MKL_CODEC_NONE ? -1 : 0),
					 fail_sink, NULL, &cs, &err);
		if (ret == 0) {
			ret = mkl_cstream_write(cs, data, 1u << 20, &err);
			if (ret == 0)
				ret = mkl_cstream_finish(cs, &err);
		}
		T_EQ_INT(ret, -1);
		T_OK(strstr(err.msg, "test sink full") != NULL, "%s: msg '%s'",
		     mkl_codec_name(codecs[i].id), err.msg);
		T_EQ_INT(err.code, ENOSPC);
		mkl_cstream_destroy(cs);
		cs = NULL;
	}
	mkl_cstream_destroy(NULL);

	free(data);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# cannot remove %s\n", dir);
	return t_done();
}
