/* The pipeline from a root tree to a bootable ISO (see build.h). */
#include "build/build.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "build/modules.h"
#include "codec/codec.h"
#include "fmt/cpio.h"
#include "fmt/iso.h"
#include "fmt/squashfs.h"
#include "source/source.h"
#include "tree/tree.h"

#define IMAGE_PATH "live/filesystem.squashfs"

struct buf {
	unsigned char *data;
	size_t len, cap;
};

static int buf_sink(void *ctx, const void *data, size_t len, struct mkl_err *err)
{
	struct buf *b = ctx;

	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		unsigned char *nd;

		while (cap < b->len + len)
			cap *= 2;
		nd = realloc(b->data, cap);
		if (!nd)
			return mkl_error(err, ENOMEM, "out of memory (%zu bytes)", cap);
		b->data = nd;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

static void buf_free(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* An output file that gets its name only when it is complete. */
struct outfile {
	int fd;
	char *path;		/* final name */
	char *tmpname;		/* named temporary (when O_TMPFILE is not available) */
};

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

static int out_open(struct outfile *o, const char *path, struct mkl_err *err)
{
	char *dir = dir_of(path);
	struct stat st;

	memset(o, 0, sizeof(*o));
	o->fd = -1;
	if (!dir)
		return mkl_error(err, ENOMEM, "out of memory");
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		free(dir);
		return mkl_error(err, EISDIR, "cannot write '%s'", path);
	}
	o->path = strdup(path);
	o->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
	if (o->fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		/* The filesystem has no unnamed files: a hidden name beside the output. */
		if (asprintf(&o->tmpname, "%s.tmp-XXXXXX", path) < 0) {
			o->tmpname = NULL;
			free(dir);
			return mkl_error(err, ENOMEM, "out of memory");
		}
		o->fd = mkostemp(o->tmpname, O_CLOEXEC);
		if (o->fd >= 0) {
			mode_t mask = umask(022);

			umask(mask);
			fchmod(o->fd, 0644 & ~mask);
		}
	}
	if (o->fd < 0) {
		int e = errno;

		free(o->tmpname);
		o->tmpname = NULL;
		mkl_error(err, e, "cannot create '%s'%s%s%s", path, e == ENOENT ? " (directory '" : "",
			  e == ENOENT ? dir : "", e == ENOENT ? "' missing?)" : "");
		free(dir);
		return -1;
	}
	free(dir);
	return 0;
}

/* A scratch file for the squashfs, in the output's directory (same space
 * the ISO will need) or, failing that, in $TMPDIR. */
static int scratch_open(const char *near, int *fd, struct mkl_err *err)
{
	char *dir = dir_of(near);
	const char *tmp = getenv("TMPDIR");

	if (!dir)
		return mkl_error(err, ENOMEM, "out of memory");
	*fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	free(dir);
	if (*fd < 0) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/mklive-XXXXXX", tmp && *tmp ? tmp : "/tmp");
		*fd = mkostemp(path, O_CLOEXEC);
		if (*fd < 0)
			return mkl_error(err, errno, "cannot create a scratch file in '%s'", path);
		unlink(path);
	}
	return 0;
}

static int out_commit(struct outfile *o, struct mkl_err *err)
{
	char proc[64], *tmp = NULL;

	/* No fsync: like mksquashfs and xorriso, the image is left to the page
	 * cache; `dd conv=fsync` to a stick syncs what matters. Write errors
	 * (ENOSPC, EIO) were caught by the writes themselves. */
	if (o->tmpname) {
		if (rename(o->tmpname, o->path))
			return mkl_error(err, errno, "cannot rename '%s' to '%s'", o->tmpname, o->path);
		free(o->tmpname);
		o->tmpname = NULL;
		return 0;
	}
	/* Name the unnamed file, then move the name over any old output. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", o->fd);
	if (asprintf(&tmp, "%s.tmp-%ld", o->path, (long)getpid()) < 0)
		return mkl_error(err, ENOMEM, "out of memory");
	unlink(tmp);
	if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW)) {
		mkl_error(err, errno, "cannot create '%s'", o->path);
		free(tmp);
		return -1;
	}
	if (rename(tmp, o->path)) {
		mkl_error(err, errno, "cannot create '%s'", o->path);
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	return 0;
}

static void out_abort(struct outfile *o)
{
	if (o->fd >= 0)
		close(o->fd);
	if (o->tmpname)
		unlink(o->tmpname);
	free(o->tmpname);
	free(o->path);
	o->fd = -1;
	o->tmpname = o->path = NULL;
}

struct build {
	const struct mkl_build_opts *o;
	struct mkl_source *src;
	struct mkl_tree *tree;
	struct mkl_sqfs *sq;
	int sq_fd;
	uint64_t hash;
	struct mkl_build_result *res;
};

static void note(struct build *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct build *b, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!b->o->note)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	b->o->note(b->o->ctx, line);
}

static void hash_bytes(uint64_t *h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		*h ^= p[i];
		*h *= 1099511628211ull;
	}
}

static void hash_entry(uint64_t *h, const struct mkl_source_entry *e)
{
	uint64_t v[5] = { e->st.mode, e->st.uid, e->st.gid, e->st.size, (uint64_t)e->st.mtime };

	hash_bytes(h, e->path, strlen(e->path) + 1);
	hash_bytes(h, v, sizeof(v));
}

/* Read the source once: the tree gets the metadata, the squashfs the bytes. */
static int pass_source(struct build *b, struct mkl_err *err)
{
	struct mkl_source_entry e;
	uint64_t done, total;
	int r;

	while ((r = mkl_source_next(b->src, &e, err)) == 1) {
		struct mkl_node *n;

		if (mkl_cancelled())
			return mkl_error(err, ECANCELED, "cancelled");
		hash_entry(&b->hash, &e);
		if (e.hardlink) {
			if (mkl_tree_add_hardlink(b->tree, e.path, e.hardlink, &n, err))
				return -1;
		} else {
			if (mkl_tree_add(b->tree, e.path, &e.st, &n, err))
				return -1;
			if (mkl_is_reg(n) && mkl_sqfs_add_data(b->sq, n, mkl_source_read, b->src, err))
				return -1;
			if (mkl_is_reg(n))
				b->res->input_bytes += n->size;
		}
		b->res->entries++;
		if (b->o->progress) {
			mkl_source_progress(b->src, &done, &total);
			b->o->progress(b->o->ctx, MKL_PHASE_SQUASHFS, done, total);
		}
	}
	return r;
}

static int read_node(struct build *b, struct mkl_node *n, const char *what, struct buf *out,
		     struct mkl_err *err)
{
	if (!n || !mkl_is_reg(n))
		return mkl_error(err, ENOENT, "'%s' is not a regular file in the tree", what);
	if (mkl_sqfs_read_file(b->sq, n, buf_sink, out, err))
		return mkl_err_prefix(err, "reading '%s' back from the image", what);
	return 0;
}

static int read_host(const char *path, struct buf *out, bool optional, struct mkl_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char chunk[65536];
	ssize_t r;

	if (fd < 0) {
		if (optional && errno == ENOENT)
			return 1;
		return mkl_error(err, errno, "cannot open '%s'", path);
	}
	while ((r = read(fd, chunk, sizeof(chunk))) > 0) {
		if (buf_sink(out, chunk, (size_t)r, err)) {
			close(fd);
			return -1;
		}
	}
	if (r < 0) {
		mkl_error(err, errno, "cannot read '%s'", path);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* A file of the kernel's module directory, from the host (--modules) or the tree. */
static int read_moddir(struct build *b, const char *moddir, const char *rel, bool optional,
		       struct buf *out, struct mkl_err *err)
{
	char path[PATH_MAX];
	struct mkl_node *n;

	snprintf(path, sizeof(path), "%s/%s", moddir, rel);
	if (b->o->modules)
		return read_host(path, out, optional, err);
	n = mkl_tree_resolve(b->tree, path);
	if (!n && optional)
		return 1;
	return read_node(b, n, path, out, err);
}

static int find_kernel(struct build *b, struct buf *kernel, char *version, size_t vsize,
		       struct mkl_err *err)
{
	struct mkl_node *boot, *c, *best = NULL;

	if (b->o->kernel) {
		const char *base = strrchr(b->o->kernel, '/');

		base = base ? base + 1 : b->o->kernel;
		if (b->o->modules) {
			const char *mb = strrchr(b->o->modules, '/');

			snprintf(version, vsize, "%s", mb && mb[1] ? mb + 1 : b->o->modules);
		} else if (strncmp(base, "vmlinuz-", 8) == 0) {
			snprintf(version, vsize, "%s", base + 8);
		} else {
			return mkl_error(err, 0, "cannot tell the version of kernel '%s': name it "
				"vmlinuz-VERSION or pass --modules DIR/lib/modules/VERSION", b->o->kernel);
		}
		note(b, "kernel %s from '%s'", version, b->o->kernel);
		return read_host(b->o->kernel, kernel, false, err);
	}
	boot = mkl_tree_resolve(b->tree, "boot");
	for (c = boot && mkl_is_dir(boot) ? boot->children : NULL; c; c = c->next) {
		struct mkl_node *r;
		char rel[300];

		if (strncmp(c->name, "vmlinuz-", 8) != 0 || !c->name[8])
			continue;
		snprintf(rel, sizeof(rel), "boot/%s", c->name);
		r = mkl_tree_resolve(b->tree, rel);
		if (!r || !mkl_is_reg(r))
			continue;
		if (!best || strverscmp(c->name, best->name) > 0)
			best = c;
	}
	if (!best)
		return mkl_error(err, ENOENT, "no kernel in '%s': looked for /boot/vmlinuz-* "
			"(install a kernel package in the tree, e.g. linux-image-amd64, or pass --kernel)",
			b->o->source);
	snprintf(version, vsize, "%s", best->name + 8);
	note(b, "kernel %s from the tree's /boot/%s", version, best->name);
	{
		char rel[300];

		snprintf(rel, sizeof(rel), "boot/%s", best->name);
		return read_node(b, mkl_tree_resolve(b->tree, rel), rel, kernel, err);
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* All directories that must exist in the initramfs for the module paths. */
static int add_module_dirs(struct mkl_cpio *cp, const char *base, const struct mkl_modsel *sel,
			   int64_t t, struct mkl_err *err)
{
	char **dirs = NULL;
	size_t n = 0, i;
	int ret = -1;

	for (i = 0; i < sel->npaths; i++) {
		char *p = strdup(sel->paths[i]), *s;

		if (!p)
			goto out;
		while ((s = strrchr(p, '/'))) {
			char **nd;

			*s = '\0';
			nd = realloc(dirs, (n + 1) * sizeof(*dirs));
			if (!nd || !(nd[n] = strdup(p))) {
				dirs = nd ? nd : dirs;
				free(p);
				mkl_error(err, ENOMEM, "out of memory");
				goto out;
			}
			dirs = nd;
			n++;
		}
		free(p);
	}
	qsort(dirs, n, sizeof(*dirs), cmp_str);
	for (i = 0; i < n; i++) {
		char path[PATH_MAX];

		if (i && strcmp(dirs[i], dirs[i - 1]) == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", base, dirs[i]);
		if (mkl_cpio_add(cp, path, S_IFDIR | 0755, 0, 0, 0, t, NULL, 0, err))
			goto out;
	}
	ret = 0;
out:
	for (i = 0; i < n; i++)
		free(dirs[i]);
	free(dirs);
	return ret;
}

/* zstd at 9, not its usual 19: with Debian 6.1's storage modules that is
 * 1.33 MB in 0.14 s against 1.18 MB in 2.1 s, and the kernel unpacks
 * both equally fast. */
static int initrd_level(const struct mkl_build_opts *o)
{
	if (o->initrd_level)
		return o->initrd_level;
	return o->initrd_codec == MKL_CODEC_ZSTD ? 9 : 0;
}

static int make_initramfs(struct build *b, const char *kver, struct buf *out, struct mkl_err *err)
{
	const struct mkl_build_opts *o = b->o;
	struct buf dep = { 0 }, alias = { 0 }, builtin = { 0 }, init = { 0 }, ko = { 0 };
	struct mkl_modsel sel = { 0 };
	struct mkl_cstream *cs = NULL;
	struct mkl_cpio *cp = NULL;
	char moddir[PATH_MAX], base[PATH_MAX], conf[1024], path[PATH_MAX];
	int64_t t = o->time;
	int ret = -1, r;
	size_t i;
	static const char *const dirs[] = { "dev", "proc", "sys", "run", "lib", "lib/modules" };

	if (o->modules)
		snprintf(moddir, sizeof(moddir), "%s", o->modules);
	else
		snprintf(moddir, sizeof(moddir), "lib/modules/%s", kver);
	if (!o->modules && !mkl_tree_resolve(b->tree, moddir)) {
		mkl_error(err, ENOENT, "kernel %s has no modules: '/%s' is not in the tree "
			  "(kernel and modules must come from the same package)", kver, moddir);
		goto out;
	}
	r = read_moddir(b, moddir, "modules.dep", true, &dep, err);
	if (r < 0)
		goto out;
	if (r > 0) {
		mkl_error(err, ENOENT, "no modules.dep in '%s' (run 'depmod -b ROOT %s' on the tree)",
			  moddir, kver);
		goto out;
	}
	if ((r = read_moddir(b, moddir, "modules.alias", true, &alias, err)) < 0)
		goto out;
	if ((r = read_moddir(b, moddir, "modules.builtin", true, &builtin, err)) < 0)
		goto out;
	if (mkl_modules_select((char *)dep.data, dep.len, (char *)alias.data, alias.len,
			       (char *)builtin.data, builtin.len, mkl_boot_modules, &sel, err))
		goto out;
	for (i = 0; i < sel.nmissing; i++)
		note(b, "module %s: not in this kernel (neither a module nor built in)", sel.missing[i]);
	b->res->modules = sel.npaths;
	note(b, "initramfs: %zu modules with their dependencies", sel.npaths);

	if (read_host(o->init, &init, false, err)) {
		mkl_err_prefix(err, "the init program (build it with 'make', or pass --init)");
		goto out;
	}
	if (mkl_cstream_create(o->initrd_codec, initrd_level(o), buf_sink, out, &cs, err) ||
	    mkl_cpio_create((mkl_sink_fn)mkl_cstream_write, cs, &cp, err))
		goto out;
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (mkl_cpio_add(cp, dirs[i], S_IFDIR | 0755, 0, 0, 0, t, NULL, 0, err))
			goto out;
	snprintf(base, sizeof(base), "lib/modules/%s", kver);
	if (mkl_cpio_add(cp, "dev/console", S_IFCHR | 0600, 0, 0, makedev(5, 1), t, NULL, 0, err) ||
	    mkl_cpio_add(cp, base, S_IFDIR | 0755, 0, 0, 0, t, NULL, 0, err) ||
	    add_module_dirs(cp, base, &sel, t, err))
		goto out;
	snprintf(conf, sizeof(conf), "id=%s\nimage=/%s\nkver=%s\nmodules=", b->res->medium_id,
		 IMAGE_PATH, kver);
	for (const char *const *m = mkl_boot_modules_always; *m; m++) {
		strncat(conf, *m, sizeof(conf) - strlen(conf) - 2);
		strncat(conf, m[1] ? " " : "\n", sizeof(conf) - strlen(conf) - 1);
	}
	if (mkl_cpio_add(cp, "init", S_IFREG | 0755, 0, 0, 0, t, init.data, init.len, err) ||
	    mkl_cpio_add(cp, "mklive.conf", S_IFREG | 0644, 0, 0, 0, t, conf, strlen(conf), err))
		goto out;
	snprintf(path, sizeof(path), "%s/modules.dep", base);
	if (mkl_cpio_add(cp, path, S_IFREG | 0644, 0, 0, 0, t, sel.dep_text, sel.dep_len, err))
		goto out;
	snprintf(path, sizeof(path), "%s/modules.alias", base);
	if (mkl_cpio_add(cp, path, S_IFREG | 0644, 0, 0, 0, t, sel.alias_text, sel.alias_len, err))
		goto out;
	for (i = 0; i < sel.npaths; i++) {
		ko.len = 0;
		if (read_moddir(b, moddir, sel.paths[i], false, &ko, err))
			goto out;
		snprintf(path, sizeof(path), "%s/%s", base, sel.paths[i]);
		if (mkl_cpio_add(cp, path, S_IFREG | 0644, 0, 0, 0, t, ko.data, ko.len, err))
			goto out;
	}
	if (mkl_cpio_finish(cp, err) || mkl_cstream_finish(cs, err))
		goto out;
	ret = 0;
out:
	mkl_cpio_destroy(cp);
	mkl_cstream_destroy(cs);
	mkl_modsel_free(&sel);
	buf_free(&dep);
	buf_free(&alias);
	buf_free(&builtin);
	buf_free(&init);
	buf_free(&ko);
	return ret;
}

static void iso_progress(void *ctx, uint64_t done, uint64_t total)
{
	const struct mkl_build_opts *o = ctx;

	o->progress(o->ctx, MKL_PHASE_ISO, done, total);
}

static int write_iso(struct build *b, int fd, const struct buf *kernel, const struct buf *initrd,
		     struct mkl_err *err)
{
	const struct mkl_build_opts *o = b->o;
	const char *label = o->label ? o->label : "MKLIVE";
	static const char *const c32[] = { "ldlinux.c32", "menu.c32", "libutil.c32", "libcom32.c32" };
	struct buf loader[5] = { { 0 } }, mbr = { 0 };
	struct mkl_iso_file files[16];
	struct mkl_iso_opts io = { 0 };
	char path[PATH_MAX], appid[128], *cfg;
	size_t n = 0, i;
	int ret = -1;

	cfg = mkl_isolinux_cfg(label, o->append, o->timeout);
	if (!cfg)
		return mkl_error(err, ENOMEM, "out of memory");
	snprintf(path, sizeof(path), "%s/isolinux.bin", o->isolinux_dir);
	if (read_host(path, &loader[0], false, err))
		goto out;
	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", o->syslinux_modules, c32[i]);
		if (read_host(path, &loader[i + 1], false, err))
			goto out;
	}
	snprintf(path, sizeof(path), "%s/isohdpfx.bin", o->isolinux_dir);
	if (read_host(path, &mbr, false, err))
		goto out;
	files[n++] = (struct mkl_iso_file){ .path = "isolinux/isolinux.bin", .mem = loader[0].data,
					    .size = loader[0].len };
	for (i = 0; i < 4; i++) {
		static char names[4][64];

		snprintf(names[i], sizeof(names[i]), "isolinux/%s", c32[i]);
		files[n++] = (struct mkl_iso_file){ .path = names[i], .mem = loader[i + 1].data,
						    .size = loader[i + 1].len };
	}
	files[n++] = (struct mkl_iso_file){ .path = "isolinux/isolinux.cfg", .mem = cfg,
					    .size = strlen(cfg) };
	files[n++] = (struct mkl_iso_file){ .path = "live/vmlinuz", .mem = kernel->data,
					    .size = kernel->len };
	files[n++] = (struct mkl_iso_file){ .path = "live/initrd.img", .mem = initrd->data,
					    .size = initrd->len };
	files[n++] = (struct mkl_iso_file){ .path = IMAGE_PATH, .mem = NULL, .fd = b->sq_fd,
					    .size = b->res->squashfs_bytes };
	snprintf(appid, sizeof(appid), "MKLIVE %s", b->res->kernel_version);
	io.volume_id = label;
	io.volume_set_id = b->res->medium_id;
	io.application_id = appid;
	io.time = o->time;
	io.boot_image = "isolinux/isolinux.bin";
	io.boot_catalog = "isolinux/boot.cat";
	io.mbr_template = mbr.data;
	io.mbr_template_size = mbr.len;
	note(b, "writing the ISO: label %s, medium id %s", label, b->res->medium_id);
	if (mkl_iso_write(fd, &io, files, n, o->progress ? iso_progress : NULL, (void *)o, err))
		goto out;
	ret = 0;
out:
	for (i = 0; i < 5; i++)
		buf_free(&loader[i]);
	buf_free(&mbr);
	free(cfg);
	return ret;
}

int mkl_build(const struct mkl_build_opts *o, struct mkl_build_result *res, struct mkl_err *err)
{
	struct build b = { .o = o, .sq_fd = -1, .res = res, .hash = 14695981039346656037ull };
	struct outfile out = { .fd = -1 };
	struct buf kernel = { 0 }, initrd = { 0 };
	struct stat st;
	int ret = -1;

	memset(res, 0, sizeof(*res));
	if (mkl_iso_check_label(o->label ? o->label : "MKLIVE", err) ||
	    mkl_sqfs_check_opts(&o->sqfs, err))
		return -1;
	if (stat(o->init, &st) || !S_ISREG(st.st_mode))
		return mkl_error(err, errno ? errno : EINVAL, "cannot use init program '%s'", o->init);
	if (mkl_source_open(o->source, &b.src, err))
		return -1;
	if (out_open(&out, o->output, err))
		goto fail;
	if (scratch_open(o->output, &b.sq_fd, err) ||
	    !(b.tree = mkl_tree_create(err)) ||
	    mkl_sqfs_create(b.sq_fd, &o->sqfs, &b.sq, err))
		goto fail;

	note(&b, "reading '%s'", o->source);
	if (pass_source(&b, err) || mkl_tree_finish(b.tree, err) || mkl_sqfs_finish(b.sq, b.tree, err))
		goto fail;
	res->squashfs_bytes = mkl_sqfs_bytes(b.sq);
	note(&b, "squashfs: %zu entries, %" PRIu64 " bytes of files -> %" PRIu64 " bytes",
	     res->entries, res->input_bytes, res->squashfs_bytes);

	/* The medium's ID: a digest of the tree's metadata, the label and the
	 * build time, so equal inputs give equal images and two different
	 * sticks plugged in at once are told apart. */
	hash_bytes(&b.hash, &o->time, sizeof(o->time));
	hash_bytes(&b.hash, o->label ? o->label : "MKLIVE", strlen(o->label ? o->label : "MKLIVE"));
	snprintf(res->medium_id, sizeof(res->medium_id), "MKLIVE-%016" PRIx64, b.hash);

	if (find_kernel(&b, &kernel, res->kernel_version, sizeof(res->kernel_version), err))
		goto fail;
	if (o->progress)
		o->progress(o->ctx, MKL_PHASE_INITRAMFS, 0, 1);
	if (make_initramfs(&b, res->kernel_version, &initrd, err))
		goto fail;
	res->initrd_bytes = initrd.len;
	note(&b, "initramfs: %zu bytes (%s)", initrd.len, mkl_codec_name(o->initrd_codec));
	if (mkl_cancelled()) {
		mkl_error(err, ECANCELED, "cancelled");
		goto fail;
	}
	if (write_iso(&b, out.fd, &kernel, &initrd, err))
		goto fail;
	if (fstat(out.fd, &st) == 0)
		res->iso_bytes = (uint64_t)st.st_size;
	if (mkl_cancelled()) {
		mkl_error(err, ECANCELED, "cancelled");
		goto fail;
	}
	if (out_commit(&out, err))
		goto fail;
	ret = 0;
fail:
	out_abort(&out);
	buf_free(&kernel);
	buf_free(&initrd);
	mkl_sqfs_destroy(b.sq);
	mkl_tree_destroy(b.tree);
	mkl_source_close(b.src);
	if (b.sq_fd >= 0)
		close(b.sq_fd);
	return ret;
}
