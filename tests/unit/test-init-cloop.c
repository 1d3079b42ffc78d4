/* The init's own pieces for issue 3, compiled here with the host compiler:
 * its zlib and lz4 decoders (src/init/unpack.c) against zlib's and liblz4's
 * encoders, corrupt and truncated input included; its cloop reader (the nbd
 * server's, src/init/nbd.c) on V2.0, V4.0 and V4.0 header-last files made
 * here, and on truncated and corrupt ones; and the symlink-mode tree copy
 * (src/init/copy.c) compared entry by entry with lstat. */
#include <errno.h>
#include <fcntl.h>
#include <lz4.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zlib.h>

#include "t.h"

/* the init's files, with stubs for what they take from util.c and modules.c */
#include "init/unpack.c"
#include "init/nbd.c"
#include "init/copy.c"

#include "../init-stubs.h"

static uint64_t rng = 88172645463325252ull;

static unsigned char rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned char)rng;
}

/* kind 0: text-like, 1: random, 2: zeros, 3: runs */
static void fill(unsigned char *p, size_t n, int kind)
{
	static const char words[] = "usr lib share doc copyright changelog bin sbin etc ";

	for (size_t i = 0; i < n; i++)
		p[i] = kind == 0 ? (unsigned char)words[(i * 7 + rnd() % 3) % (sizeof(words) - 1)]
		     : kind == 1 ? rnd() : kind == 2 ? 0 : (unsigned char)(i / 300);
}

static void test_zlib_lz4(void)
{
	static unsigned char in[65536], c[80000], out[65536];
	int levels[] = { 0, 1, 6, 9 }, fails = 0, lfails = 0, corrupt_ok = 0;

	for (int kind = 0; kind < 4; kind++)
		for (int li = 0; li < 4; li++) {
			uLongf cl = sizeof(c);
			long r;

			fill(in, sizeof(in), kind);
			compress2(c, &cl, in, sizeof(in), levels[li]);
			r = zlib_unpack(c, cl, out, sizeof(out));
			if (r != (long)sizeof(in) || memcmp(in, out, sizeof(in)))
				fails++;
			/* too small an output buffer, truncation, a flipped byte */
			if (zlib_unpack(c, cl, out, sizeof(out) - 1) >= 0)
				fails++;
			if (zlib_unpack(c, cl - 5, out, sizeof(out)) >= 0)
				fails++;
			c[cl / 2] ^= 0x21;
			r = zlib_unpack(c, cl, out, sizeof(out));
			corrupt_ok += r < 0;

			int l = LZ4_compress_default((char *)in, (char *)c, sizeof(in), sizeof(c));
			r = lz4_unpack(c, l, out, sizeof(out));
			if (r != (long)sizeof(in) || memcmp(in, out, sizeof(in)))
				lfails++;
			for (int t = 0; t < 20; t++)
				lz4_unpack(c, rnd() * (size_t)l / 256, out, sizeof(out));
			c[l / 2] ^= 0x55;
			lz4_unpack(c, l, out, sizeof(out));	/* must not crash */
		}
	T_EQ_INT(fails, 0);
	T_EQ_INT(lfails, 0);
	T_EQ_INT(corrupt_ok, 16);	/* the Adler-32 catches every flipped byte */
	T_OK(zlib_unpack("", 0, out, sizeof(out)) < 0, "empty zlib stream accepted");
}

static void put64(unsigned char *p, uint64_t v)
{
	put32(p, v >> 32);
	put32(p + 4, (uint32_t)v);
}

/* A cloop file of data (n blocks of bs): version 2 or 4; codecs cycle
 * zlib, lz4, none in V4; last: header and table at the end. */
static void write_cloop(const char *path, const unsigned char *data, uint32_t bs,
			uint32_t n, int version, int last)
{
	unsigned char head[136], *tab = calloc(n + 1, 8), *c = malloc(2 * bs + 64);
	uint64_t pos = last ? 0 : 136 + 8 * (uint64_t)(n + 1);
	FILE *f = fopen(path, "wb");

	memset(head, 0, sizeof(head));
	snprintf((char *)head, 128, "#!/bin/sh\n#V%d.0 Format\n", version);
	put32(head + 128, bs);
	put32(head + 132, n);
	if (!last) {
		fwrite(head, 1, 136, f);
		fwrite(tab, 8, n + 1, f);	/* placeholder */
	}
	for (uint32_t i = 0; i < n; i++) {
		unsigned codec = version == 2 ? 0 : i % 3 == 0 ? MKL_CLOOP_ZLIB
				 : i % 3 == 1 ? MKL_CLOOP_LZ4 : MKL_CLOOP_NONE;
		uLongf cl = 2 * bs + 64;

		if (codec == MKL_CLOOP_ZLIB)
			compress2(c, &cl, data + (size_t)i * bs, bs, 9);
		else if (codec == MKL_CLOOP_LZ4)
			cl = LZ4_compress_default((const char *)data + (size_t)i * bs, (char *)c,
						  bs, 2 * bs + 64);
		else
			memcpy(c, data + (size_t)i * bs, cl = bs);
		put64(tab + 8 * (size_t)i, MKL_CLOOP_ENTRY(pos, codec));
		fwrite(c, 1, cl, f);
		pos += cl;
	}
	put64(tab + 8 * (size_t)n, pos);
	if (last) {
		fwrite(tab, 8, n + 1, f);
		fwrite(head, 1, 136, f);
	} else {
		fseek(f, 136, SEEK_SET);
		fwrite(tab, 8, n + 1, f);
	}
	fclose(f);
	free(tab);
	free(c);
}

static int read_all(const char *path, const unsigned char *want, size_t len)
{
	static struct cloop c;
	unsigned char *buf = malloc(len);
	int r;

	memset(&c, 0, sizeof(c));
	if (cloop_open(&c, path) < 0) {
		free(buf);
		return -1;
	}
	/* reads of odd sizes and offsets, across block boundaries */
	r = 0;
	for (size_t pos = 0; pos < len && !r;) {
		size_t k = 512 * (1 + rnd() % 300);

		if (k > len - pos)
			k = len - pos;
		r = cloop_read(&c, (char *)buf + pos, pos, k);
		pos += k;
	}
	if (!r && memcmp(buf, want, len))
		r = -2;
	if (!r && cloop_read(&c, (char *)buf, len - 512, 1024) != EINVAL)
		r = -3;		/* beyond the end */
	cloop_free(&c);
	free(buf);
	return r;
}

static void test_cloop(const char *dir)
{
	const uint32_t bs = 16384, n = 37;
	unsigned char *data = malloc((size_t)bs * n);
	char path[512];
	struct stat st;
	int fd;

	for (uint32_t i = 0; i < n; i++)
		fill(data + (size_t)i * bs, bs, i % 4);
	snprintf(path, sizeof(path), "%s/v2.cloop", dir);
	write_cloop(path, data, bs, n, 2, 0);
	T_EQ_INT(read_all(path, data, (size_t)bs * n), 0);
	snprintf(path, sizeof(path), "%s/v4.cloop", dir);
	write_cloop(path, data, bs, n, 4, 0);
	T_EQ_INT(read_all(path, data, (size_t)bs * n), 0);
	snprintf(path, sizeof(path), "%s/v4last.cloop", dir);
	write_cloop(path, data, bs, n, 4, 1);
	T_EQ_INT(read_all(path, data, (size_t)bs * n), 0);

	stub_quiet = 1;
	/* truncated: the table points past the end */
	snprintf(path, sizeof(path), "%s/v2.cloop", dir);
	stat(path, &st);
	T_OK(truncate(path, st.st_size - 100) == 0, "truncate");
	T_EQ_INT(read_all(path, data, (size_t)bs * n), -1);
	/* a corrupt block reads as EIO, the others still read */
	write_cloop(path, data, bs, n, 2, 0);
	fd = open(path, O_RDWR);
	{
		static struct cloop c;
		char *buf = malloc(bs);
		unsigned char b;

		T_OK(cloop_open(&c, path) == 0, "open");
		pread(fd, &b, 1, CLOOP_OFFSET(c.off[5]) + 20);
		b ^= 0x40;
		pwrite(fd, &b, 1, CLOOP_OFFSET(c.off[5]) + 20);
		T_EQ_INT(cloop_read(&c, buf, 5 * (uint64_t)bs, 512), EIO);
		T_EQ_INT(cloop_read(&c, buf, 6 * (uint64_t)bs, bs), 0);
		T_OK(!memcmp(buf, data + 6 * (size_t)bs, bs), "block 6 after a bad block 5");
		cloop_free(&c);
		/* offsets out of order */
		unsigned char e[8];
		put64(e, 200);
		pwrite(fd, e, 8, 136 + 8 * 3);
		T_EQ_INT(cloop_open(&c, path), -1);
		/* a block size that is not a multiple of 512 */
		write_cloop(path, data, bs, n, 2, 0);
		put32(e, 1000);
		pwrite(fd, e, 4, 128);
		T_EQ_INT(cloop_open(&c, path), -1);
		/* no version */
		pwrite(fd, "#!/bin/sh\n#V3.0", 15, 0);
		T_EQ_INT(cloop_open(&c, path), -1);
		cloop_free(&c);
		free(buf);
	}
	close(fd);
	stub_quiet = 0;
	free(data);
}

static int same(const char *a, const char *b, const char *name)
{
	char pa[600], pb[600];
	struct stat sa, sb;

	snprintf(pa, sizeof(pa), "%s/%s", a, name);
	snprintf(pb, sizeof(pb), "%s/%s", b, name);
	if (lstat(pa, &sa) || lstat(pb, &sb))
		return 0;
	return sa.st_mode == sb.st_mode && sa.st_uid == sb.st_uid && sa.st_gid == sb.st_gid &&
	       sa.st_mtim.tv_sec == sb.st_mtim.tv_sec && sa.st_mtim.tv_nsec == sb.st_mtim.tv_nsec &&
	       sa.st_nlink == sb.st_nlink && (S_ISDIR(sa.st_mode) || sa.st_size == sb.st_size);
}

static void test_copy(const char *dir)
{
	static const char *names[] = {
		"d", "d/f", "d/suid", "d/link", "d/hl1", "d/hl2", "d/fifo", "d/e", "d/e/deep",
	};
	struct timespec ts[2] = { { 1000000000, 123456789 }, { 1000000000, 123456789 } };
	char src[512], dst[512], p[600], deep[4096];
	struct stat a, b;
	FILE *f;
	int ok = 1;
	long n;

	snprintf(src, sizeof(src), "%s/src", dir);
	snprintf(dst, sizeof(dst), "%s/dst", dir);
	mkdir(src, 0755);
	mkdir(dst, 0755);
	snprintf(p, sizeof(p), "%s/d", src);
	mkdir(p, 0750);
	snprintf(p, sizeof(p), "%s/d/f", src);
	f = fopen(p, "w");
	fputs("hello", f);
	fclose(f);
	utimensat(AT_FDCWD, p, ts, 0);
	snprintf(p, sizeof(p), "%s/d/suid", src);
	f = fopen(p, "w");
	fclose(f);
	chmod(p, 04755);
	setxattr(p, "user.mklive", "v", 1, 0);
	snprintf(p, sizeof(p), "%s/d/link", src);
	symlink("/ro/usr", p);
	utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW);
	snprintf(p, sizeof(p), "%s/d/hl1", src);
	f = fopen(p, "w");
	fclose(f);
	snprintf(deep, sizeof(deep), "%s/d/hl2", src);
	link(p, deep);
	snprintf(p, sizeof(p), "%s/d/fifo", src);
	mkfifo(p, 0640);
	snprintf(p, sizeof(p), "%s/d/e", src);
	mkdir(p, 0711);
	snprintf(p, sizeof(p), "%s/d/e/deep", src);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/d", src);
	utimensat(AT_FDCWD, p, ts, 0);

	n = copy_tree(src, dst);
	T_EQ_INT(n, 9);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!same(src, dst, names[i])) {
			printf("# differs: %s\n", names[i]);
			ok = 0;
		}
	T_OK(ok, "metadata differs");
	snprintf(p, sizeof(p), "%s/d/hl1", dst);
	snprintf(deep, sizeof(deep), "%s/d/hl2", dst);
	T_OK(!stat(p, &a) && !stat(deep, &b) && a.st_ino == b.st_ino, "hard link lost");
	snprintf(p, sizeof(p), "%s/d/suid", dst);
	{
		char v[8];
		ssize_t l = getxattr(p, "user.mklive", v, sizeof(v));

		if (getxattr(p, "user.mklive", v, 0) < 0 && errno == ENOTSUP)
			T_SKIP("user xattrs unsupported here");
		else
			T_OK(l == 1 && v[0] == 'v', "xattr not copied");
	}

	/* deeper than 256 levels: an error, not a crash */
	snprintf(deep, sizeof(deep), "%s/deep", dir);
	mkdir(deep, 0755);
	snprintf(p, sizeof(p), "%s/deepdst", dir);
	mkdir(p, 0755);
	{
		size_t l = strlen(deep);
		int d;

		for (d = 0; d < 300 && l + 3 < sizeof(deep); d++) {
			memcpy(deep + l, "/x", 3);
			l += 2;
			mkdir(deep, 0755);
		}
		snprintf(deep, sizeof(deep), "%s/deep", dir);
		stub_quiet = 1;
		T_EQ_INT(copy_tree(deep, p), -1);
		stub_quiet = 0;
	}
}

int main(void)
{
	char dir[] = "/tmp/mklive-init-test.XXXXXX";
	char cmd[128];

	stub_quiet = 0;		/* the init's messages go to the log */
	if (!mkdtemp(dir))
		return 1;
	test_zlib_lz4();
	test_cloop(dir);
	test_copy(dir);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		printf("# cannot remove %s\n", dir);
	return t_done();
}
