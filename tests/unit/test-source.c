/* Sources: the directory walk and the tar reader against a tree made with
 * the shell tools, whose metadata is taken from stat(1), readlink(1) and
 * getfattr(1) — readers we did not write. Every tar form (GNU tar plain,
 * gzip, zstd, xz; a bsdtar pax archive) must yield what the walk yields. */
#include "t.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "source/source.h"

struct rec {
	char *path;
	uint32_t mode, uid, gid;
	uint64_t rdev;
	int64_t mtime;
	uint64_t size;
	char *target;
	char *hardlink;
	char *xattrs;		/* "name=0xHEX,..." sorted by name */
	unsigned char *data;	/* content read, when read */
	size_t len;
};

struct list {
	struct rec *r;
	size_t n;
};

static char tmp[256];
static int have_mknod, have_cap;

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static char *xattr_text(const struct mkl_xattr *x)
{
	size_t cap = 16, len = 0, i;
	char *s = calloc(1, cap);

	for (; x; x = x->next) {
		while (len + strlen(x->name) + 2 * x->size + 8 > cap)
			s = realloc(s, cap *= 2);
		len += sprintf(s + len, "%s%s=0x", len ? "," : "", x->name);
		for (i = 0; i < x->size; i++)
			len += sprintf(s + len, "%02x", x->value[i]);
	}
	return s;
}

static void list_free(struct list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->r[i].path);
		free(l->r[i].target);
		free(l->r[i].hardlink);
		free(l->r[i].xattrs);
		free(l->r[i].data);
	}
	free(l->r);
	l->r = NULL;
	l->n = 0;
}

/* Walk input into l; read content when read_content. -1: err set. */
static int collect(const char *input, int read_content, struct list *l, uint64_t *done,
		   uint64_t *total, struct mkl_err *err)
{
	struct mkl_source *src;
	struct mkl_source_entry e;
	struct rec *r;
	long n;
	int rc;

	memset(l, 0, sizeof(*l));
	if (mkl_source_open(input, &src, err) < 0)
		return -1;
	while ((rc = mkl_source_next(src, &e, err)) == 1) {
		l->r = realloc(l->r, (l->n + 1) * sizeof(*l->r));
		r = &l->r[l->n++];
		memset(r, 0, sizeof(*r));
		r->path = strdup(e.path);
		r->mode = e.st.mode;
		r->uid = e.st.uid;
		r->gid = e.st.gid;
		r->rdev = e.st.rdev;
		r->mtime = e.st.mtime;
		r->size = e.st.size;
		r->target = e.st.target ? strdup(e.st.target) : NULL;
		r->hardlink = e.hardlink ? strdup(e.hardlink) : NULL;
		r->xattrs = xattr_text(e.st.xattrs);
		if (read_content && S_ISREG(e.st.mode) && !e.hardlink) {
			r->data = malloc(e.st.size + 1);
			/* small reads, to cross the buffer sizes */
			do {
				size_t room = e.st.size + 1 - r->len;

				n = mkl_source_read(src, r->data + r->len, room < 4000 ? room : 4000, err);
				if (n > 0)
					r->len += (size_t)n;
			} while (n > 0 && r->len <= e.st.size);
			if (n < 0) {
				rc = -1;
				break;
			}
		}
	}
	if (done)
		mkl_source_progress(src, done, total);
	mkl_source_close(src);
	return rc < 0 ? -1 : 0;
}

static struct rec *find(struct list *l, const char *path)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->r[i].path, path) == 0)
			return &l->r[i];
	return NULL;
}

/* The walk, in the order it must come: each directory's names by strcmp,
 * a directory before its contents ("a" and "a/x" before "a-b"). */
static const char *const order[] = {
	"", "a", "a/x", "a-b", "a.b", "dev", "dev/null", "etc", "etc/empty", "etc/hello",
	"fifo", "suid", "usr", "usr/bin", "usr/bin/big", "usr/bin/big2", "usr/bin/link",
	"usr/share", "usr/share/empty-dir",
};
#define NORDER (sizeof(order) / sizeof(order[0]))

static int make_tree(void)
{
	int rc;

	rc = sh("set -e; cd %s; mkdir -p root; cd root; umask 022\n"
		"mkdir -p a a-b usr/bin usr/share/empty-dir etc dev\n"
		"echo x > a/x; echo dot > a.b\n"
		"printf 'hello\\n' > etc/hello; : > etc/empty\n"
		"head -c 1048576 /dev/urandom > usr/bin/big; ln usr/bin/big usr/bin/big2\n"
		"ln -s ../../etc/hello usr/bin/link; mkfifo fifo\n"
		"printf '#!/bin/sh\\n' > suid; chown 1000:1000 suid etc/hello usr/share; chmod 4755 suid\n"
		"chmod 2775 usr/share; chmod 0600 etc/empty\n"
		"setfattr -n user.test -v value etc/hello\n",
		tmp);
	if (rc)
		return -1;
	have_mknod = sh("mknod %s/root/dev/null c 1 3 2>/dev/null", tmp) == 0;
	if (!have_mknod) /* keep the name so the walk order stays the same */
		sh("touch %s/root/dev/null", tmp);
	have_cap = sh("setcap cap_net_raw+ep %s/root/usr/bin/big 2>/dev/null", tmp) == 0;
	/* times last: the setfattr/setcap calls above change ctime only */
	return sh("cd %s/root && find . -exec touch -h -d '2001-02-03 04:05:06 UTC' {} + && "
		  "touch -h -d '@1234567890' usr/bin/link etc/hello", tmp) ? -1 : 0;
}

/* Compare what the walk says with stat(1)/readlink(1)/getfattr(1). */
static void check_against_stat(struct list *l)
{
	char line[8192], path[4096], tgt[4096], xa[4096];
	unsigned mode, uid, gid, maj, mnr;
	long long mtime, size;
	struct rec *r;
	FILE *f;
	int n = 0;

	if (sh("cd %s/root && find . | sort | while IFS= read -r p; do "
	       "printf '%%s\\t%%s\\t' \"${p#./}\" \"$(stat -c '%%f %%u %%g %%t %%T %%Y %%s' \"$p\")\"; "
	       "if [ -L \"$p\" ]; then printf '%%s' \"$(readlink \"$p\")\"; fi; printf '\\t'; "
	       "getfattr -h -d -m - -e hex --absolute-names \"$p\" 2>/dev/null | "
	       "grep -E '^(security|trusted|user)\\.' | sort | paste -sd, | tr -d '\\n'; "
	       "printf '\\t\\n'; done > %s/expect", tmp, tmp)) {
		T_OK(0, "cannot list the tree with stat/getfattr");
		return;
	}
	snprintf(line, sizeof(line), "%s/expect", tmp);
	f = fopen(line, "r");
	T_OK(f != NULL, "no expect file");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *fields[4];
		int i;

		for (i = 0; i < 4; i++)
			fields[i] = strsep(&p, "\t");
		if (!fields[3])
			continue;
		n++;
		snprintf(path, sizeof(path), "%s", strcmp(fields[0], ".") ? fields[0] : "");
		sscanf(fields[1], "%x %u %u %x %x %lld %lld", &mode, &uid, &gid, &maj, &mnr, &mtime,
		       &size);
		snprintf(tgt, sizeof(tgt), "%s", fields[2]);
		snprintf(xa, sizeof(xa), "%s", fields[3]);
		r = find(l, path);
		T_OK(r != NULL, "'%s' not walked", path);
		if (!r)
			continue;
		T_OK(r->mode == mode, "%s: mode %o != %o", path, r->mode, mode);
		T_OK(r->uid == uid && r->gid == gid, "%s: owner %u:%u != %u:%u", path, r->uid,
		     r->gid, uid, gid);
		T_OK(r->mtime == mtime, "%s: mtime %lld != %lld", path, (long long)r->mtime, mtime);
		if (S_ISCHR(mode) || S_ISBLK(mode))
			T_OK(r->rdev == makedev(maj, mnr), "%s: rdev", path);
		else
			T_EQ_INT(r->rdev, 0);
		if (S_ISREG(mode) && !r->hardlink)
			T_OK(r->size == (uint64_t)size, "%s: size %llu != %lld", path,
			     (unsigned long long)r->size, size);
		else
			T_EQ_INT(r->size, 0);
		if (S_ISLNK(mode))
			T_OK(r->target && !strcmp(r->target, tgt), "%s: target %s", path, r->target);
		else
			T_OK(r->target == NULL, "%s: target on a non-link", path);
		if (!r->hardlink)
			T_OK(strcmp(r->xattrs, xa) == 0, "%s: xattrs '%s' != '%s'", path, r->xattrs, xa);
	}
	fclose(f);
	T_EQ_INT(n, l->n);
}

/* The content the source gave equals the file on disk. */
static void check_content(struct list *l)
{
	char path[4096];
	unsigned char *buf;
	size_t i, n;
	FILE *f;

	for (i = 0; i < l->n; i++) {
		struct rec *r = &l->r[i];

		if (!S_ISREG(r->mode) || r->hardlink)
			continue;
		snprintf(path, sizeof(path), "%s/root/%s", tmp, r->path);
		f = fopen(path, "rb");
		T_OK(f != NULL, "cannot open %s", path);
		if (!f)
			continue;
		buf = malloc(r->size + 2);
		n = fread(buf, 1, r->size + 1, f);
		fclose(f);
		T_OK(r->data && n == r->len && memcmp(buf, r->data, n) == 0, "%s: content differs",
		     r->path);
		free(buf);
	}
}

static void check_same(struct list *a, struct list *b, const char *what)
{
	size_t i;

	T_OK(a->n == b->n, "%s: %zu entries, walk has %zu", what, b->n, a->n);
	for (i = 0; i < a->n; i++) {
		struct rec *x = &a->r[i], *y = find(b, x->path);

		T_OK(y != NULL, "%s: '%s' missing", what, x->path);
		if (!y)
			continue;
		T_OK(x->mode == y->mode && x->uid == y->uid && x->gid == y->gid && x->rdev == y->rdev &&
			     x->mtime == y->mtime && x->size == y->size,
		     "%s: '%s': %o %u:%u %llu %lld %llu vs %o %u:%u %llu %lld %llu", what, x->path,
		     x->mode, x->uid, x->gid, (unsigned long long)x->rdev, (long long)x->mtime,
		     (unsigned long long)x->size, y->mode, y->uid, y->gid,
		     (unsigned long long)y->rdev, (long long)y->mtime, (unsigned long long)y->size);
		T_OK((!x->target && !y->target) || (x->target && y->target && !strcmp(x->target, y->target)),
		     "%s: '%s' target", what, x->path);
		T_OK((!x->hardlink && !y->hardlink) ||
			     (x->hardlink && y->hardlink && !strcmp(x->hardlink, y->hardlink)),
		     "%s: '%s' hardlink %s vs %s", what, x->path, x->hardlink ? x->hardlink : "-",
		     y->hardlink ? y->hardlink : "-");
		if (!x->hardlink)
			T_OK(strcmp(x->xattrs, y->xattrs) == 0, "%s: '%s' xattrs %s vs %s", what,
			     x->path, x->xattrs, y->xattrs);
		T_OK(x->len == y->len && (!x->len || memcmp(x->data, y->data, x->len) == 0),
		     "%s: '%s' content", what, x->path);
	}
}

static void test_dir(struct list *walk)
{
	struct mkl_err err = { 0 };
	struct list skip;
	uint64_t done, total;
	size_t i;
	int rc;
	char root[300];

	snprintf(root, sizeof(root), "%s/root/", tmp);	/* trailing '/' is fine */
	rc = collect(root, 1, walk, &done, &total, &err);
	T_OK(rc == 0, "walk: %s", err.msg);
	T_EQ_INT(walk->n, NORDER);
	for (i = 0; i < walk->n && i < NORDER; i++)
		T_EQ_STR(walk->r[i].path, order[i]);
	T_EQ_INT(total, 1048576 + 6 + 4 + 2 + 10);	/* big once, hello, dot, x, suid */
	T_EQ_INT(done, total);
	check_against_stat(walk);
	check_content(walk);
	{
		struct rec *b2 = find(walk, "usr/bin/big2");

		T_OK(b2 && b2->hardlink && !strcmp(b2->hardlink, "usr/bin/big"), "big2 not a hard link");
	}
	T_OK(find(walk, "suid") && find(walk, "suid")->mode == (S_IFREG | 04755), "setuid bit");
	if (have_mknod)
		T_OK(find(walk, "dev/null")->rdev == makedev(1, 3), "dev/null rdev");
	else
		T_SKIP("mknod failed here: char device not tested");
	if (have_cap)
		T_OK(strstr(find(walk, "usr/bin/big")->xattrs, "security.capability=0x01000002") != NULL,
		     "capability: %s", find(walk, "usr/bin/big")->xattrs);
	else
		T_SKIP("setcap failed here: security.capability not tested");
	T_EQ_STR(find(walk, "etc/hello")->xattrs, "user.test=0x76616c7565");

	/* Not reading the content: same entries, progress still complete. */
	rc = collect(root, 0, &skip, &done, &total, &err);
	T_OK(rc == 0, "walk without reading: %s", err.msg);
	T_EQ_INT(skip.n, walk->n);
	T_EQ_INT(done, total);
	list_free(&skip);
}

static void test_tar(struct list *walk, const char *name, const char *cmd)
{
	struct mkl_err err = { 0 };
	struct list l;
	uint64_t done, total;
	char path[300], what[400];
	struct stat st;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	if (sh("cd %s/root && OUT=%s && { %s; } 2>%s/tar.err", tmp, path, cmd, tmp)) {
		snprintf(what, sizeof(what), "'%s' failed: %s not tested", cmd, name);
		T_SKIP(what);
		return;
	}
	rc = collect(path, 1, &l, &done, &total, &err);
	T_OK(rc == 0, "%s: %s", name, err.msg);
	stat(path, &st);
	T_EQ_INT(total, st.st_size);
	T_OK(done > 0 && done <= total, "%s: progress %llu of %llu", name,
	     (unsigned long long)done, (unsigned long long)total);
	check_same(walk, &l, name);
	list_free(&l);
	/* skipping the content */
	rc = collect(path, 0, &l, NULL, NULL, &err);
	T_OK(rc == 0 && l.n == walk->n, "%s without reading: %s", name, err.msg);
	list_free(&l);
}

static void expect_error(const char *input, int read_content, const char *want)
{
	struct mkl_err err = { 0 };
	struct list l;
	int rc;

	rc = collect(input, read_content, &l, NULL, NULL, &err);
	T_OK(rc < 0, "'%s' did not fail", input);
	T_OK(strstr(err.msg, want) != NULL, "'%s' != '%s'", err.msg, want);
	list_free(&l);
}

static void expect_entries(const char *input, size_t n)
{
	struct mkl_err err = { 0 };
	struct list l;
	int rc = collect(input, 1, &l, NULL, NULL, &err);

	T_OK(rc == 0 && l.n == n, "%s: rc %d, %zu entries: %s", input, rc, l.n, err.msg);
	list_free(&l);
}

static void test_bad_tars(void)
{
	char path[300], msg[600];

	snprintf(path, sizeof(path), "%s/trunc.tar", tmp);
	sh("head -c 700000 %s/plain.tar > %s", tmp, path);
	/* reading the content, and skipping it */
	snprintf(msg, sizeof(msg), "cannot read tar '%s' at './usr/bin/big': Truncated", path);
	expect_error(path, 1, msg);
	expect_error(path, 0, msg);

	snprintf(path, sizeof(path), "%s/trunc.tar.gz", tmp);
	sh("head -c 500000 %s/gz.tar.gz > %s", tmp, path);
	expect_error(path, 1, "cannot read tar '");

	snprintf(path, sizeof(path), "%s/garbage", tmp);
	sh("for i in $(seq 200); do echo 'this is not a tar archive at all'; done > %s", path);
	snprintf(msg, sizeof(msg), "cannot read tar '%s': not a tar archive", path);
	expect_error(path, 1, msg);

	/* bzip2 and lz4 too (libarchive decodes them itself); lzop is not
	 * taken, as libarchive would run the lzop program for it */
	sh("cd %s/root && tar --sort=name -cf - . | bzip2 > %s/t.tar.bz2", tmp, tmp);
	snprintf(path, sizeof(path), "%s/t.tar.bz2", tmp);
	expect_entries(path, NORDER);
	if (sh("command -v lz4 >/dev/null") == 0) {
		sh("lz4 -q < %s/plain.tar > %s/t.tar.lz4", tmp, tmp);
		snprintf(path, sizeof(path), "%s/t.tar.lz4", tmp);
		expect_entries(path, NORDER);
	} else {
		T_SKIP("no lz4 program: .tar.lz4 not tested");
	}

	snprintf(path, sizeof(path), "%s/garbage.gz", tmp);
	sh("gzip -c < %s/garbage > %s", tmp, path);
	snprintf(msg, sizeof(msg), "cannot read tar '%s': not a tar archive", path);
	expect_error(path, 1, msg);

	snprintf(path, sizeof(path), "%s/nothere", tmp);
	snprintf(msg, sizeof(msg), "cannot open '%s': No such file or directory", path);
	expect_error(path, 1, msg);

	snprintf(path, sizeof(path), "%s/empty", tmp);
	sh(": > %s", path);
	/* as GNU tar says: "This does not look like a tar archive" */
	snprintf(msg, sizeof(msg), "cannot read tar '%s': not a tar archive", path);
	expect_error(path, 1, msg);

	/* the end-of-archive blocks alone: an empty archive */
	snprintf(path, sizeof(path), "%s/zeros.tar", tmp);
	sh("head -c 10240 /dev/zero > %s", path);
	{
		struct mkl_err err = { 0 };
		struct list l;
		int rc = collect(path, 1, &l, NULL, NULL, &err);

		T_OK(rc == 0 && l.n == 0, "empty archive: rc %d, %zu entries: %s", rc, l.n, err.msg);
		list_free(&l);
	}
}

/* The standard input as "-". */
static void test_stdin(struct list *walk)
{
	struct mkl_err err = { 0 };
	struct list l;
	char path[300];
	int saved, fd, rc;

	snprintf(path, sizeof(path), "%s/zst.tar.zst", tmp);
	fd = open(path, O_RDONLY);
	if (fd < 0) {
		T_SKIP("no zstd tar: stdin not tested");
		return;
	}
	saved = dup(0);
	dup2(fd, 0);
	close(fd);
	rc = collect("-", 1, &l, NULL, NULL, &err);
	dup2(saved, 0);
	close(saved);
	T_OK(rc == 0, "stdin: %s", err.msg);
	check_same(walk, &l, "stdin");
	list_free(&l);
}

/* A file that changes between the stat and the read. */
static void test_changed(void)
{
	struct mkl_err err = { 0 };
	struct mkl_source *src;
	struct mkl_source_entry e;
	char path[300], buf[100], want[400];
	int grows, rc;
	long n;

	for (grows = 0; grows < 2; grows++) {
		sh("rm -rf %s/ch; mkdir %s/ch; echo 0123456789 > %s/ch/f", tmp, tmp, tmp);
		snprintf(path, sizeof(path), "%s/ch", tmp);
		T_OK(mkl_source_open(path, &src, &err) == 0, "%s", err.msg);
		mkl_source_next(src, &e, &err);	/* the root */
		rc = mkl_source_next(src, &e, &err);
		T_OK(rc == 1 && !strcmp(e.path, "f") && e.st.size == 11, "ch/f");
		if (grows)
			sh("echo more >> %s/ch/f", tmp);
		else
			sh("truncate -s 4 %s/ch/f", tmp);
		while ((n = mkl_source_read(src, buf, sizeof(buf), &err)) > 0)
			;
		snprintf(want, sizeof(want), "'%s/ch/f' changed while being read", tmp);
		T_OK(n < 0, "a changed file read without error");
		T_OK(!strcmp(err.msg, want), "'%s' != '%s'", err.msg, want);
		mkl_source_close(src);
	}
}

/* As an unprivileged user: an unreadable file or directory is an error
 * naming its path, not a silent gap. Root reads anything, so a child
 * process drops to nobody (65534) when we are root. */
static void test_unreadable(void)
{
	char path[300], want[400], got[1024] = "";
	struct mkl_err err = { 0 };
	struct list l;
	int pfd[2], status, i;
	ssize_t n;
	pid_t pid;

	for (i = 0; i < 2; i++) {
		sh("rm -rf %s/u; mkdir -p %s/u/d; echo secret > %s/u/d/s; chmod 755 %s %s/u", tmp, tmp,
		   tmp, tmp, tmp);
		sh(i ? "chmod 0700 %s/u/d" : "chmod 0600 %s/u/d/s", tmp);
		snprintf(path, sizeof(path), "%s/u", tmp);
		snprintf(want, sizeof(want), "cannot open '%s/u/d%s': Permission denied", tmp,
			 i ? "" : "/s");
		if (geteuid() != 0) {
			collect(path, 0, &l, NULL, NULL, &err);
			list_free(&l);
			T_OK(!strcmp(err.msg, want), "'%s' != '%s'", err.msg, want);
			continue;
		}
		if (pipe(pfd) < 0)
			return;
		pid = fork();
		if (pid == 0) {
			close(pfd[0]);
			if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0 ||
			    access(path, R_OK | X_OK) < 0)
				_exit(2);
			if (collect(path, 0, &l, NULL, NULL, &err) == 0)
				strcpy(err.msg, "(no error)");
			if (write(pfd[1], err.msg, strlen(err.msg)) < 0)
				_exit(3);
			_exit(0);
		}
		close(pfd[1]);
		n = read(pfd[0], got, sizeof(got) - 1);
		got[n > 0 ? n : 0] = '\0';
		close(pfd[0]);
		waitpid(pid, &status, 0);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 2) {
			T_SKIP("uid 65534 unavailable or cannot reach the temp dir: unreadable input not tested");
			continue;
		}
		T_OK(!strcmp(got, want), "'%s' != '%s'", got, want);
	}
}

/* A bind mount of a directory inside itself is a loop, not an endless walk. */
static void test_loop(void)
{
	char path[300], want[400];

	sh("rm -rf %s/lp; mkdir -p %s/lp/a/b", tmp, tmp);
	if (sh("mount --bind %s/lp %s/lp/a/b 2>/dev/null", tmp, tmp)) {
		T_SKIP("mount --bind not permitted: directory loop not tested");
		return;
	}
	snprintf(path, sizeof(path), "%s/lp", tmp);
	snprintf(want, sizeof(want), "path loop at '%s/lp/a/b'", tmp);
	expect_error(path, 0, want);
	sh("umount %s/lp/a/b", tmp);
}

int main(void)
{
	struct list walk;

	snprintf(tmp, sizeof(tmp), "%s/mklive-source.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (sh("command -v setfattr >/dev/null && command -v getfattr >/dev/null")) {
		T_SKIP("setfattr/getfattr missing (apt-get install attr): source tests not run");
		return t_done();
	}
	if (!mkdtemp(tmp) || make_tree() < 0) {
		T_OK(0, "cannot make the test tree in %s", tmp);
		sh("rm -rf %s", tmp);
		return t_done();
	}
	test_dir(&walk);
	/* sorted, so that big comes before big2 and is the hard link's leader */
	test_tar(&walk, "plain.tar", "tar --xattrs --xattrs-include='*' --sort=name -cf $OUT .");
	test_tar(&walk, "gz.tar.gz", "tar --xattrs --xattrs-include='*' --sort=name -czf $OUT .");
	test_tar(&walk, "zst.tar.zst", "tar --xattrs --xattrs-include='*' --sort=name --zstd -cf $OUT .");
	test_tar(&walk, "xz.tar.xz", "tar --xattrs --xattrs-include='*' --sort=name -cJf $OUT .");
	test_tar(&walk, "pax.tar", "find . | LC_ALL=C sort | bsdtar --format=pax --xattrs -n -T - -cf $OUT");
	test_stdin(&walk);
	test_bad_tars();
	test_changed();
	test_unreadable();
	test_loop();
	list_free(&walk);
	sh("rm -rf %s", tmp);
	return t_done();
}
