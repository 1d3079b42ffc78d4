/* ISO 9660 + Rock Ridge image of a tree, read back by readers we did not
 * write: xorriso (listing and extraction as root: owners, modes, devices,
 * times, link targets, content byte for byte), isoinfo (Rock Ridge names),
 * and Linux's isofs through a loop mount when this host allows one (the
 * reader at boot: also the hard-link count). Reproducibility, errors of
 * the content callback and of the sink, bad label, cancel.
 * Set MKL_KEEP=1 to keep the files. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fmt/isotree.h"
#include "t.h"

#define TIME 1700000000
#define T2030 1900000000	/* 2030-03-17 */
#define DEEP "a/b/c/d/e/f/g/h/i/j"

static char dir[] = "/tmp/mklive-isotree.XXXXXX";

struct ent {
	char path[512];
	uint32_t mode, uid, gid;
	uint64_t size, rdev;
	int64_t mtime;
	const char *target;
	const char *hardlink;	/* path of the leader */
	const char *xname, *xvalue;
	size_t xsize;
};

static struct ent ents[400];
static size_t nents;

static struct ent *ent(const char *path, uint32_t mode, uint32_t uid, uint32_t gid, uint64_t size,
		       int64_t mtime)
{
	struct ent *e = &ents[nents++];

	memset(e, 0, sizeof(*e));
	snprintf(e->path, sizeof(e->path), "%s", path);
	e->mode = mode;
	e->uid = uid;
	e->gid = gid;
	e->size = size;
	e->mtime = mtime;
	return e;
}

static char long1[201], mang1[80], mang2[80];

static void make_ents(void)
{
	char p[512];
	struct ent *e;
	int i;

	memset(long1, 'L', 200);
	memcpy(long1, "long-", 5);
	snprintf(mang1, sizeof(mang1), "a-rather-long-name-that-mangles-badly-number-1.conf");
	snprintf(mang2, sizeof(mang2), "a-rather-long-name-that-mangles-badly-number-2.conf");
	nents = 0;
	ent("", S_IFDIR | 0755, 0, 0, 0, TIME);
	ent("bin", S_IFDIR | 0755, 0, 0, 0, TIME);
	ent("bin/su", S_IFREG | 04755, 0, 0, 5000, TIME);
	e = ent("bin/ping", S_IFREG | 0755, 0, 0, 777, TIME);
	e->xname = "security.capability";
	/* vfs_cap_data v2, effective, permitted CAP_NET_RAW (as ping has) */
	e->xvalue = "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
		    "\x00\x00\x00\x00";
	e->xsize = 20;
	ent("tmp", S_IFDIR | 01777, 0, 0, 0, TIME);
	ent("home", S_IFDIR | 0755, 0, 0, 0, TIME);
	ent("home/user", S_IFDIR | 0700, 1000, 1000, 0, TIME + 1);
	ent("home/user/empty", S_IFREG | 0644, 1000, 1000, 0, TIME + 2);
	e = ent("home/user/one", S_IFREG | 0600, 1000, 1000, 1, TIME + 3);
	e->xname = "user.comment";
	e->xvalue = "hello";
	e->xsize = 5;
	ent("home/user/sgid", S_IFREG | 02755, 1000, 50, 100, TIME);
	ent("data", S_IFDIR | 0755, 65534, 65534, 0, T2030);
	ent("data/big", S_IFREG | 0644, 65534, 65534, 3u << 20, T2030);
	e = ent("data/link", S_IFLNK | 0777, 0, 0, 0, TIME);
	e->target = "../bin/su";
	ent("data/hard1", S_IFREG | 0640, 0, 4, 20000, TIME);
	e = ent("data/hard2", S_IFREG | 0640, 0, 4, 20000, TIME);
	e->hardlink = "data/hard1";
	snprintf(p, sizeof(p), "data/%s", long1);
	ent(p, S_IFREG | 0644, 0, 0, 333, TIME);
	snprintf(p, sizeof(p), "data/%s", mang1);
	ent(p, S_IFREG | 0644, 0, 0, 11, TIME);
	snprintf(p, sizeof(p), "data/%s", mang2);
	ent(p, S_IFREG | 0644, 0, 0, 12, TIME);
	ent("data/Mixed Case & spaces!", S_IFREG | 0644, 0, 0, 13, TIME);
	ent("dev", S_IFDIR | 0755, 0, 0, 0, TIME);
	e = ent("dev/console", S_IFCHR | 0600, 0, 5, 0, TIME);
	e->rdev = makedev(5, 1);
	e = ent("dev/sda", S_IFBLK | 0660, 0, 6, 0, TIME);
	e->rdev = makedev(8, 0);
	ent("dev/initctl", S_IFIFO | 0600, 0, 0, 0, TIME);
	ent(DEEP, S_IFDIR | 0750, 0, 0, 0, TIME);
	ent(DEEP "/deepfile", S_IFREG | 0444, 0, 0, 4096, TIME);
	ent("many", S_IFDIR | 0755, 0, 0, 0, TIME);
	for (i = 0; i < 300; i++) {
		snprintf(p, sizeof(p), "many/entry-%03d.txt", i);
		ent(p, S_IFREG | 0644, 0, 0, (uint64_t)i * 7, TIME);
	}
}

/* Content: a function of the inode's name and the offset. */
static uint32_t name_seed(const char *name)
{
	uint32_t h = 2166136261u;

	while (*name)
		h = (h ^ (unsigned char)*name++) * 16777619u;
	return h;
}

static unsigned char byte_at(uint32_t seed, uint64_t off)
{
	uint64_t x = (off + seed) * 0x9e3779b97f4a7c15ull;

	return (unsigned char)((x >> 29) ^ (off >> 12) ^ seed);
}

static const char *base(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

struct cctx {
	int calls;
	int fail_on;		/* fail the call with this number (0: never) */
	int cancel_on;		/* mkl_cancel() at this call (0: never) */
};

static int content(void *ctx, const struct mkl_node *node, uint64_t off, void *buf, size_t len,
		   struct mkl_err *err)
{
	struct cctx *c = ctx;
	uint32_t seed = name_seed(node->name);
	unsigned char *b = buf;
	size_t i;

	c->calls++;
	if (c->fail_on && c->calls == c->fail_on)
		return mkl_error(err, EIO, "test content failure");
	if (c->cancel_on && c->calls == c->cancel_on)
		mkl_cancel();
	if (off + len > node->size)
		return mkl_error(err, EINVAL, "read past the end of '%s'", node->name);
	for (i = 0; i < len; i++)
		b[i] = byte_at(seed, off + i);
	return 0;
}

struct mem {
	unsigned char *buf;
	size_t len, cap;
	int calls;
	size_t fail_after;	/* fail when this many bytes are in (0: never) */
	size_t max_chunk;
};

static int mem_sink(void *ctx, const void *buf, size_t len, struct mkl_err *err)
{
	struct mem *m = ctx;

	m->calls++;
	if (len > m->max_chunk)
		m->max_chunk = len;
	if (m->fail_after && m->len + len > m->fail_after)
		return mkl_error(err, ENOSPC, "test sink is full");
	if (m->len + len > m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 1 << 20;

		while (cap < m->len + len)
			cap *= 2;
		m->buf = realloc(m->buf, cap);
		m->cap = cap;
	}
	memcpy(m->buf + m->len, buf, len);
	m->len += len;
	return 0;
}

static struct mkl_tree *make_tree(void)
{
	struct mkl_err err = {0};
	struct mkl_tree *t = mkl_tree_create(&err);
	size_t i;

	if (!t)
		return NULL;
	for (i = 0; i < nents; i++) {
		struct ent *e = &ents[i];
		struct mkl_stat st = {0};
		struct mkl_xattr x = {0};
		struct mkl_node *n;

		if (e->hardlink) {
			if (mkl_tree_add_hardlink(t, e->path, e->hardlink, &n, &err) < 0)
				goto fail;
			continue;
		}
		st.mode = e->mode;
		st.uid = e->uid;
		st.gid = e->gid;
		st.size = e->size;
		st.rdev = e->rdev;
		st.mtime = e->mtime;
		st.target = e->target;
		if (e->xname) {
			x.name = (char *)e->xname;
			x.value = (unsigned char *)e->xvalue;
			x.size = e->xsize;
			st.xattrs = &x;
		}
		if (mkl_tree_add(t, e->path, &st, &n, &err) < 0)
			goto fail;
	}
	if (mkl_tree_finish(t, &err) < 0)
		goto fail;
	return t;
fail:
	printf("# make_tree: %s\n", err.msg);
	mkl_tree_destroy(t);
	return NULL;
}

static int have(const char *tool)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", tool);
	return system(cmd) == 0;
}

static const char *S(const char *s)
{
	return s;
}

static char *run(const char *cmd)
{
	size_t len = 0, cap = 1 << 16, n;
	char *out = malloc(cap);
	FILE *p = popen(cmd, "r");

	if (!p) {
		out[0] = '\0';
		return out;
	}
	while ((n = fread(out + len, 1, cap - len - 1, p)) > 0) {
		len += n;
		if (cap - len < 4096)
			out = realloc(out, cap *= 2);
	}
	out[len] = '\0';
	pclose(p);
	return out;
}

static int write_file(const char *path, const struct mem *m)
{
	FILE *f = fopen(path, "wb");
	int ok = f && fwrite(m->buf, 1, m->len, f) == m->len;

	if (f)
		ok = (fclose(f) == 0) && ok;
	return ok ? 0 : -1;
}

static uint32_t inode_seed(const struct ent *e)
{
	return name_seed(base(e->hardlink ? e->hardlink : e->path));
}

static const struct ent *leader_of(const struct ent *e)
{
	size_t i;

	if (!e->hardlink)
		return e;
	for (i = 0; i < nents; i++)
		if (strcmp(ents[i].path, e->hardlink) == 0)
			return &ents[i];
	return e;
}

/* Compare a tree on disk (extracted or mounted) with ents. */
static void check_fs(const char *top, const char *tag, int check_nlink)
{
	size_t i, bad_content = 0, bad_meta = 0;
	unsigned char *buf = malloc(4u << 20);

	for (i = 0; i < nents; i++) {
		const struct ent *e = leader_of(&ents[i]);
		char path[1024];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", top, ents[i].path);
		if (lstat(path, &st) < 0) {
			T_OK(0, "%s: %s: missing: %s", tag, ents[i].path, strerror(errno));
			continue;
		}
		/* xorriso sets no symlink times: its listing is checked instead. */
		if (st.st_mode != e->mode || st.st_uid != e->uid || st.st_gid != e->gid ||
		    ((int64_t)st.st_mtime != e->mtime && !(S_ISLNK(e->mode) && !check_nlink))) {
			bad_meta++;
			T_OK(0, "%s: %s: mode 0%o uid %u gid %u mtime %lld, want 0%o %u %u %lld",
			     tag, ents[i].path, st.st_mode, st.st_uid, st.st_gid,
			     (long long)st.st_mtime, e->mode, e->uid, e->gid,
			     (long long)e->mtime);
		}
		if (S_ISCHR(e->mode) || S_ISBLK(e->mode))
			T_OK(major(st.st_rdev) == major(e->rdev) &&
			     minor(st.st_rdev) == minor(e->rdev), "%s: %s: rdev %u,%u", tag,
			     ents[i].path, major(st.st_rdev), minor(st.st_rdev));
		if (S_ISLNK(e->mode)) {
			char t[256];
			ssize_t n = readlink(path, t, sizeof(t) - 1);

			t[n > 0 ? n : 0] = '\0';
			T_EQ_STR(S(t), e->target);
		}
		if (check_nlink && S_ISREG(e->mode))
			T_EQ_INT(st.st_nlink, strncmp(ents[i].path, "data/hard", 9) == 0 ? 2 : 1);
		if (S_ISREG(e->mode)) {
			int fd = open(path, O_RDONLY);
			ssize_t n = fd >= 0 ? read(fd, buf, 4u << 20) : -1;
			uint32_t seed = inode_seed(&ents[i]);
			uint64_t k;
			int same = n == (ssize_t)e->size;

			for (k = 0; same && k < e->size; k++)
				same = buf[k] == byte_at(seed, k);
			if (!same) {
				bad_content++;
				T_OK(0, "%s: %s: content differs (%zd of %llu bytes)", tag,
				     ents[i].path, n, (unsigned long long)e->size);
			}
			if (fd >= 0)
				close(fd);
		}
	}
	T_OK(bad_content == 0 && bad_meta == 0, "%s: %zu content, %zu metadata differences",
	     tag, bad_content, bad_meta);
	free(buf);
}

static void check_xattrs(const char *top, const char *tag)
{
	char path[1024], cmd[1200], *out;

	if (!have("getfattr")) {
		T_SKIP("getfattr (attr) is not installed: xattrs not compared");
		return;
	}
	snprintf(path, sizeof(path), "%s/home/user/one", top);
	snprintf(cmd, sizeof(cmd), "getfattr --absolute-names --only-values -n user.comment '%s' 2>&1", path);
	out = run(cmd);
	T_EQ_STR(out, "hello");
	free(out);
	snprintf(path, sizeof(path), "%s/bin/ping", top);
	snprintf(cmd, sizeof(cmd), "getfattr --absolute-names -e hex -n security.capability '%s' 2>&1", path);
	out = run(cmd);
	T_OK(strstr(out, "security.capability=0x0100000200200000000000000000000000000000") != NULL, "%s: ping: %s", tag, out);
	free(out);
}

/* xorriso's own listing: type, mode, owner, size or device per path. */
static void check_lsdl(const char *img)
{
	char cmd[1024], *out, *line;
	size_t i, found = 0;

	snprintf(cmd, sizeof(cmd), "xorriso -indev '%s' -find / -exec lsdl -- 2>/dev/null", img);
	out = run(cmd);
	for (i = 0; i < nents; i++) {
		const struct ent *e = leader_of(&ents[i]);
		char want[700], perm[11], type = '-';
		mode_t m = e->mode;

		if (!ents[i].path[0])
			continue;
		if (S_ISDIR(m)) type = 'd';
		else if (S_ISLNK(m)) type = 'l';
		else if (S_ISCHR(m)) type = 'c';
		else if (S_ISBLK(m)) type = 'b';
		else if (S_ISFIFO(m)) type = 'p';
		snprintf(perm, sizeof(perm), "%c%c%c%c%c%c%c%c%c%c", type,
			 m & 0400 ? 'r' : '-', m & 0200 ? 'w' : '-',
			 m & 04000 ? (m & 0100 ? 's' : 'S') : (m & 0100 ? 'x' : '-'),
			 m & 040 ? 'r' : '-', m & 020 ? 'w' : '-',
			 m & 02000 ? (m & 010 ? 's' : 'S') : (m & 010 ? 'x' : '-'),
			 m & 04 ? 'r' : '-', m & 02 ? 'w' : '-',
			 m & 01000 ? (m & 01 ? 't' : 'T') : (m & 01 ? 'x' : '-'));
		snprintf(want, sizeof(want), "'/%s'", ents[i].path);
		for (line = out; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
			char lperm[16], lsize[32];
			unsigned lnl, luid, lgid;
			char *end = strchr(line, '\n');
			size_t ll = end ? (size_t)(end - line) : strlen(line);
			const char *q;

			/* the path is the last field; symlinks add " -> 'target'" */
			q = strstr(line, want);
			if (!q || q > line + ll)
				continue;
			if (q[strlen(want)] != '\n' && q[strlen(want)] != '\0' &&
			    q[strlen(want)] != ' ')
				continue;
			if (sscanf(line, "%15s %u %u %u %31s", lperm, &lnl, &luid, &lgid, lsize) != 5)
				continue;
			found++;
			T_EQ_STR(S(lperm), S(perm));
			T_OK(luid == e->uid && lgid == e->gid, "lsdl %s: owner %u:%u", want, luid,
			     lgid);
			if (S_ISREG(m)) {
				T_OK(strtoull(lsize, NULL, 10) == e->size, "lsdl %s: size %s", want,
				     lsize);
			} else if (S_ISCHR(m) || S_ISBLK(m)) {
				char dev[32];

				snprintf(dev, sizeof(dev), "%u,", major(e->rdev));
				T_OK(strncmp(lsize, dev, strlen(dev)) == 0, "lsdl %s: dev %s", want,
				     lsize);
			} else if (S_ISLNK(m)) {
				char tgt[300];

				snprintf(tgt, sizeof(tgt), "-> '%s'", e->target);
				T_OK(strstr(line, tgt) && strstr(line, tgt) < line + ll,
				     "lsdl %s: target", want);
			}
			break;
		}
	}
	T_EQ_INT(found, nents - 1);
	free(out);
}

static void check_isoinfo(const char *img)
{
	char cmd[1024], *out;

	snprintf(cmd, sizeof(cmd), "isoinfo -R -l -i '%s' 2>&1", img);
	out = run(cmd);
	T_OK(strstr(out, long1) != NULL, "isoinfo: the 200-character name is missing");
	T_OK(strstr(out, mang1) && strstr(out, mang2), "isoinfo: mangled pair missing");
	T_OK(strstr(out, "Directory listing of /a/b/c/d/e/f/g/h/i/j/") != NULL,
	     "isoinfo: deep directory missing");
	T_OK(strstr(out, "entry-299.txt") != NULL, "isoinfo: entry-299.txt missing");
	T_OK(strstr(out, "crw-------") != NULL && strstr(out, "brw-rw----") != NULL,
	     "isoinfo: devices missing");
	/* isoinfo prints no setuid/setgid/sticky bits (xorriso checks those);
	 * both hard-link names: link count 2, one extent. */
	{
		char *a = strstr(out, " hard1 \n"), *b = strstr(out, " hard2 \n");

		T_OK(a && b, "isoinfo: hard links missing");
		if (a && b) {
			while (a > out && a[-1] != '\n')
				a--;
			while (b > out && b[-1] != '\n')
				b--;
			T_OK(strncmp(a, "-rw-r-----   2 ", 15) == 0, "isoinfo: hard1: %.60s", a);
			T_OK(strchr(a, ']') && strncmp(a, b, (size_t)(strchr(a, ']') - a)) == 0,
			     "isoinfo: hard1 and hard2 differ: %.70s / %.70s", a, b);
		}
	}
	T_OK(strstr(out, "link -> ../bin/su") != NULL, "isoinfo: symlink missing");
	free(out);
}

static int write_image(struct mkl_tree *t, struct mem *m, struct cctx *c, uint64_t *size,
		       struct mkl_err *err)
{
	struct mkl_isotree_opts o = { .volume_id = "MKLIVE_RO", .time = TIME };

	return mkl_isotree_write(t, &o, content, c, mem_sink, m, size, err);
}

static void test_cancel(void)
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	int status = 0;

	if (pid == 0) {
		struct mkl_tree *t = make_tree();
		struct cctx c = { .cancel_on = 5 };
		struct mem m = {0};
		struct mkl_err err = {0};
		int rc = t ? write_image(t, &m, &c, NULL, &err) : 0;

		mkl_tree_destroy(t);
		free(m.buf);
		exit(rc == -1 && err.code == ECANCELED ? 0 : 1);	/* exit: a leak checker runs */
	}
	waitpid(pid, &status, 0);
	T_OK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "cancel: status %d", status);
}

int main(void)
{
	struct mkl_err err = {0};
	struct mkl_tree *t;
	struct mem m1 = {0}, m2 = {0}, m3 = {0};
	struct cctx c = {0};
	uint64_t size = 0;
	char img[256], out[256], mnt[256], cmd[1024], *o;
	int rc;

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	make_ents();
	t = make_tree();
	T_OK(t != NULL, "tree");
	if (!t)
		return t_done();

	rc = write_image(t, &m1, &c, &size, &err);
	T_EQ_INT(rc, 0);
	if (rc)
		printf("# %s\n", err.msg);
	T_EQ_INT(size, m1.len);
	T_OK(m1.len % 2048 == 0 && m1.len > (3u << 20), "size %zu", m1.len);
	T_OK(m1.max_chunk <= 65536, "sink chunk %zu", m1.max_chunk);
	snprintf(img, sizeof(img), "%s/tree.iso", dir);
	T_EQ_INT(write_file(img, &m1), 0);

	/* Reproducible: the same bytes again. */
	c.calls = 0;
	T_EQ_INT(write_image(t, &m2, &c, NULL, &err), 0);
	T_OK(m1.len == m2.len && memcmp(m1.buf, m2.buf, m1.len) == 0,
	     "two writes differ (%zu, %zu bytes)", m1.len, m2.len);

	/* Hard links: the content is stored once. */
	{
		unsigned char pat[64];
		size_t k, hits = 0;

		for (k = 0; k < sizeof(pat); k++)
			pat[k] = byte_at(name_seed("hard1"), k);
		for (k = 0; k + sizeof(pat) <= m1.len; k += 2048)
			hits += memcmp(m1.buf + k, pat, sizeof(pat)) == 0;
		T_EQ_INT(hits, 1);
	}

	if (have("xorriso")) {
		check_lsdl(img);
		snprintf(out, sizeof(out), "%s/x", dir);
		snprintf(cmd, sizeof(cmd), "xorriso -osirrox on:device_files -xattr any -indev '%s' -extract / '%s' "
			 ">/dev/null 2>&1", img, out);
		if (geteuid() != 0) {
			T_SKIP("not root: xorriso cannot restore owners and devices");
		} else {
			T_EQ_INT(system(cmd), 0);
			check_fs(out, "xorriso", 0);
			check_xattrs(out, "xorriso");
		}
	} else {
		T_SKIP("xorriso is not installed");
	}
	if (have("isoinfo"))
		check_isoinfo(img);
	else
		T_SKIP("isoinfo (genisoimage) is not installed");

	/* Linux's isofs, the reader at boot. */
	snprintf(mnt, sizeof(mnt), "%s/mnt", dir);
	mkdir(mnt, 0755);
	snprintf(cmd, sizeof(cmd), "mount -o loop,ro -t iso9660 '%s' '%s' 2>&1", img, mnt);
	o = geteuid() == 0 ? run(cmd) : strdup("not root");
	{
		struct stat a, b;
		char p[512];

		snprintf(p, sizeof(p), "%s/bin", mnt);
		if (stat(p, &a) == 0) {
			check_fs(mnt, "isofs", 1);
			snprintf(p, sizeof(p), "%s/data/hard1", mnt);
			stat(p, &a);
			snprintf(p, sizeof(p), "%s/data/hard2", mnt);
			stat(p, &b);
			T_EQ_INT(a.st_nlink, 2);
			snprintf(cmd, sizeof(cmd), "umount '%s'", mnt);
			T_EQ_INT(system(cmd), 0);
		} else {
			char why[600];

			o[strcspn(o, "\n")] = '\0';
			snprintf(why, sizeof(why), "loop mount of the image failed here (%s): "
				 "Linux isofs not checked", o);
			T_SKIP(why);
		}
	}
	free(o);

	/* Content error: named, with the path. */
	c = (struct cctx){ .fail_on = 3 };
	rc = write_image(t, &m3, &c, NULL, &err);
	T_EQ_INT(rc, -1);
	T_OK(strstr(err.msg, "test content failure") && strstr(err.msg, "reading '"),
	     "content error: %s", err.msg);

	/* Sink error passed on. */
	m3.len = 0;
	m3.fail_after = 100000;
	c = (struct cctx){0};
	rc = write_image(t, &m3, &c, NULL, &err);
	T_EQ_INT(rc, -1);
	T_EQ_INT(err.code, ENOSPC);
	T_OK(strstr(err.msg, "test sink is full") != NULL, "sink error: %s", err.msg);

	/* Bad label. */
	{
		struct mkl_isotree_opts bad = { .volume_id = "lower case", .time = TIME };

		T_EQ_INT(mkl_isotree_write(t, &bad, content, &c, mem_sink, &m3, NULL, &err), -1);
		T_EQ_INT(err.code, EINVAL);
	}

	test_cancel();

	mkl_tree_destroy(t);
	free(m1.buf);
	free(m2.buf);
	free(m3.buf);
	if (!getenv("MKL_KEEP")) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			printf("# cannot remove %s\n", dir);
	} else {
		printf("# kept %s\n", dir);
	}
	return t_done();
}
