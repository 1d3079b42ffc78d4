/* cpio newc writer, read back by GNU cpio and bsdtar (names, modes,
 * owners, sizes, link target, device numbers), extracted by bsdtar for the
 * content and times, and compressed with zstd through mkl_cstream. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "codec/codec.h"
#include "fmt/cpio.h"
#include "t.h"

static int t_rc;

#define MTIME 1700000000

static char dir[] = "/tmp/mklive-cpio.XXXXXX";

struct buf {
	unsigned char *p;
	size_t len, cap;
};

static int buf_sink(void *ctx, const void *data, size_t len, struct mkl_err *err)
{
	struct buf *b = ctx;

	if (b->len + len > b->cap) {
		size_t cap = (b->len + len) * 2;
		unsigned char *p = realloc(b->p, cap);

		if (!p)
			return mkl_error(err, ENOMEM, "out of memory");
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

static int cs_sink(void *ctx, const void *data, size_t len, struct mkl_err *err)
{
	return mkl_cstream_write(ctx, data, len, err);
}

static int have(const char *tool)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", tool);
	return system(cmd) == 0;
}

struct ent {
	const char *path;
	uint32_t mode, uid, gid;
	unsigned maj, min;
	const char *data;
	size_t len;
	const char *lsmode;
};

static char big[1000];

static struct ent ents[] = {
	{ "bin", S_IFDIR | 0755, 0, 0, 0, 0, NULL, 0, "drwxr-xr-x" },
	{ "bin/hello", S_IFREG | 0755, 1000, 100, 0, 0, "hello world\n!", 13, "-rwxr-xr-x" },
	{ "bin/sh", S_IFLNK | 0777, 0, 0, 0, 0, "hello", 5, "lrwxrwxrwx" },
	{ "dev", S_IFDIR | 0755, 0, 0, 0, 0, NULL, 0, "drwxr-xr-x" },
	{ "dev/console", S_IFCHR | 0600, 0, 5, 5, 1, NULL, 0, "crw-------" },
	{ "dev/sda", S_IFBLK | 0660, 0, 6, 8, 0, NULL, 0, "brw-rw----" },
	{ "empty", S_IFREG | 0644, 0, 0, 0, 0, "", 0, "-rw-r--r--" },
	{ "etc", S_IFDIR | 0700, 2, 3, 0, 0, NULL, 0, "drwx------" },
	{ "etc/a-longer-file-name.conf", S_IFREG | 0600, 2, 3, 0, 0, big, sizeof(big),
	  "-rw-------" },
};
#define NENTS (sizeof(ents) / sizeof(ents[0]))

static int build(mkl_sink_fn sink, void *ctx, struct mkl_err *err)
{
	struct mkl_cpio *c;
	size_t i;
	int ret = 0;

	if (mkl_cpio_create(sink, ctx, &c, err) < 0)
		return -1;
	for (i = 0; i < NENTS && ret == 0; i++)
		ret = mkl_cpio_add(c, ents[i].path, ents[i].mode, ents[i].uid, ents[i].gid,
				   makedev(ents[i].maj, ents[i].min), MTIME + (int64_t)i,
				   ents[i].data, ents[i].len, err);
	if (ret == 0)
		ret = mkl_cpio_finish(c, err);
	mkl_cpio_destroy(c);
	return ret;
}

/* Check a "ls -l"-style listing (cpio -tv, bsdtar -tv, both numeric). */
static void check_listing(const char *cmd, const char *tool)
{
	int seen[NENTS] = { 0 };
	char line[1024];
	FILE *p = popen(cmd, "r");
	size_t i, nlines = 0;

	T_OK(p != NULL, "popen %s", cmd);
	if (!p)
		return;
	while (fgets(line, sizeof(line), p)) {
		char *tok[16], *save = NULL, *s;
		int n = 0;

		line[strcspn(line, "\n")] = '\0';
		nlines++;
		for (s = strtok_r(line, " ", &save); s && n < 16; s = strtok_r(NULL, " ", &save))
			tok[n++] = s;
		if (n < 8)
			continue;
		for (i = 0; i < NENTS; i++) {
			struct ent *e = &ents[i];
			int is_link = S_ISLNK(e->mode);
			int is_dev = S_ISCHR(e->mode) || S_ISBLK(e->mode);
			char want[64];
			const char *name;
			int k;

			/* The name is the token after the time, before " -> ". */
			if (is_link)
				k = n >= 3 && strcmp(tok[n - 2], "->") == 0 ? n - 3 : -1;
			else
				k = n - 1;
			if (k < 0)
				continue;
			name = tok[k];
			if (strcmp(name, e->path) != 0)
				continue;
			seen[i]++;
			T_EQ_STR(tok[0], e->lsmode);
			T_EQ_INT(atoi(tok[1]), S_ISDIR(e->mode) ? 2 : 1);
			T_EQ_INT(atoi(tok[2]), e->uid);
			T_EQ_INT(atoi(tok[3]), e->gid);
			if (is_dev) {
				/* "5, 1" (cpio) or "5,1" (bsdtar) */
				if (strchr(tok[4], ',') && tok[4][strlen(tok[4]) - 1] != ',')
					snprintf(want, sizeof(want), "%s", tok[4]);
				else
					snprintf(want, sizeof(want), "%s%s", tok[4], tok[5]);
				{
					char exp[32];

					snprintf(exp, sizeof(exp), "%u,%u", e->maj, e->min);
					T_OK(strcmp(want, exp) == 0, "%s: %s device %s, want %s",
					     tool, e->path, want, exp);
				}
			} else {
				T_EQ_INT(atol(tok[4]), e->len);
			}
			if (is_link)
				T_EQ_STR(tok[n - 1], e->data);
		}
	}
	pclose(p);
	T_EQ_INT(nlines, NENTS);
	for (i = 0; i < NENTS; i++)
		T_OK(seen[i] == 1, "%s: '%s' listed %d times", tool, ents[i].path, seen[i]);
}

static unsigned long hexfield(const unsigned char *h, int idx)
{
	char f[9];

	memcpy(f, h + 6 + idx * 8, 8);
	f[8] = '\0';
	return strtoul(f, NULL, 16);
}

int main(void)
{
	struct mkl_err err = { 0 };
	struct buf b = { 0 };
	struct mkl_cstream *cs;
	struct mkl_cpio *c;
	char path[512], cmd[2048];
	size_t i, off;
	FILE *f;

	if (!mkdtemp(dir)) {
		printf("not ok - mkdtemp\n");
		return 1;
	}
	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i * 7 % 26);

	T_OK((t_rc = build(buf_sink, &b, &err)) == 0, "build(buf_sink, &b, &err) returned %d", t_rc);
	T_OK(b.len % 512 == 0, "archive length %zu is a multiple of 512", b.len);
	T_OK(b.len >= 110 && memcmp(b.p, "070701", 6) == 0, "newc magic");

	/* The raw headers: inode numbers 1.. in order, 4-byte alignment,
	 * dev 0, the trailer last. */
	for (off = 0, i = 0; off + 110 <= b.len; i++) {
		unsigned long namesize, filesize;

		if (memcmp(b.p + off, "070701", 6) != 0) {
			T_OK(0, "header %zu at %zu has no magic", i, off);
			break;
		}
		namesize = hexfield(b.p + off, 11);
		filesize = hexfield(b.p + off, 6);
		if (strcmp((char *)b.p + off + 110, "TRAILER!!!") == 0) {
			T_EQ_INT(i, NENTS);
			break;
		}
		T_EQ_INT(hexfield(b.p + off, 0), i + 1);	/* ino */
		T_EQ_INT(hexfield(b.p + off, 7), 0);		/* devmajor */
		T_EQ_INT(hexfield(b.p + off, 8), 0);		/* devminor */
		T_EQ_INT(hexfield(b.p + off, 5), MTIME + i);	/* mtime */
		off = (off + 110 + namesize + 3) & ~(size_t)3;
		off = (off + filesize + 3) & ~(size_t)3;
	}

	snprintf(path, sizeof(path), "%s/a.cpio", dir);
	f = fopen(path, "wb");
	T_OK(f && fwrite(b.p, 1, b.len, f) == b.len, "write %s", path);
	if (f)
		fclose(f);

	if (have("cpio")) {
		snprintf(cmd, sizeof(cmd), "cpio -itv --numeric-uid-gid --quiet < '%s'", path);
		check_listing(cmd, "cpio");
	} else {
		T_SKIP("cpio not installed: GNU cpio listing not checked");
	}
	if (have("bsdtar")) {
		char xdir[600], fp[700], link[64];
		struct stat st;
		ssize_t n;

		snprintf(cmd, sizeof(cmd), "bsdtar -tvf '%s' --numeric-owner", path);
		check_listing(cmd, "bsdtar");

		/* Extract (devices left out: no mknod in the test) and compare. */
		snprintf(xdir, sizeof(xdir), "%s/x", dir);
		mkdir(xdir, 0755);
		snprintf(cmd, sizeof(cmd), "bsdtar -xpf '%s' -C '%s' --exclude dev/console --exclude dev/sda", path, xdir);
		T_OK((t_rc = system(cmd)) == 0, "system(cmd) returned %d", t_rc);
		for (i = 0; i < NENTS; i++) {
			struct ent *e = &ents[i];

			if (S_ISCHR(e->mode) || S_ISBLK(e->mode))
				continue;
			snprintf(fp, sizeof(fp), "%s/%s", xdir, e->path);
			T_EQ_INT(lstat(fp, &st), 0);
			T_EQ_INT(st.st_mode & S_IFMT, e->mode & S_IFMT);
			if (!S_ISLNK(e->mode))
				T_EQ_INT(st.st_mode & 07777, e->mode & 07777);
			if (!S_ISDIR(e->mode))	/* dirs get touched by their children */
				T_EQ_INT(st.st_mtime, MTIME + (long)i);
			if (S_ISREG(e->mode)) {
				char *got = malloc(e->len + 1);
				FILE *r = fopen(fp, "rb");
				size_t g = r ? fread(got, 1, e->len + 1, r) : 0;

				T_EQ_INT(g, e->len);
				T_OK(g == e->len && memcmp(got, e->data, e->len) == 0,
				     "%s content differs", e->path);
				if (r)
					fclose(r);
				free(got);
			}
			if (S_ISLNK(e->mode)) {
				n = readlink(fp, link, sizeof(link) - 1);
				link[n > 0 ? n : 0] = '\0';
				{
					const char *lp = link;

					T_EQ_STR(lp, e->data);
				}
			}
		}
	} else {
		T_SKIP("bsdtar not installed: libarchive listing and extraction not checked");
	}

	/* Compressed with zstd, read back by zstd + cpio. */
	snprintf(path, sizeof(path), "%s/a.cpio.zst", dir);
	f = fopen(path, "wb");
	T_OK(f != NULL, "open %s", path);
	if (f) {
		struct buf z = { 0 };

		T_EQ_INT(mkl_cstream_create(MKL_CODEC_ZSTD, 0, buf_sink, &z, &cs, &err), 0);
		T_OK((t_rc = build(cs_sink, cs, &err)) == 0, "build(cs_sink, cs, &err) returned %d", t_rc);
		T_EQ_INT(mkl_cstream_finish(cs, &err), 0);
		mkl_cstream_destroy(cs);
		T_OK(fwrite(z.p, 1, z.len, f) == z.len, "write zst");
		fclose(f);
		free(z.p);
		if (have("zstd") && have("cpio")) {
			char line[512];
			FILE *p;

			snprintf(cmd, sizeof(cmd), "zstd -dcq '%s' | cpio -it --quiet", path);
			p = popen(cmd, "r");
			i = 0;
			while (p && fgets(line, sizeof(line), p)) {
				line[strcspn(line, "\n")] = '\0';
				if (i < NENTS)
					{
					const char *lp = line;

					T_EQ_STR(lp, ents[i].path);
				}
				i++;
			}
			{
				int rc = p ? pclose(p) : -1;

				T_EQ_INT(rc, 0);
			}
			T_EQ_INT(i, NENTS);
			/* And the same bytes as the uncompressed archive. */
			snprintf(cmd, sizeof(cmd), "zstd -dcq '%s' | cmp -s - '%s/a.cpio'", path,
				 dir);
			T_OK((t_rc = system(cmd)) == 0, "system(cmd) returned %d", t_rc);
		} else {
			T_SKIP("zstd or cpio not installed: compressed archive not read");
		}
	}

	/* Reproducible: the same entries make the same bytes. */
	{
		struct buf b2 = { 0 };

		T_OK((t_rc = build(buf_sink, &b2, &err)) == 0, "build(buf_sink, &b2, &err) returned %d", t_rc);
		T_OK(b2.len == b.len && memcmp(b2.p, b.p, b.len) == 0, "second build identical");
		free(b2.p);
	}

	/* Errors. */
	{
		struct buf e = { 0 };

		T_EQ_INT(mkl_cpio_create(buf_sink, &e, &c, &err), 0);
		T_EQ_INT(mkl_cpio_add(c, "/abs", S_IFREG | 0644, 0, 0, 0, 0, "x", 1, &err), -1);
		T_OK(strstr(err.msg, "'/abs'") && strstr(err.msg, "absolute"), "msg: %s", err.msg);
		T_EQ_INT(mkl_cpio_add(c, "d", S_IFDIR | 0755, 0, 0, 0, 0, "x", 1, &err), -1);
		T_OK(strstr(err.msg, "'d'") != NULL, "msg: %s", err.msg);
		T_EQ_INT(mkl_cpio_add(c, "l", S_IFLNK | 0777, 0, 0, 0, 0, "", 0, &err), -1);
		T_EQ_INT(mkl_cpio_add(c, "", S_IFREG | 0644, 0, 0, 0, 0, NULL, 0, &err), -1);
		T_EQ_INT(mkl_cpio_finish(c, &err), 0);
		T_EQ_INT(e.len, 512);
		T_EQ_INT(mkl_cpio_add(c, "late", S_IFREG | 0644, 0, 0, 0, 0, NULL, 0, &err), -1);
		T_OK(strstr(err.msg, "finished") != NULL, "msg: %s", err.msg);
		mkl_cpio_destroy(c);
		mkl_cpio_destroy(NULL);
		free(e.p);
	}

	free(b.p);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# cannot remove %s\n", dir);
	return t_done();
}
