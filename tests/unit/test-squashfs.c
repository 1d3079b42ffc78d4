/* The squashfs writer, checked by readers we did not write: unsquashfs
 * (-pf pseudo-file listing for exact metadata, -lln for ls-style modes,
 * -s for the super block, extraction for content, owners, devices, hard
 * links and xattrs, read back through the kernel), plus read-back through
 * mkl_sqfs_read_file, byte-identical output across thread counts, the
 * documented option errors, short/long reads, ENOSPC and cancellation. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <sqfs/compressor.h>
#include <sqfs/dir_reader.h>
#include <sqfs/inode.h>
#include <sqfs/io.h>
#include <sqfs/super.h>

#include "t.h"
#include "fmt/squashfs.h"
#include "tree/tree.h"

enum kind { TEXT, RAND, ZERO };

/* Sizes relative to the block size. */
#define SZ_BLOCK ((uint64_t)-1)
#define SZ_3BLOCK7 ((uint64_t)-2)
#define SZ_2BLOCK100 ((uint64_t)-3)
#define SZ_2BLOCK ((uint64_t)-4)

#define T0 1700000000
#define T2030 1893456000	/* 2030-01-01 00:00:00 UTC */

/* security.capability, VFS_CAP_REVISION_2 | effective, CAP_NET_RAW */
static const unsigned char cap_net_raw[20] = {
	0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

struct ent {
	const char *path;
	unsigned mode;
	unsigned uid, gid;
	int64_t mtime;
	uint64_t size;
	enum kind kind;
	unsigned seed;
	unsigned maj, min;
	const char *target;	/* symlink text */
	const char *link;	/* hard link to this path */
	const char *xname;	/* one xattr */
	const void *xval;
	size_t xlen;
};

#define D(p, m, u, g, ...) { .path = p, .mode = S_IFDIR | (m), .uid = u, .gid = g, .mtime = T0, __VA_ARGS__ }
#define F(p, m, u, g, t, sz, k, sd, ...) { .path = p, .mode = S_IFREG | (m), .uid = u, .gid = g, \
		.mtime = t, .size = sz, .kind = k, .seed = sd, __VA_ARGS__ }
#define N(p, m, u, g, ...) { .path = p, .mode = m, .uid = u, .gid = g, .mtime = T0, __VA_ARGS__ }

static const struct ent ents[] = {
	D("", 0755, 0, 0),
	D("bin", 0755, 0, 0),
	F("bin/suid", 04755, 0, 0, T0, 5000, RAND, 1),
	F("bin/hard1", 0755, 0, 0, T0, 70000, TEXT, 3),
	{ .path = "bin/hard2", .link = "bin/hard1" },
	D("dev", 0755, 0, 0),
	N("dev/console", S_IFCHR | 0600, 0, 5, .maj = 5, .min = 1),
	N("dev/sda", S_IFBLK | 0660, 0, 6, .maj = 8, .min = 0),
	N("dev/big", S_IFBLK | 0600, 0, 0, .maj = 300, .min = 70000),
	N("dev/fifo", S_IFIFO | 0644, 0, 0),
	N("dev/sock", S_IFSOCK | 0755, 0, 0),
	D("etc", 0755, 0, 0, .xname = "trusted.overlay.opaque", .xval = "y", .xlen = 1),
	D("etc/deep", 0755, 0, 0),
	D("etc/deep/er", 0755, 0, 0),
	D("etc/deep/er/est", 0700, 0, 0),
	F("etc/deep/er/est/target", 0644, 0, 0, T0, 1, TEXT, 4),
	F("etc/motd", 0644, 0, 0, T0, 4095, TEXT, 5,
	  .xname = "user.comment", .xval = "hello, world", .xlen = 12),
	F("empty", 0644, 0, 0, T0, 0, TEXT, 0),
	D("files", 0755, 0, 0),
	F("files/block", 0644, 0, 0, T0, SZ_BLOCK, RAND, 6),
	F("files/big", 0644, 0, 0, T0, SZ_3BLOCK7, TEXT, 7),
	F("files/dup1", 0644, 0, 0, T0, SZ_2BLOCK100, RAND, 9),
	F("files/dup2", 0644, 0, 0, T0, SZ_2BLOCK100, RAND, 9),
	F("files/tail1", 0644, 0, 0, T0, 1000, RAND, 11),
	F("files/tail2", 0644, 0, 0, T0, 1000, RAND, 11),
	F("files/zeros", 0644, 0, 0, T0, SZ_2BLOCK, ZERO, 0),
	D("home", 0755, 0, 0),
	D("home/user", 0750, 1000, 1000),
	F("home/user/notes", 0600, 1000, 1000, T0, 3000, TEXT, 12),
	F("nobody", 0644, 65534, 65534, T0, 10, TEXT, 13),
	F("old", 0644, 0, 0, -86400, 20, TEXT, 14),
	F("future", 0644, 0, 0, T2030, 30, TEXT, 15),
	F("ping", 04711, 0, 0, T0, 2000, RAND, 16,
	  .xname = "security.capability", .xval = cap_net_raw, .xlen = sizeof(cap_net_raw)),
	F("acl", 0644, 0, 0, T0, 10, TEXT, 17,
	  .xname = "system.posix_acl_access", .xval = "xx", .xlen = 2),
	N("link", S_IFLNK | 0777, 0, 0, .target = "etc/deep/er/est/target"),
	D("tmp", 01777, 0, 0),
	D("mnt", 0700, 0, 0),
	D("shared", 02775, 0, 50),
};
#define NENTS (sizeof(ents) / sizeof(ents[0]))

static const struct ent *find_ent(const char *path)
{
	size_t i;

	for (i = 0; i < NENTS; i++)
		if (strcmp(ents[i].path, path) == 0)
			return &ents[i];
	return NULL;
}

/* the inode a table entry names (its hard-link target, or itself) */
static const struct ent *ent_inode(const struct ent *e)
{
	return e->link ? find_ent(e->link) : e;
}

static uint64_t ent_size(const struct ent *e, uint32_t bs)
{
	switch (e->size) {
	case SZ_BLOCK: return bs;
	case SZ_3BLOCK7: return 3 * (uint64_t)bs + 7;
	case SZ_2BLOCK100: return 2 * (uint64_t)bs + 100;
	case SZ_2BLOCK: return 2 * (uint64_t)bs;
	}
	return e->size;
}

static unsigned char *content(enum kind kind, unsigned seed, size_t size)
{
	static const char *words[] = { "live ", "squash ", "boot ", "kernel ", "init\n", "tree ", "ro " };
	unsigned char *p = malloc(size ? size : 1);
	uint64_t x = 0x9e3779b97f4a7c15ull * (seed + 1);
	size_t i = 0, n;
	const char *w;

	if (kind == ZERO) {
		memset(p, 0, size);
		return p;
	}
	while (i < size) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (kind == RAND) {
			p[i++] = (unsigned char)(x >> 24);
			continue;
		}
		w = words[x % 7];
		n = strlen(w);
		if (n > size - i)
			n = size - i;
		memcpy(p + i, w, n);
		i += n;
	}
	return p;
}

/* A reader over memory that hands out at most `chunk` bytes per call. */
struct memsrc {
	const unsigned char *p;
	size_t len, off, chunk;
};

static long mem_read(void *ctx, void *buf, size_t n, struct mkl_err *err)
{
	struct memsrc *m = ctx;

	if (n > m->chunk)
		n = m->chunk;
	if (n > m->len - m->off)
		n = m->len - m->off;
	memcpy(buf, m->p + m->off, n);
	m->off += n;
	return (long)n;
}

struct cmpsink {
	const unsigned char *p;
	size_t len, off;
	int bad;
};

static int cmp_sink(void *ctx, const void *buf, size_t n, struct mkl_err *err)
{
	struct cmpsink *c = ctx;

	if (c->off + n > c->len || memcmp(c->p + c->off, buf, n) != 0)
		c->bad = 1;
	c->off += n;
	return 0;
}

static int add_ent(struct mkl_tree *t, struct mkl_sqfs *sq, const struct ent *e, uint32_t bs,
		   struct mkl_err *err)
{
	struct mkl_stat st;
	struct mkl_xattr x;
	struct mkl_node *n;
	struct memsrc m;
	int ret;

	if (e->link)
		return mkl_tree_add_hardlink(t, e->path, e->link, &n, err);
	memset(&st, 0, sizeof(st));
	st.mode = e->mode;
	st.uid = e->uid;
	st.gid = e->gid;
	st.mtime = e->mtime;
	st.rdev = makedev(e->maj, e->min);
	st.target = e->target;
	if (S_ISREG(e->mode))
		st.size = ent_size(e, bs);
	if (e->xname) {
		memset(&x, 0, sizeof(x));
		x.name = (char *)e->xname;
		x.value = (unsigned char *)e->xval;
		x.size = e->xlen;
		st.xattrs = &x;
	}
	if (mkl_tree_add(t, e->path, &st, &n, err))
		return -1;
	if (!S_ISREG(e->mode))
		return 0;
	m.p = content(e->kind, e->seed, st.size);
	m.len = st.size;
	m.off = 0;
	m.chunk = 777;	/* partial reads */
	ret = mkl_sqfs_add_data(sq, n, mem_read, &m, err);
	free((void *)m.p);
	return ret;
}

/* Extra files for the determinism check: enough blocks to keep 4 workers
 * busy, with varied compressibility so they finish out of order. */
static int add_bulk(struct mkl_tree *t, struct mkl_sqfs *sq, struct mkl_err *err)
{
	struct mkl_stat st = { .mode = S_IFREG | 0644, .mtime = T0 };
	struct mkl_node *n;
	struct memsrc m;
	char path[64];
	int i, ret;

	for (i = 0; i < 48; i++) {
		snprintf(path, sizeof(path), "bulk/f%02d", i);
		st.size = 20000 + (uint64_t)i * 9973;
		if (mkl_tree_add(t, path, &st, &n, err))
			return -1;
		m.p = content(i % 3 ? TEXT : RAND, 100 + i, st.size);
		m.len = st.size;
		m.off = 0;
		m.chunk = 1 << 20;
		ret = mkl_sqfs_add_data(sq, n, mem_read, &m, err);
		free((void *)m.p);
		if (ret)
			return -1;
	}
	/* a directory of 3000 entries: many directory headers, a listing
	 * over 64 KiB (extended inode with a directory index) */
	st.size = 0;
	for (i = 0; i < 3000; i++) {
		snprintf(path, sizeof(path), "many/entry-%05d-with-a-longer-name", i);
		if (mkl_tree_add(t, path, &st, &n, err) || mkl_sqfs_add_data(sq, n, mem_read, &m, err))
			return -1;
	}
	return 0;
}

/* The writer works on the fd until it is destroyed: the caller closes it. */
static struct mkl_tree *make_image(const char *img, const struct mkl_sqfs_opts *o, int bulk,
				   struct mkl_sqfs **sq_out, int *fd_out, struct mkl_err *err)
{
	uint32_t bs = o->block_size ? o->block_size : 131072;
	struct mkl_tree *t;
	struct mkl_sqfs *sq = NULL;
	size_t i;
	int fd;

	*sq_out = NULL;
	fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		mkl_error(err, errno, "cannot create '%s'", img);
		return NULL;
	}
	t = mkl_tree_create(err);
	if (!t || mkl_sqfs_create(fd, o, &sq, err))
		goto fail;
	for (i = 0; i < NENTS; i++)
		if (add_ent(t, sq, &ents[i], bs, err))
			goto fail;
	if (bulk && add_bulk(t, sq, err))
		goto fail;
	if (mkl_tree_finish(t, err) || mkl_sqfs_finish(sq, t, err))
		goto fail;
	*sq_out = sq;
	*fd_out = fd;
	return t;
fail:
	if (fd >= 0)
		close(fd);
	mkl_sqfs_destroy(sq);
	mkl_tree_destroy(t);
	return NULL;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	long n;

	*len = 0;
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = malloc((size_t)n + 1);
	if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
		free(p);
		p = NULL;
	}
	if (p) {
		p[n] = '\0';
		*len = (size_t)n;
	}
	fclose(f);
	return p;
}

static int run(const char *fmt, const char *a, const char *b, const char *c)
{
	char cmd[4096];
	int st;

	snprintf(cmd, sizeof(cmd), fmt, a, b, c);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void mode_string(unsigned mode, char out[11])
{
	static const char types[] = "?pc?d?b?-?l?s???";

	out[0] = types[(mode >> 12) & 15];
	out[1] = mode & 0400 ? 'r' : '-';
	out[2] = mode & 0200 ? 'w' : '-';
	out[3] = mode & 04000 ? (mode & 0100 ? 's' : 'S') : (mode & 0100 ? 'x' : '-');
	out[4] = mode & 040 ? 'r' : '-';
	out[5] = mode & 020 ? 'w' : '-';
	out[6] = mode & 02000 ? (mode & 010 ? 's' : 'S') : (mode & 010 ? 'x' : '-');
	out[7] = mode & 04 ? 'r' : '-';
	out[8] = mode & 02 ? 'w' : '-';
	out[9] = mode & 01000 ? (mode & 01 ? 't' : 'T') : (mode & 01 ? 'x' : '-');
	out[10] = '\0';
}

static int64_t clamp_time(int64_t t)
{
	return t < 0 ? 0 : t;
}

/* unsquashfs -pf: "path TYPE mtime mode uid gid [size off | maj min |
 * target | f/s]", hard links as "path L target". */
static void check_pf(const char *dir, const char *img, uint32_t bs, const char *tag)
{
	char pf[4096], line[8192], name[4096], type[8], extra[4096], want[4096];
	const struct ent *e;
	unsigned long long mtime, a, b;
	unsigned mode, uid, gid, dev;
	int seen[NENTS] = { 0 }, nf, lines = 0;
	size_t i;
	FILE *f;

	snprintf(pf, sizeof(pf), "%s/pf", dir);
	T_EQ_INT(run("unsquashfs -pf %s %s >/dev/null 2>&1%s", pf, img, ""), 0);
	f = fopen(pf, "r");
	T_OK(f != NULL, "%s: no pseudo file", tag);
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '#')
			break;
		line[strcspn(line, "\n")] = '\0';
		nf = sscanf(line, "%4095s %7s", name, type);
		if (nf != 2) {
			T_OK(0, "%s: unparsable line '%s'", tag, line);
			continue;
		}
		lines++;
		e = find_ent(strcmp(name, "/") == 0 ? "" : name);
		T_OK(e != NULL, "%s: unexpected entry '%s'", tag, name);
		if (!e)
			continue;
		seen[e - ents]++;
		if (type[0] == 'L') {
			/* a hard link names an earlier name of the same inode */
			T_OK(sscanf(line, "%*s %*s %4095s", extra) == 1, "%s", line);
			T_OK(ent_inode(e) == ent_inode(find_ent(extra)), "%s: %s", tag, line);
			continue;
		}
		e = ent_inode(e);
		nf = sscanf(line, "%*s %*s %llu %o %u %u %4095[^\n]", &mtime, &mode, &uid, &gid, extra);
		T_OK(nf >= 4, "%s: unparsable line '%s'", tag, line);
		T_EQ_INT(mtime, clamp_time(e->mtime));
		T_OK(mode == (e->mode & 07777), "%s: %s: mode %o, want %o", tag, name, mode, e->mode & 07777);
		T_OK(uid == e->uid && gid == e->gid, "%s: %s: owner %u:%u, want %u:%u", tag, name, uid, gid, e->uid, e->gid);
		switch (e->mode & S_IFMT) {
		case S_IFDIR: T_OK(type[0] == 'D', "%s: %s", tag, line); break;
		case S_IFREG:
			T_OK(type[0] == 'R', "%s: %s", tag, line);
			T_OK(nf == 5 && sscanf(extra, "%llu %llu", &a, &b) == 2 && a == ent_size(e, bs),
			     "%s: %s: size, want %llu", tag, line, (unsigned long long)ent_size(e, bs));
			break;
		case S_IFCHR:
		case S_IFBLK:
			T_OK(type[0] == (S_ISCHR(e->mode) ? 'C' : 'B'), "%s: %s", tag, line);
			/* unsquashfs 4.5.1 -pf prints the on-disk number (Linux's
			 * new_encode_dev() form) split the old 8-bit way: dev >> 8,
			 * dev & 0xff. Extraction decodes it properly; check_extract()
			 * checks that 300,70000 arrives intact. */
			dev = (e->min & 0xff) | (e->maj << 8) | ((e->min & ~0xffu) << 12);
			T_OK(nf == 5 && sscanf(extra, "%llu %llu", &a, &b) == 2 && a == dev >> 8 &&
			     b == (dev & 0xff),
			     "%s: %s: want %u,%u", tag, line, e->maj, e->min);
			break;
		case S_IFLNK:
			T_OK(type[0] == 'S', "%s: %s", tag, line);
			T_OK(nf == 5 && strcmp(extra, e->target) == 0, "%s: %s", tag, line);
			break;
		case S_IFIFO:
		case S_IFSOCK:
			snprintf(want, sizeof(want), "%s", S_ISFIFO(e->mode) ? "f" : "s");
			T_OK(type[0] == 'I' && nf == 5 && strcmp(extra, want) == 0, "%s: %s", tag, line);
			break;
		}
	}
	fclose(f);
	T_EQ_INT(lines, NENTS);
	for (i = 0; i < NENTS; i++)
		T_OK(seen[i] == 1, "%s: '%s' listed %d times", tag, ents[i].path, seen[i]);
}

/* unsquashfs -lln: the ls-style mode string, including s/S/t/T. */
static void check_lln(const char *dir, const char *img, const char *tag)
{
	char out[4096], line[8192], ms[32], path[4096], want[11];
	const struct ent *e;
	char *p;
	int lines = 0;
	FILE *f;

	snprintf(out, sizeof(out), "%s/lln", dir);
	T_EQ_INT(run("unsquashfs -lln -UTC %s >%s 2>&1%s", img, out, ""), 0);
	f = fopen(out, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		p = strstr(line, "squashfs-root");
		if (!p || sscanf(line, "%31s", ms) != 1)
			continue;
		p += strlen("squashfs-root");
		if (*p == '/')
			p++;
		snprintf(path, sizeof(path), "%s", p);
		path[strcspn(path, " ")] = '\0';
		e = find_ent(path);
		T_OK(e != NULL, "%s: unexpected '%s'", tag, line);
		if (!e)
			continue;
		lines++;
		mode_string(ent_inode(e)->mode, want);
		T_OK(strcmp(ms, want) == 0, "%s: %s: mode %s, want %s", tag, path, ms, want);
	}
	fclose(f);
	T_EQ_INT(lines, NENTS);
}

/* Extract with unsquashfs (as root: owners, devices, xattrs restored) and
 * compare what the kernel sees with the table. */
static void check_extract(const char *dir, const char *img, uint32_t bs, const char *tag)
{
	char out[4096], path[8192], buf[256], *data;
	const struct ent *e, *ie;
	struct stat st, st2;
	unsigned char *want;
	size_t i, len;
	ssize_t n;

	snprintf(out, sizeof(out), "%s/root", dir);
	run("rm -rf %s%s%s", out, "", "");
	T_EQ_INT(run("unsquashfs -q -n -d %s %s >/dev/null 2>&1%s", out, img, ""), 0);
	for (i = 0; i < NENTS; i++) {
		e = &ents[i];
		ie = ent_inode(e);
		snprintf(path, sizeof(path), "%s/%s", out, e->path);
		if (lstat(path, &st) != 0) {
			T_OK(0, "%s: '%s' not extracted: %s", tag, e->path, strerror(errno));
			continue;
		}
		T_OK((st.st_mode & S_IFMT) == (ie->mode & S_IFMT), "%s: %s: type", tag, e->path);
		if (!S_ISLNK(st.st_mode))
			T_OK((st.st_mode & 07777) == (ie->mode & 07777), "%s: %s: mode %o", tag, e->path,
			     st.st_mode & 07777);
		T_OK(st.st_uid == ie->uid && st.st_gid == ie->gid, "%s: %s: owner %u:%u", tag, e->path,
		     st.st_uid, st.st_gid);
		if (!S_ISLNK(st.st_mode))
			T_OK(st.st_mtime == clamp_time(ie->mtime), "%s: %s: mtime %lld", tag, e->path,
			     (long long)st.st_mtime);
		if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
			T_OK(major(st.st_rdev) == ie->maj && minor(st.st_rdev) == ie->min,
			     "%s: %s: rdev %u,%u", tag, e->path, major(st.st_rdev), minor(st.st_rdev));
		if (S_ISLNK(st.st_mode)) {
			char *text = buf;

			n = readlink(path, buf, sizeof(buf) - 1);
			buf[n > 0 ? n : 0] = '\0';
			T_EQ_STR(text, ie->target);
		}
		if (S_ISREG(st.st_mode)) {
			data = slurp(path, &len);
			want = content(ie->kind, ie->seed, ent_size(ie, bs));
			T_OK(data && len == ent_size(ie, bs) && memcmp(data, want, len) == 0,
			     "%s: %s: content differs (%zu bytes)", tag, e->path, len);
			free(data);
			free(want);
		}
		if (ie->xname && strncmp(ie->xname, "system.", 7) != 0) {
			n = lgetxattr(path, ie->xname, buf, sizeof(buf));
			T_OK(n == (ssize_t)ie->xlen && memcmp(buf, ie->xval, ie->xlen) == 0,
			     "%s: %s: xattr %s (%zd)", tag, e->path, ie->xname, n);
		} else if (ie->xname) {
			n = lgetxattr(path, ie->xname, buf, sizeof(buf));
			T_OK(n < 0, "%s: %s: %s cannot be stored in squashfs", tag, e->path, ie->xname);
		}
		if (e->link) {
			snprintf(path, sizeof(path), "%s/%s", out, e->link);
			T_OK(lstat(path, &st2) == 0 && st2.st_ino == st.st_ino && st.st_nlink == 2,
			     "%s: %s: hard link (nlink %lu)", tag, e->path, (unsigned long)st.st_nlink);
		}
	}
}

/* unsquashfs -s: super block fields. */
static void check_super(const char *dir, const char *img, const char *comp, uint32_t bs,
			uint64_t bytes, const char *tag)
{
	char out[4096], want[256], *s;
	unsigned long long used = 0;
	size_t len;
	char *p;

	snprintf(out, sizeof(out), "%s/super", dir);
	T_EQ_INT(run("unsquashfs -s %s >%s 2>&1%s", img, out, ""), 0);
	s = slurp(out, &len);
	T_OK(s != NULL, "no -s output");
	if (!s)
		return;
	snprintf(want, sizeof(want), "Compression %s\n", comp);
	T_OK(strstr(s, want) != NULL, "%s: want '%s' in:\n%s", tag, want, s);
	snprintf(want, sizeof(want), "Block size %u\n", bs);
	T_OK(strstr(s, want) != NULL, "%s: want '%s'", tag, want);
	/* bin/hard2 shares bin/hard1's inode */
	snprintf(want, sizeof(want), "Number of inodes %zu\n", NENTS - 1);
	T_OK(strstr(s, want) != NULL, "%s: want '%s'", tag, want);
	T_OK(strstr(s, "exportable via NFS") != NULL, "%s: export table", tag);
	T_OK(strstr(s, "Duplicates are removed") != NULL, "%s: dedup", tag);
	if (strcmp(tag, "lz4-9-1048576") == 0)
		T_OK(strstr(s, "High Compression option specified") != NULL, "%s: lz4 level 9 is HC", tag);
	if (strcmp(tag, "lz4-1-8192") == 0)
		T_OK(strstr(s, "High Compression") == NULL, "%s: lz4 level 1 is not HC", tag);
	if (strcmp(tag, "gzip-1-65536") == 0)
		T_OK(strstr(s, "compression-level 1\n") != NULL, "%s: gzip level 1 in:\n%s", tag, s);
	p = strstr(s, "Filesystem size ");
	T_OK(p && sscanf(p, "Filesystem size %llu", &used) == 1 && used <= bytes && bytes - used < 4096,
	     "%s: bytes_used %llu, file %llu", tag, used, (unsigned long long)bytes);
	free(s);
}

static uint32_t inode_nlink(const sqfs_inode_generic_t *i)
{
	switch (i->base.type) {
	case SQFS_INODE_DIR: return i->data.dir.nlink;
	case SQFS_INODE_EXT_DIR: return i->data.dir_ext.nlink;
	case SQFS_INODE_FILE: return 1;
	case SQFS_INODE_EXT_FILE: return i->data.file_ext.nlink;
	case SQFS_INODE_SLINK: return i->data.slink.nlink;
	case SQFS_INODE_EXT_SLINK: return i->data.slink_ext.nlink;
	case SQFS_INODE_BDEV: case SQFS_INODE_CDEV: return i->data.dev.nlink;
	case SQFS_INODE_EXT_BDEV: case SQFS_INODE_EXT_CDEV: return i->data.dev_ext.nlink;
	case SQFS_INODE_FIFO: case SQFS_INODE_SOCKET: return i->data.ipc.nlink;
	case SQFS_INODE_EXT_FIFO: case SQFS_INODE_EXT_SOCKET: return i->data.ipc_ext.nlink;
	}
	return 0;
}

static const char *parent_of(const char *path, char *buf, size_t size)
{
	char *slash;

	snprintf(buf, size, "%s", path);
	slash = strrchr(buf, '/');
	if (slash)
		*slash = '\0';
	else
		buf[0] = '\0';
	return buf;
}

/* What unsquashfs does not show, read through libsquashfs's own reader:
 * link counts (directories 2 + subdirectories, hard links 2), unique
 * inode numbers 1..N with the root last, parent numbers. */
static void check_inodes(const char *img, const char *tag)
{
	sqfs_compressor_config_t cfg;
	sqfs_compressor_t *cmp = NULL;
	sqfs_dir_reader_t *rd = NULL;
	sqfs_inode_generic_t *ino;
	sqfs_file_t *file;
	sqfs_super_t super;
	uint32_t nums[NENTS], want;
	char pbuf[4096];
	size_t i, j;

	file = sqfs_open_file(img, SQFS_FILE_OPEN_READ_ONLY);
	T_OK(file != NULL, "%s: open", tag);
	if (!file)
		return;
	T_EQ_INT(sqfs_super_read(&super, file), 0);
	T_EQ_INT(sqfs_compressor_config_init(&cfg, super.compression_id, super.block_size,
					     SQFS_COMP_FLAG_UNCOMPRESS), 0);
	T_EQ_INT(sqfs_compressor_create(&cfg, &cmp), 0);
	if (cmp)
		rd = sqfs_dir_reader_create(&super, cmp, file, 0);
	T_OK(rd != NULL, "%s: dir reader", tag);
	for (i = 0; rd && i < NENTS; i++) {
		const struct ent *e = &ents[i], *ie = ent_inode(e);

		nums[i] = 0;
		if (sqfs_dir_reader_find_by_path(rd, NULL, e->path, &ino) != 0) {
			T_OK(0, "%s: '%s' not found by libsquashfs", tag, e->path);
			continue;
		}
		nums[i] = ino->base.inode_number;
		if (S_ISDIR(e->mode)) {
			want = 2;
			for (j = 0; j < NENTS; j++)
				if (S_ISDIR(ents[j].mode) && j != i &&
				    strcmp(parent_of(ents[j].path, pbuf, sizeof(pbuf)), e->path) == 0)
					want++;
			T_OK(inode_nlink(ino) == want, "%s: %s: dir nlink %u, want %u", tag, e->path,
			     inode_nlink(ino), want);
			/* the root's parent is inode_count + 1, as mksquashfs has it */
			want = e->path[0] == '\0' ? super.inode_count + 1
				: nums[find_ent(parent_of(e->path, pbuf, sizeof(pbuf))) - ents];
			T_OK((ino->base.type == SQFS_INODE_DIR ? ino->data.dir.parent_inode
			      : ino->data.dir_ext.parent_inode) == want, "%s: %s: parent inode", tag,
			     e->path);
		} else {
			want = (strcmp(ie->path, "bin/hard1") == 0) ? 2 : 1;
			T_OK(inode_nlink(ino) == want, "%s: %s: nlink %u, want %u", tag, e->path,
			     inode_nlink(ino), want);
		}
		sqfs_free(ino);
	}
	/* numbers: unique per inode, shared by hard links, 1..inode_count,
	 * the root last */
	for (i = 0; rd && i < NENTS; i++) {
		T_OK(nums[i] >= 1 && nums[i] <= super.inode_count, "%s: %s: inode %u", tag,
		     ents[i].path, nums[i]);
		for (j = 0; j < i; j++)
			T_OK((nums[i] == nums[j]) == (ent_inode(&ents[i]) == ent_inode(&ents[j])),
			     "%s: %s and %s: inodes %u %u", tag, ents[i].path, ents[j].path, nums[i],
			     nums[j]);
	}
	if (rd)
		T_EQ_INT(nums[0], super.inode_count);
	sqfs_destroy(rd);
	sqfs_destroy(cmp);
	sqfs_destroy(file);
}

/* mkl_sqfs_read_file for every regular name, hard links included. */
static void check_readback(struct mkl_sqfs *sq, struct mkl_tree *t, uint32_t bs, const char *tag)
{
	struct mkl_err err;
	const struct ent *ie;
	struct mkl_node *n;
	struct cmpsink c;
	size_t i;

	for (i = 0; i < NENTS; i++) {
		ie = ent_inode(&ents[i]);
		if (!S_ISREG(ie->mode))
			continue;
		n = mkl_tree_lookup(t, ents[i].path);
		T_OK(n != NULL, "lookup %s", ents[i].path);
		if (!n)
			continue;
		memset(&c, 0, sizeof(c));
		c.len = ent_size(ie, bs);
		c.p = content(ie->kind, ie->seed, c.len);
		T_OK(mkl_sqfs_read_file(sq, n, cmp_sink, &c, &err) == 0, "%s: %s", tag, err.msg);
		T_OK(!c.bad && c.off == c.len, "%s: %s: read back %zu of %zu bytes, bad %d", tag,
		     ents[i].path, c.off, c.len, c.bad);
		free((void *)c.p);
	}
}

static void check_image(const char *dir, const char *comp, int level, uint32_t bs, unsigned threads)
{
	struct mkl_sqfs_opts o = { .compressor = comp, .level = level, .block_size = bs,
				   .threads = threads, .mkfs_time = T0 };
	char img[4096], tag[128];
	struct mkl_err err = { 0 };
	struct mkl_sqfs *sq;
	struct mkl_tree *t;
	struct stat st;
	int fd;

	snprintf(tag, sizeof(tag), "%s-%d-%u", comp, level, bs);
	snprintf(img, sizeof(img), "%s/%s.sqfs", dir, tag);
	t = make_image(img, &o, 0, &sq, &fd, &err);
	T_OK(t != NULL, "%s: %s", tag, err.msg);
	if (!t)
		return;
	T_OK(stat(img, &st) == 0 && (uint64_t)st.st_size == mkl_sqfs_bytes(sq) &&
	     st.st_size % 4096 == 0, "%s: size %lld vs %llu", tag, (long long)st.st_size,
	     (unsigned long long)mkl_sqfs_bytes(sq));
	check_super(dir, img, comp, bs ? bs : 131072, mkl_sqfs_bytes(sq), tag);
	check_pf(dir, img, bs ? bs : 131072, tag);
	check_lln(dir, img, tag);
	check_extract(dir, img, bs ? bs : 131072, tag);
	check_inodes(img, tag);
	check_readback(sq, t, bs ? bs : 131072, tag);
	mkl_sqfs_destroy(sq);
	mkl_tree_destroy(t);
	close(fd);
}

static int same_file(const char *a, const char *b)
{
	size_t la, lb;
	char *pa = slurp(a, &la), *pb = slurp(b, &lb);
	int same = pa && pb && la == lb && memcmp(pa, pb, la) == 0;

	free(pa);
	free(pb);
	return same;
}

static void check_determinism(const char *dir)
{
	struct mkl_sqfs_opts o = { .compressor = "zstd", .level = 3, .block_size = 16384, .mkfs_time = T0 };
	char a[4096], b[4096], c[4096];
	struct mkl_err err = { 0 };
	struct mkl_sqfs *sq;
	struct mkl_tree *t;
	unsigned threads[3] = { 1, 4, 4 };
	char *imgs[3] = { a, b, c };
	int i, fd;

	snprintf(a, sizeof(a), "%s/t1.sqfs", dir);
	snprintf(b, sizeof(b), "%s/t4.sqfs", dir);
	snprintf(c, sizeof(c), "%s/t4b.sqfs", dir);
	for (i = 0; i < 3; i++) {
		o.threads = threads[i];
		t = make_image(imgs[i], &o, 1, &sq, &fd, &err);
		T_OK(t != NULL, "threads %u: %s", threads[i], err.msg);
		if (!t)
			continue;
		mkl_sqfs_destroy(sq);
		mkl_tree_destroy(t);
		close(fd);
	}
	T_OK(same_file(a, b), "threads=1 and threads=4 images differ");
	T_OK(same_file(b, c), "two threads=4 runs differ");
	T_EQ_INT(run("unsquashfs -q -n -d %s/bulk %s >/dev/null 2>&1%s", dir, b, ""), 0);
	for (i = 0; i < 48; i++) {
		char path[4096], *got;
		unsigned char *want;
		size_t len, size = 20000 + (size_t)i * 9973;

		snprintf(path, sizeof(path), "%s/bulk/bulk/f%02d", dir, i);
		got = slurp(path, &len);
		want = content(i % 3 ? TEXT : RAND, 100 + i, size);
		T_OK(got && len == size && memcmp(got, want, size) == 0, "bulk/f%02d content", i);
		free(got);
		free(want);
	}
	snprintf(a, sizeof(a), "ls %s/bulk/many | wc -l | grep -qx 3000", dir);
	T_OK(system(a) == 0, "3000 entries extracted from bulk/many");
	snprintf(a, sizeof(a), "test -f %s/bulk/many/entry-02999-with-a-longer-name", dir);
	T_OK(system(a) == 0, "last entry of bulk/many");
}

/* A file over 4 GiB needs an extended inode (64-bit size): zeros (sparse
 * blocks, cheap) and then a 5000-byte patterned tail in a fragment. */
#define BIG_SIZE ((4ull << 30) + 5000)

static unsigned char big_byte(uint64_t pos)
{
	return pos >= (4ull << 30) ? (unsigned char)((pos & 0xff) ^ 0x5a) : 0;
}

struct bigsrc {
	uint64_t off;
	int bad;
};

static long big_read(void *ctx, void *buf, size_t n, struct mkl_err *err)
{
	struct bigsrc *b = ctx;
	unsigned char *p = buf;
	size_t i;

	if (n > BIG_SIZE - b->off)
		n = BIG_SIZE - b->off;
	if (b->off + n <= (4ull << 30)) {
		memset(p, 0, n);
	} else {
		for (i = 0; i < n; i++)
			p[i] = big_byte(b->off + i);
	}
	b->off += n;
	return (long)n;
}

static int big_sink(void *ctx, const void *buf, size_t n, struct mkl_err *err)
{
	struct bigsrc *b = ctx;
	const unsigned char *p = buf;
	size_t i;

	if (b->off + n <= (4ull << 30)) {
		for (i = 0; i < n; i++)
			b->bad |= p[i] != 0;
	} else {
		for (i = 0; i < n; i++)
			b->bad |= p[i] != big_byte(b->off + i);
	}
	b->off += n;
	return 0;
}

static void check_big(const char *dir)
{
	struct mkl_sqfs_opts o = { .compressor = "zstd", .block_size = 1u << 20, .mkfs_time = T0 };
	struct mkl_stat st = { .mode = S_IFREG | 0644, .mtime = T0, .size = BIG_SIZE };
	struct mkl_err err = { 0 };
	struct mkl_sqfs *sq = NULL;
	struct mkl_tree *t = mkl_tree_create(&err);
	struct mkl_node *n, *h;
	struct bigsrc b = { 0, 0 };
	char img[4096], cmd[8192];
	int fd;

	snprintf(img, sizeof(img), "%s/big.sqfs", dir);
	fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0644);
	T_EQ_INT(mkl_sqfs_create(fd, &o, &sq, &err), 0);
	T_EQ_INT(mkl_tree_add(t, "big", &st, &n, &err), 0);
	T_OK(mkl_sqfs_add_data(sq, n, big_read, &b, &err) == 0, "%s", err.msg);
	T_EQ_INT(mkl_tree_add_hardlink(t, "big2", "big", &h, &err), 0);
	T_EQ_INT(mkl_tree_finish(t, &err), 0);
	T_OK(mkl_sqfs_finish(sq, t, &err) == 0, "%s", err.msg);
	T_OK(mkl_sqfs_bytes(sq) < (1u << 20), "sparse: image is %llu bytes",
	     (unsigned long long)mkl_sqfs_bytes(sq));
	snprintf(cmd, sizeof(cmd), "unsquashfs -lln %s big | grep -q ' %llu .*squashfs-root/big$'",
		 img, BIG_SIZE);
	T_OK(system(cmd) == 0, "unsquashfs lists big with size %llu", BIG_SIZE);
	snprintf(cmd, sizeof(cmd), "unsquashfs -q -n -d %s/bigx %s big >/dev/null && "
		 "test $(stat -c %%s %s/bigx/big) = %llu && tail -c 5000 %s/bigx/big | cmp -s - %s/tail",
		 dir, img, dir, BIG_SIZE, dir, dir);
	{
		unsigned char tail[5000];
		FILE *f;
		size_t i;

		snprintf(img, sizeof(img), "%s/tail", dir);
		for (i = 0; i < sizeof(tail); i++)
			tail[i] = big_byte((4ull << 30) + i);
		f = fopen(img, "wb");
		T_OK(f && fwrite(tail, 1, sizeof(tail), f) == sizeof(tail), "write tail");
		if (f)
			fclose(f);
	}
	T_OK(system(cmd) == 0, "unsquashfs extracts big: size and tail");
	b.off = 0;
	T_OK(mkl_sqfs_read_file(sq, h, big_sink, &b, &err) == 0, "%s", err.msg);
	T_OK(b.off == BIG_SIZE && !b.bad, "read back big through its hard link: %llu bytes, bad %d",
	     (unsigned long long)b.off, b.bad);
	mkl_sqfs_destroy(sq);
	mkl_tree_destroy(t);
	close(fd);
}

static void check_opts(void)
{
	struct mkl_sqfs_opts o = { 0 };
	struct mkl_err err = { 0 };

	T_EQ_INT(mkl_sqfs_check_opts(&o, &err), 0);
	o.compressor = "foo";
	T_EQ_INT(mkl_sqfs_check_opts(&o, &err), -1);
	T_OK(strstr(err.msg, "unknown compressor 'foo' (expected zstd, xz, gzip or lz4)") == err.msg,
	     "%s", err.msg);
	o.compressor = "zstd";
	o.level = 30;
	T_EQ_INT(mkl_sqfs_check_opts(&o, &err), -1);
	T_OK(strstr(err.msg, "compression level 30 out of range for zstd (1..22)") == err.msg,
	     "%s", err.msg);
	o.compressor = "gzip";
	o.level = 10;
	T_EQ_INT(mkl_sqfs_check_opts(&o, &err), -1);
	T_OK(strstr(err.msg, "out of range for gzip (1..9)") != NULL, "%s", err.msg);
	o.compressor = "xz";
	o.level = -1;
	T_EQ_INT(mkl_sqfs_check_opts(&o, &err), -1);
	o.level = 9;
	T_EQ_INT(mkl_sqfs_check_opts(&o, &err), 0);
	o.level = 0;
	o.block_size = 1000;
	T_EQ_INT(mkl_sqfs_check_opts(&o, &err), -1);
	T_OK(strstr(err.msg, "block size 1000 is not a power of two between 4 KiB and 1 MiB") == err.msg,
	     "%s", err.msg);
	o.block_size = 2048;
	T_EQ_INT(mkl_sqfs_check_opts(&o, &err), -1);
	o.block_size = 2u << 20;
	T_EQ_INT(mkl_sqfs_check_opts(&o, &err), -1);
	o.block_size = 3 * 4096;
	T_EQ_INT(mkl_sqfs_check_opts(&o, &err), -1);
	o.block_size = 4096;
	T_EQ_INT(mkl_sqfs_check_opts(&o, &err), 0);
	o.block_size = 1u << 20;
	T_EQ_INT(mkl_sqfs_check_opts(&o, &err), 0);
	/* create checks too, and writes nothing */
	o.compressor = "lzo";
	{
		struct mkl_sqfs *sq = (struct mkl_sqfs *)&o;
		int fd = open("/dev/null", O_RDWR);

		T_EQ_INT(mkl_sqfs_create(fd, &o, &sq, &err), -1);
		T_OK(sq == NULL, "out cleared on failure");
		T_OK(strstr(err.msg, "unknown compressor 'lzo'") != NULL, "%s", err.msg);
		close(fd);
	}
}

/* A reader that delivers fewer or more bytes than the entry says; a
 * replaced node; then the writer must still produce a valid image. */
static void check_bad_input(const char *dir)
{
	struct mkl_sqfs_opts o = { .compressor = "gzip", .threads = 2, .mkfs_time = T0 };
	struct mkl_stat st = { .mode = S_IFREG | 0644, .mtime = T0 };
	struct mkl_err err = { 0 };
	struct mkl_sqfs *sq = NULL;
	struct mkl_tree *t = mkl_tree_create(&err);
	struct mkl_node *n;
	struct memsrc m;
	unsigned char *data = content(RAND, 77, 300000);
	char img[4096], out[4096], *got;
	size_t len;
	int fd;

	snprintf(img, sizeof(img), "%s/bad.sqfs", dir);
	fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0644);
	T_OK(fd >= 0 && t, "setup");
	T_EQ_INT(mkl_sqfs_create(fd, &o, &sq, &err), 0);
	if (!sq) {
		free(data);
		return;
	}

	st.size = 100;
	T_EQ_INT(mkl_tree_add(t, "dir/short", &st, &n, &err), 0);
	m = (struct memsrc){ data, 50, 0, 1 << 20 };
	T_EQ_INT(mkl_sqfs_add_data(sq, n, mem_read, &m, &err), -1);
	T_OK(strstr(err.msg, "'/dir/short'") && strstr(err.msg, "ended after 50 of 100 bytes"),
	     "%s", err.msg);
	T_OK(n->data == NULL, "no data recorded");

	T_EQ_INT(mkl_tree_add(t, "dir/long", &st, &n, &err), 0);
	m = (struct memsrc){ data, 150, 0, 1 << 20 };
	T_EQ_INT(mkl_sqfs_add_data(sq, n, mem_read, &m, &err), -1);
	T_OK(strstr(err.msg, "'/dir/long'") && strstr(err.msg, "more than its 100 bytes"),
	     "%s", err.msg);

	/* finishing with a file whose data never arrived is an error... */
	{
		struct mkl_tree *t2 = mkl_tree_create(&err);
		struct mkl_node *n2;

		T_EQ_INT(mkl_tree_add(t2, "nodata", &st, &n2, &err), 0);
		T_EQ_INT(mkl_tree_finish(t2, &err), 0);
		T_EQ_INT(mkl_sqfs_finish(sq, t2, &err), -1);
		T_OK(strstr(err.msg, "'/nodata'") != NULL, "%s", err.msg);
		mkl_tree_destroy(t2);
		T_EQ_INT(mkl_sqfs_finish(sq, t, &err), -1);
		T_OK(strstr(err.msg, "failed earlier") != NULL, "%s", err.msg);
	}
	mkl_sqfs_destroy(sq);
	mkl_tree_destroy(t);

	/* ... while a failed add leaves the writer usable, and a replaced
	 * node's data is simply unreferenced */
	t = mkl_tree_create(&err);
	T_OK(ftruncate(fd, 0) == 0, "truncate");
	sq = NULL;
	T_EQ_INT(mkl_sqfs_create(fd, &o, &sq, &err), 0);
	st.size = 100;
	T_EQ_INT(mkl_tree_add(t, "short", &st, &n, &err), 0);
	m = (struct memsrc){ data, 50, 0, 1 << 20 };
	T_EQ_INT(mkl_sqfs_add_data(sq, n, mem_read, &m, &err), -1);
	T_EQ_INT(mkl_tree_remove(t, "short", &err), 0);
	st.size = 300000;
	T_EQ_INT(mkl_tree_add(t, "rep", &st, &n, &err), 0);
	m = (struct memsrc){ data, 300000, 0, 4096 };
	T_EQ_INT(mkl_sqfs_add_data(sq, n, mem_read, &m, &err), 0);
	T_EQ_INT(mkl_sqfs_add_data(sq, n, mem_read, &m, &err), -1);
	T_OK(strstr(err.msg, "already") != NULL, "%s", err.msg);
	st.size = 1234;
	T_EQ_INT(mkl_tree_add(t, "rep", &st, &n, &err), 0);
	m = (struct memsrc){ data + 1000, 1234, 0, 4096 };
	T_EQ_INT(mkl_sqfs_add_data(sq, n, mem_read, &m, &err), 0);
	T_EQ_INT(mkl_tree_finish(t, &err), 0);
	T_OK(mkl_sqfs_finish(sq, t, &err) == 0, "%s", err.msg);
	{
		struct cmpsink c = { data + 1000, 1234, 0, 0 };

		T_OK(mkl_sqfs_read_file(sq, n, cmp_sink, &c, &err) == 0, "%s", err.msg);
		T_OK(!c.bad && c.off == 1234, "read back replaced file");
	}
	T_EQ_INT(mkl_sqfs_add_data(sq, n, mem_read, &m, &err), -1);
	T_OK(strstr(err.msg, "finished") != NULL, "%s", err.msg);
	close(fd);
	mkl_sqfs_destroy(sq);
	mkl_tree_destroy(t);

	snprintf(out, sizeof(out), "%s/bad", dir);
	T_EQ_INT(run("unsquashfs -q -n -d %s %s >/dev/null 2>&1%s", out, img, ""), 0);
	snprintf(out, sizeof(out), "%s/bad/rep", dir);
	got = slurp(out, &len);
	T_OK(got && len == 1234 && memcmp(got, data + 1000, len) == 0, "replaced file content");
	free(got);
	free(data);
}

static void check_enospc(void)
{
	struct mkl_sqfs_opts o = { 0 };
	struct mkl_err err = { 0 };
	struct mkl_sqfs *sq = NULL;
	int fd = open("/dev/full", O_RDWR);

	if (fd < 0) {
		T_SKIP("no /dev/full to test ENOSPC");
		return;
	}
	T_EQ_INT(mkl_sqfs_create(fd, &o, &sq, &err), -1);
	T_OK(strstr(err.msg, "No space left on device") != NULL, "%s", err.msg);
	T_EQ_INT(err.code, ENOSPC);
	close(fd);
	fd = open("/dev/null", O_WRONLY);
	T_EQ_INT(mkl_sqfs_create(fd, &o, &sq, &err), -1);
	T_OK(strstr(err.msg, "reading and writing") != NULL, "%s", err.msg);
	close(fd);
	mkl_sqfs_destroy(NULL);
}

/* Last: mkl_cancel() cannot be undone. */
static void check_cancel(const char *dir)
{
	struct mkl_sqfs_opts o = { .threads = 1 };
	struct mkl_stat st = { .mode = S_IFREG | 0644, .size = 1 << 20 };
	struct mkl_err err = { 0 };
	struct mkl_sqfs *sq = NULL;
	struct mkl_tree *t = mkl_tree_create(&err);
	struct mkl_node *n;
	unsigned char *data = content(ZERO, 0, 1 << 20);
	struct memsrc m = { data, 1 << 20, 0, 1 << 20 };
	char img[4096];
	int fd;

	snprintf(img, sizeof(img), "%s/cancel.sqfs", dir);
	fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0644);
	T_EQ_INT(mkl_sqfs_create(fd, &o, &sq, &err), 0);
	T_EQ_INT(mkl_tree_add(t, "big", &st, &n, &err), 0);
	mkl_cancel();
	T_EQ_INT(mkl_sqfs_add_data(sq, n, mem_read, &m, &err), -1);
	T_EQ_STR(err.msg, "cancelled");
	T_EQ_INT(err.code, ECANCELED);
	mkl_sqfs_destroy(sq);
	mkl_tree_destroy(t);
	close(fd);
	free(data);
}

int main(void)
{
	char dir[] = "/tmp/mklive-sqfs.XXXXXX";

	check_opts();
	if (!mkdtemp(dir)) {
		T_OK(0, "mkdtemp: %s", strerror(errno));
		return t_done();
	}
	if (system("unsquashfs -h >/dev/null 2>&1") != 0) {
		T_SKIP("unsquashfs not installed (squashfs-tools): images not verified");
	} else if (geteuid() != 0) {
		T_SKIP("not root: unsquashfs cannot restore owners and devices");
	} else {
		check_image(dir, "zstd", 0, 0, 0);
		check_image(dir, "xz", 9, 4096, 3);
		check_image(dir, "xz", 0, 131072, 2);	/* ours: BCJ x86 where it pays, raw when random */
		check_image(dir, "gzip", 1, 65536, 1);
		check_image(dir, "lz4", 9, 1u << 20, 2);
		check_image(dir, "lz4", 1, 8192, 2);
		check_determinism(dir);
		check_bad_input(dir);
		check_big(dir);
	}
	check_enospc();
	check_cancel(dir);
	if (!getenv("MKLIVE_KEEP"))
		run("rm -rf %s%s%s", dir, "", "");
	return t_done();
}
