/* The pipeline from a root tree to a bootable ISO (see build.h). */
#include "pipeline/build.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "pipeline/layout.h"
#include "pipeline/modules.h"
#include "pipeline/verify.h"
#include "codec/codec.h"
#include "fmt/cloop.h"
#include "fmt/cpio.h"
#include "fmt/ext2.h"
#include "fmt/fat.h"
#include "fmt/floppy.h"
#include "fmt/iso.h"
#include "fmt/isotree.h"
#include "fmt/squashfs.h"
#include "source/source.h"
#include "tree/outfile.h"
#include "tree/tree.h"

#define IMAGE_SQUASHFS "live/filesystem.squashfs"
#define IMAGE_CLOOP "live/filesystem.cloop"
#define RWIMAGE_PATH "live/root.squashfs"
#define SUMS_PATH MKL_SUMS_PATH

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

/* Where file contents go while the source is read: the compressed image
 * (all of the tree in overlay mode, the read-only directories in symlink
 * mode) and the writable root (symlink mode). A squashfs part compresses as
 * it goes; a store part (the cloop image, made after the pass) keeps the
 * bytes raw in a scratch file until the ISO 9660 payload is written. */
enum { PART_IMAGE, PART_RW, NPARTS };

struct store_rec {
	struct store_rec *next;
	uint64_t off;
};

struct part {
	int fd;				/* scratch file: squashfs, or raw store */
	uint64_t placed;		/* >0: fd is the output ISO, the squashfs
					 * starts here (see open_parts) */
	struct mkl_sqfs *sq;		/* NULL: a store */
	uint64_t store_len;
	struct store_rec *recs;		/* node->data of stored files */
};

struct build {
	const struct mkl_build_opts *o;
	struct mkl_source *src;
	struct mkl_tree *tree;		/* the input, whole */
	struct mkl_layout layout;	/* symlink mode */
	struct mkl_layout_split split;
	struct part part[NPARTS];
	int cloop_fd;			/* the cloop image (cloop format) */
	uint64_t image_bytes, rw_bytes;
	uint64_t hash;
	char *append;			/* every entry's extra arguments: opts->append,
					 * after root= for an ext2 initrd */
	struct mkl_build_result *res;
};

static int part_of(const struct build *b, const char *path)
{
	if (b->o->root_mode == MKL_ROOT_SYMLINK && !mkl_layout_inside(&b->layout, path))
		return PART_RW;
	return PART_IMAGE;
}

/* Append a file's content to a store part. */
static int store_add(struct part *p, struct mkl_node *n, mkl_read_fn read, void *ctx,
		     struct mkl_err *err)
{
	struct store_rec *r = mkl_calloc(1, sizeof(*r), err);
	char buf[1 << 16];
	uint64_t left = n->size;

	if (!r)
		return -1;
	r->off = p->store_len;
	r->next = p->recs;
	p->recs = r;
	while (left > 0) {
		long got = read(ctx, buf, left < sizeof(buf) ? (size_t)left : sizeof(buf), err);
		ssize_t w;

		if (got < 0)
			return -1;
		if (got == 0)
			return mkl_error(err, 0, "'%s' ended early", n->name);
		if (mkl_cancelled())
			return mkl_error(err, ECANCELED, "cancelled");
		w = pwrite(p->fd, buf, (size_t)got, (off_t)p->store_len);
		if (w != got)
			return mkl_error(err, w < 0 ? errno : ENOSPC, "cannot write the scratch file");
		p->store_len += (uint64_t)got;
		left -= (uint64_t)got;
	}
	n->data = r;
	return 0;
}

static int store_read(const struct part *p, const struct mkl_node *n, uint64_t off, void *buf,
		      size_t len, struct mkl_err *err)
{
	const struct store_rec *r = mkl_node_inode((struct mkl_node *)n)->data;
	ssize_t got;

	if (!r && n->size == 0)
		return 0;
	if (!r)
		return mkl_error(err, 0, "no content stored for '%s'", n->name);
	got = pread(p->fd, buf, len, (off_t)(r->off + off));
	if (got != (ssize_t)len)
		return mkl_error(err, got < 0 ? errno : EIO, "cannot read the scratch file");
	return 0;
}

static void part_close(struct part *p)
{
	mkl_sqfs_destroy(p->sq);
	while (p->recs) {
		struct store_rec *r = p->recs->next;

		free(p->recs);
		p->recs = r;
	}
	if (p->fd >= 0 && !p->placed)
		close(p->fd);
	memset(p, 0, sizeof(*p));
	p->fd = -1;
}

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
		/* The analyzer loses the bytes of an initialised uint64_t array. */
		*h ^= p[i];	/* NOLINT(clang-analyzer-core.uninitialized.Assign) */
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
			if (mkl_is_reg(n)) {
				struct part *p = &b->part[part_of(b, e.path)];

				if (p->sq ? mkl_sqfs_add_data(p->sq, n, mkl_source_read, b->src, err)
					  : store_add(p, n, mkl_source_read, b->src, err))
					return -1;
				b->res->input_bytes += n->size;
			}
		}
		b->res->entries++;
		if (b->o->progress) {
			mkl_source_progress(b->src, &done, &total);
			b->o->progress(b->o->ctx, MKL_PHASE_SQUASHFS, done, total);
		}
	}
	return r;
}

/* Files the build adds to the tree come from memory. */
struct memread {
	const unsigned char *p;
	size_t left;
};

static long mem_read(void *ctx, void *buf, size_t len, struct mkl_err *err)
{
	struct memread *m = ctx;

	if (len > m->left)
		len = m->left;
	if (!len)
		return 0;
	memcpy(buf, m->p, len);
	m->p += len;
	m->left -= len;
	return (long)len;
}

/* Add a file to the tree and its data to the image, as if the source had
 * it; owned by root, with the build's time. */
static int add_own_file(struct build *b, const char *path, uint32_t perm, const void *data, size_t len,
			struct mkl_err *err)
{
	struct mkl_stat st = { .mode = S_IFREG | perm, .mtime = b->o->time, .size = len };
	struct memread m = { data, len };
	struct mkl_node *n;
	struct part *p = &b->part[part_of(b, path)];

	if (mkl_tree_add(b->tree, path, &st, &n, err))
		return -1;
	return p->sq ? mkl_sqfs_add_data(p->sq, n, mem_read, &m, err) : store_add(p, n, mem_read, &m, err);
}

static int add_own_link(struct build *b, const char *path, const char *target, struct mkl_err *err)
{
	struct mkl_stat st = { .mode = S_IFLNK | 0777, .mtime = b->o->time, .target = target };
	struct mkl_node *n;

	return mkl_tree_add(b->tree, path, &st, &n, err);
}

static int read_host(const char *path, struct buf *out, bool optional, struct mkl_err *err);

/* /media/list (src/media): mklive-media as the autofs program map for
 * /media/.auto, a udev rule that keeps the list of links in
 * /run/mklive-media in step with the block devices, and /media/list
 * pointing there. Only where autofs and udev will run them. */
static int add_media(struct build *b, struct mkl_err *err)
{
	static const char master[] =
		"# mklive: removable media, listed in /media/list (mklive-media)\n"
		"/media/.auto program:/usr/lib/mklive/mklive-media --timeout=30\n";
	static const char rule[] =
		"# mklive: keep /media/list in step with the block devices (mklive-media)\n"
		"SUBSYSTEM==\"block\", ACTION==\"add|remove|change\", "
		"RUN+=\"/usr/lib/mklive/mklive-media --sync\"\n";
	const struct mkl_build_opts *o = b->o;
	struct buf prog = { 0 };
	int rc;

	if (!o->media)
		return 0;
	if (!mkl_tree_resolve(b->tree, "usr/sbin/automount") || !mkl_tree_resolve(b->tree, "etc/udev")) {
		if (o->media > 0)
			return mkl_error(err, 0, "--media yes: the tree has no autofs and udev "
					 "(/usr/sbin/automount, /etc/udev): install the autofs and udev packages in it");
		note(b, "/media/list: not set up (no autofs or udev in the tree)");
		return 0;
	}
	if (!o->media_program)
		return mkl_error(err, EINVAL, "/media/list: no mklive-media program given");
	if (read_host(o->media_program, &prog, false, err)) {
		buf_free(&prog);
		return mkl_err_prefix(err, "/media/list needs mklive-media (build it with 'make')");
	}
	rc = add_own_file(b, "usr/lib/mklive/mklive-media", 0755, prog.data, prog.len, err) ||
	     add_own_file(b, "etc/auto.master.d/mklive.autofs", 0644, master, strlen(master), err) ||
	     add_own_file(b, "etc/udev/rules.d/90-mklive-media.rules", 0644, rule, strlen(rule), err) ||
	     add_own_link(b, "media/list", "/run/mklive-media", err) ? -1 : 0;
	buf_free(&prog);
	if (rc)
		return mkl_err_prefix(err, "/media/list");
	note(b, "/media/list: mklive-media, the autofs map for /media/.auto and a udev rule installed");
	b->res->media = true;
	return 0;
}

static int read_node(struct build *b, struct mkl_node *n, const char *what, struct buf *out,
		     struct mkl_err *err)
{
	char *path;
	const struct part *p;

	if (!n || !mkl_is_reg(n))
		return mkl_error(err, ENOENT, "'%s' is not a regular file in the tree", what);
	/* The part that holds the bytes is the one the leader's path went to. */
	path = mkl_node_path(mkl_node_inode(n));
	if (!path)
		return mkl_error(err, ENOMEM, "out of memory");
	p = &b->part[part_of(b, path)];
	free(path);
	if (p->sq) {
		if (mkl_sqfs_read_file(p->sq, n, buf_sink, out, err))
			return mkl_err_prefix(err, "reading '%s' back from the image", what);
		return 0;
	}
	for (uint64_t off = 0; off < n->size;) {
		char chunk[1 << 16];
		size_t len = n->size - off < sizeof(chunk) ? (size_t)(n->size - off) : sizeof(chunk);

		if (store_read(p, n, off, chunk, len, err))
			return mkl_err_prefix(err, "reading '%s' back", what);
		if (buf_sink(out, chunk, len, err))
			return -1;
		off += len;
	}
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
			/* The last component of DIR, trailing slashes aside. */
			size_t end = strlen(b->o->modules), start;

			while (end > 1 && b->o->modules[end - 1] == '/')
				end--;
			for (start = end; start && b->o->modules[start - 1] != '/'; start--)
				;
			snprintf(version, vsize, "%.*s", (int)(end - start), b->o->modules + start);
			if (!strncmp(base, "vmlinuz-", 8) && strcmp(base + 8, version))
				return mkl_error(err, 0, "kernel '%s' is version %s but modules "
					"'%s' are for %s (kernel and modules must come from the "
					"same package)", b->o->kernel, base + 8, b->o->modules, version);
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
		return mkl_error(err, 0, "no kernel in '%s': looked for /boot/vmlinuz-* "
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
	if (n)
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

/* The article's initrd (--initrd-format ext2): the initramfs's files as an
 * ext2 filesystem, made by our ext2 writer from the uncompressed newc
 * archive read back through the source layer, then compressed. The kernel
 * loads it into /dev/ram0 (a RAM disk driver built in) and, booted with
 * root=/dev/ram0, mounts it as / and starts /init; the init pivots away
 * from it (switch_root.c). ramdisk_size= is set from the image's size, as
 * the driver's default (4 MiB) is too small for the modules. */
static int cpio_to_ext2(struct build *b, const struct buf *cpio, struct buf *out, struct mkl_err *err)
{
	const struct mkl_build_opts *o = b->o;
	struct mkl_ext2_opts eo = { .block_size = 1024, .label = "mklive-initrd", .time = o->time };
	struct mkl_ext2_stats st;
	struct mkl_source *src = NULL;
	struct mkl_cstream *cs = NULL;
	unsigned char *buf = NULL;
	char path[64];
	int cfd = memfd_create("mklive-initrd.cpio", MFD_CLOEXEC), efd = -1, rc = -1;
	uint64_t off = 0;

	if (cfd < 0 || (efd = memfd_create("mklive-initrd.ext2", MFD_CLOEXEC)) < 0) {
		mkl_error(err, errno, "ext2 initrd: cannot make a memory file");
		goto out;
	}
	for (size_t done = 0; done < cpio->len;) {
		ssize_t n = write(cfd, cpio->data + done, cpio->len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			mkl_error(err, n ? errno : EIO, "ext2 initrd: writing the file list");
			goto out;
		}
		done += (size_t)n;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", cfd);
	if (mkl_source_open(path, &src, err) || mkl_ext2_write(efd, &eo, src, &st, err))
		goto out;
	buf = malloc(1 << 16);
	if (!buf) {
		mkl_error(err, ENOMEM, "out of memory");
		goto out;
	}
	if (mkl_cstream_create(o->initrd_codec, initrd_level(o), buf_sink, out, &cs, err))
		goto out;
	for (;;) {
		ssize_t n = pread(efd, buf, 1 << 16, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			mkl_error(err, errno, "ext2 initrd: reading the image back");
			goto out;
		}
		if (n == 0)
			break;
		if (mkl_cstream_write(cs, buf, (size_t)n, err))
			goto out;
		off += (uint64_t)n;
	}
	if (mkl_cstream_finish(cs, err))
		goto out;
	free(b->append);
	b->append = NULL;
	if (asprintf(&b->append, "root=/dev/ram0 ramdisk_size=%" PRIu64 "%s%s", (off + 1023) / 1024,
		     o->append && o->append[0] ? " " : "", o->append ? o->append : "") < 0) {
		b->append = NULL;
		mkl_error(err, ENOMEM, "out of memory");
		goto out;
	}
	note(b, "initrd: ext2 of %" PRIu64 " bytes (%" PRIu64 " files), booted with root=/dev/ram0",
	     off, st.files);
	rc = 0;
out:
	if (rc)
		mkl_err_prefix(err, "ext2 initrd");
	mkl_cstream_destroy(cs);
	mkl_source_close(src);
	free(buf);
	if (cfd >= 0)
		close(cfd);
	if (efd >= 0)
		close(efd);
	return rc;
}

static int make_initramfs(struct build *b, const char *kver, struct buf *out, struct mkl_err *err)
{
	const struct mkl_build_opts *o = b->o;
	struct buf dep = { 0 }, alias = { 0 }, builtin = { 0 }, init = { 0 }, ko = { 0 }, raw = { 0 };
	bool ext2 = o->initrd_format == MKL_INITRD_EXT2;
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
		mkl_error(err, 0, "kernel %s has no modules: '/%s' is not in the tree "
			  "(kernel and modules must come from the same package)", kver, moddir);
		goto out;
	}
	r = read_moddir(b, moddir, "modules.dep", true, &dep, err);
	if (r < 0)
		goto out;
	if (r > 0) {
		mkl_error(err, 0, "no modules.dep in '%s' (run 'depmod -b ROOT %s' on the tree)",
			  moddir, kver);
		goto out;
	}
	if (read_moddir(b, moddir, "modules.alias", true, &alias, err) < 0)
		goto out;
	if (read_moddir(b, moddir, "modules.builtin", true, &builtin, err) < 0)
		goto out;
	{
		/* The boot set, and nbd when a cloop image is served through it. */
		const char *wanted[64];
		size_t nw = 0;

		for (const char *const *m = mkl_boot_modules; *m && nw < 62; m++)
			wanted[nw++] = *m;
		if (o->image_format == MKL_IMAGE_CLOOP)
			wanted[nw++] = "nbd";
		wanted[nw] = NULL;
		if (mkl_modules_select((char *)dep.data, dep.len, (char *)alias.data, alias.len,
				       (char *)builtin.data, builtin.len, wanted, &sel, err))
			goto out;
	}
	for (i = 0; i < sel.nmissing; i++)
		note(b, "module %s: not in this kernel (neither a module nor built in)", sel.missing[i]);
	b->res->modules = sel.npaths;
	note(b, "initramfs: %zu modules with their dependencies", sel.npaths);

	if (read_host(o->init, &init, false, err)) {
		mkl_err_prefix(err, "the init program (build it with 'make', or pass --init)");
		goto out;
	}
	/* ext2: the archive is made whole first, then becomes the filesystem. */
	if (mkl_cstream_create(ext2 ? MKL_CODEC_NONE : o->initrd_codec, initrd_level(o), buf_sink,
			       ext2 ? &raw : out, &cs, err) ||
	    mkl_cpio_create((mkl_sink_fn)mkl_cstream_write, cs, &cp, err))
		goto out;
	if (ext2 && mkl_cpio_add(cp, "linuxrc", S_IFLNK | 0777, 0, 0, 0, t, "init", 4, err))
		goto out;
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (mkl_cpio_add(cp, dirs[i], S_IFDIR | 0755, 0, 0, 0, t, NULL, 0, err))
			goto out;
	snprintf(base, sizeof(base), "lib/modules/%s", kver);
	if (mkl_cpio_add(cp, "dev/console", S_IFCHR | 0600, 0, 0, makedev(5, 1), t, NULL, 0, err) ||
	    mkl_cpio_add(cp, base, S_IFDIR | 0755, 0, 0, 0, t, NULL, 0, err) ||
	    add_module_dirs(cp, base, &sel, t, err))
		goto out;
	{
		bool cloop = o->image_format == MKL_IMAGE_CLOOP;
		size_t n = (size_t)snprintf(conf, sizeof(conf), "id=%s\nimage=/%s\nkver=%s\n",
					    b->res->medium_id, cloop ? IMAGE_CLOOP : IMAGE_SQUASHFS, kver);

		if (cloop)
			n += (size_t)snprintf(conf + n, sizeof(conf) - n, "format=cloop\n");
		if (o->root_mode == MKL_ROOT_SYMLINK)
			n += (size_t)snprintf(conf + n, sizeof(conf) - n, "root=symlink\nrwimage=/%s\n",
					      RWIMAGE_PATH);
		n += (size_t)snprintf(conf + n, sizeof(conf) - n, "modules=");
		for (const char *const *m = mkl_boot_modules_always; *m; m++)
			n += (size_t)snprintf(conf + n, sizeof(conf) - n, "%s ", *m);
		snprintf(conf + n, sizeof(conf) - n, "%s\n", cloop ? "nbd" : "");
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
	if (ext2 && cpio_to_ext2(b, &raw, out, err))
		goto out;
	ret = 0;
out:
	buf_free(&raw);
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

/* UEFI: Debian's signed shim and CD GRUB, when they are there. */
struct uefi {
	struct buf shim, grub;
	char *cfg, *esp_cfg, *info;
	int esp_fd;
	uint64_t esp_size;
};

static void uefi_free(struct uefi *u)
{
	buf_free(&u->shim);
	buf_free(&u->grub);
	free(u->cfg);
	free(u->esp_cfg);
	free(u->info);
	if (u->esp_fd >= 0)
		close(u->esp_fd);
	memset(u, 0, sizeof(*u));
	u->esp_fd = -1;
}

/* 1: UEFI files ready; 0: no UEFI (auto, files missing); -1: error. */
static int prepare_uefi(struct build *b, struct uefi *u, struct mkl_err *err)
{
	const struct mkl_build_opts *o = b->o;
	const char *root = o->efi_root ? o->efi_root : "/";
	const char *label = o->label ? o->label : "MKLIVE";
	char shim[PATH_MAX], grub[PATH_MAX];
	struct mkl_fat_file esp[3];
	struct mkl_fat_opts fo = { .label = "MKLIVE_EFI", .time = o->time,
				   .serial = (uint32_t)(b->hash ^ (b->hash >> 32)) };
	struct stat st;

	u->esp_fd = -1;
	if (o->uefi == 0)
		return 0;
	snprintf(shim, sizeof(shim), "%s/usr/lib/shim/shimx64.efi.signed", root);
	snprintf(grub, sizeof(grub), "%s/usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed", root);
	if (o->uefi < 0 && (access(shim, R_OK) || access(grub, R_OK))) {
		note(b, "UEFI: no %s or %s (packages shim-signed, grub-efi-amd64-signed): BIOS only",
		     shim, grub);
		return 0;
	}
	if (read_host(shim, &u->shim, false, err) || read_host(grub, &u->grub, false, err)) {
		mkl_err_prefix(err, "UEFI boot needs Debian's shim-signed and grub-efi-amd64-signed");
		return -1;
	}
	u->cfg = mkl_grub_cfg(label, b->append, o->timeout, b->res->medium_id);
	u->esp_cfg = mkl_grub_esp_cfg(b->res->medium_id);
	if (asprintf(&u->info, "mklive %s %s\n", label, b->res->medium_id) < 0)
		u->info = NULL;
	if (!u->cfg || !u->esp_cfg || !u->info)
		return mkl_error(err, ENOMEM, "out of memory");
	/* shim as the removable-media loader; it runs grubx64.efi beside it. */
	esp[0] = (struct mkl_fat_file){ .path = "EFI/BOOT/BOOTX64.EFI", .mem = u->shim.data,
					.size = u->shim.len, .fd = -1 };
	esp[1] = (struct mkl_fat_file){ .path = "EFI/BOOT/grubx64.efi", .mem = u->grub.data,
					.size = u->grub.len, .fd = -1 };
	esp[2] = (struct mkl_fat_file){ .path = "EFI/BOOT/grub.cfg", .mem = u->esp_cfg,
					.size = strlen(u->esp_cfg), .fd = -1 };
	if (mkl_scratch_open(o->output, &u->esp_fd, err) || mkl_fat_write(u->esp_fd, &fo, esp, 3, err))
		return mkl_err_prefix(err, "making the EFI system partition");
	if (fstat(u->esp_fd, &st))
		return mkl_error(err, errno, "cannot stat the EFI system partition");
	u->esp_size = (uint64_t)st.st_size;
	b->res->uefi = true;
	b->res->esp_bytes = u->esp_size;
	note(b, "UEFI: ESP of %" PRIu64 " bytes with shim and GRUB", u->esp_size);
	return 1;
}

/* The legacy boot floppy: the kernel and initramfs of the live entry. */
static int make_floppy(struct build *b, const struct buf *kernel, const struct buf *initrd, int *fd,
		       struct mkl_err *err)
{
	char *cmd = mkl_floppy_cmdline(b->append);
	struct mkl_floppy_opts fo = {
		.kernel = kernel->data, .kernel_size = kernel->len,
		.initrd = initrd->data, .initrd_size = initrd->len,
		.cmdline = cmd, .label = "MKLIVE-BOOT", .time = b->o->time,
		.serial = (uint32_t)(b->hash >> 16 ^ b->hash >> 48),
	};
	int rc;

	if (!cmd)
		return mkl_error(err, ENOMEM, "out of memory");
	rc = mkl_scratch_open(b->o->output, fd, err) || mkl_floppy_write(*fd, &fo, err);
	free(cmd);
	if (rc)
		return mkl_err_prefix(err, "--floppy");
	note(b, "boot floppy: kernel %zu and initramfs %zu bytes of %" PRIu64, kernel->len, initrd->len,
	     mkl_floppy_capacity());
	b->res->floppy = true;
	return 0;
}

static int write_iso(struct build *b, int fd, const struct buf *kernel, const struct buf *initrd,
		     struct mkl_err *err)
{
	const struct mkl_build_opts *o = b->o;
	const char *label = o->label ? o->label : "MKLIVE";
	static const char *const c32[] = { "ldlinux.c32", "menu.c32", "libutil.c32", "libcom32.c32" };
	struct buf loader[5] = { { 0 } }, mbr = { 0 };
	struct mkl_iso_file files[24];
	struct mkl_iso_opts io = { 0 };
	char path[PATH_MAX], appid[128], idfile[96], *cfg;
	struct uefi u = { .esp_fd = -1 };
	size_t n = 0, i;
	int ret = -1, efi, floppy_fd = -1;

	cfg = mkl_isolinux_cfg(label, b->append, o->timeout);
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
	/* Not in the checksums: libisofs patches the boot info table in. */
	files[n++] = (struct mkl_iso_file){ .path = "isolinux/isolinux.bin", .mem = loader[0].data,
					    .size = loader[0].len, .nosum = 1 };
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
	if (o->image_format == MKL_IMAGE_CLOOP)
		files[n++] = (struct mkl_iso_file){ .path = IMAGE_CLOOP, .mem = NULL,
						    .fd = b->cloop_fd, .size = b->res->squashfs_bytes };
	else
		files[n++] = (struct mkl_iso_file){ .path = IMAGE_SQUASHFS, .mem = NULL,
						    .fd = b->part[PART_IMAGE].fd,
						    .size = b->res->squashfs_bytes,
						    .placed = b->part[PART_IMAGE].placed };
	if (o->root_mode == MKL_ROOT_SYMLINK)
		files[n++] = (struct mkl_iso_file){ .path = RWIMAGE_PATH, .mem = NULL,
						    .fd = b->part[PART_RW].fd, .size = b->res->rw_bytes };
	if ((efi = prepare_uefi(b, &u, err)) < 0)
		goto out;
	if (efi) {
		snprintf(idfile, sizeof(idfile), ".disk/%s", b->res->medium_id);
		files[n++] = (struct mkl_iso_file){ .path = "boot/grub/efi.img", .mem = NULL,
						    .fd = u.esp_fd, .size = u.esp_size };
		files[n++] = (struct mkl_iso_file){ .path = "boot/grub/grub.cfg", .mem = u.cfg,
						    .size = strlen(u.cfg) };
		/* gcdx64 looks for /.disk/info; our grub.cfg for the ID. */
		files[n++] = (struct mkl_iso_file){ .path = ".disk/info", .mem = u.info,
						    .size = strlen(u.info) };
		files[n++] = (struct mkl_iso_file){ .path = idfile, .mem = u.info,
						    .size = strlen(u.info) };
		io.efi_image = "boot/grub/efi.img";
		for (i = 0; i < 16; i++)	/* GPT GUID from the medium ID */
			io.gpt_guid[i] = (unsigned char)(b->hash >> (8 * (i % 8))) ^ (unsigned char)(i * 37);
		io.gpt_guid[6] = (io.gpt_guid[6] & 0x0f) | 0x40;	/* RFC 4122 version 4 */
		io.gpt_guid[8] = (io.gpt_guid[8] & 0x3f) | 0x80;
	}
	if (o->floppy) {
		if (make_floppy(b, kernel, initrd, &floppy_fd, err))
			goto out;
		files[n++] = (struct mkl_iso_file){ .path = "boot/floppy.img", .mem = NULL,
						    .fd = floppy_fd, .size = MKL_FAT_FLOPPY_SIZE };
		io.floppy_image = "boot/floppy.img";
	}
	{
		/* The medium's checksums, as sha256sum(1) writes them ("HASH
		 * ./path"), so `sha256sum -c sha256sum.txt` on the mounted medium
		 * checks it too; read by `mklive verify` and by the init with
		 * mklive.verify. libisofs hashes each file as it writes it. */
		uint64_t bytes = 0;

		for (i = 1; i < n; i++)
			bytes += files[i].size;
		io.sums_path = SUMS_PATH;
		note(b, "checksums: SHA-256 of %zu files, %" PRIu64 " bytes, in /%s, made while "
		     "the ISO is written", n - 1, bytes, SUMS_PATH);
	}
	snprintf(appid, sizeof(appid), "MKLIVE %s", b->res->kernel_version);
	io.volume_id = label;
	io.volume_set_id = b->res->medium_id;
	io.application_id = appid;
	io.time = o->time;
	io.boot_image = "isolinux/isolinux.bin";
	io.boot_catalog = "isolinux/boot.cat";
	if (!o->floppy) {	/* the isohybrid MBR starts isolinux, not the floppy */
		io.mbr_template = mbr.data;
		io.mbr_template_size = mbr.len;
	}
	note(b, "writing the ISO: label %s, medium id %s", label, b->res->medium_id);
	if (mkl_iso_write(fd, &io, files, n, o->progress ? iso_progress : NULL, (void *)o, err))
		goto out;
	ret = 0;
out:
	for (i = 0; i < 5; i++)
		buf_free(&loader[i]);
	buf_free(&mbr);
	free(cfg);
	uefi_free(&u);
	if (floppy_fd >= 0)
		close(floppy_fd);
	return ret;
}

static int iso_content(void *ctx, const struct mkl_node *node, uint64_t off, void *buf,
		       size_t len, struct mkl_err *err)
{
	struct build *b = ctx;

	return store_read(&b->part[PART_IMAGE], node, off, buf, len, err);
}

/* The article's image: the tree as ISO 9660 + Rock Ridge (libisofs, from
 * the raw store), streamed into cloop blocks compressed on all cores. */
static int make_cloop(struct build *b, struct mkl_tree *tree, struct mkl_err *err)
{
	const struct mkl_build_opts *o = b->o;
	struct mkl_cloop_opts co = {
		.version = o->cloop_codec == MKL_CODEC_GZIP ? 2 : 4,
		.codec = o->cloop_codec,
		.level = o->cloop_level,
		.block_size = o->cloop_block_size,
		.threads = o->sqfs.threads,
	};
	struct mkl_isotree_opts io = { .volume_id = o->label ? o->label : "MKLIVE", .time = o->time };
	struct mkl_cloop_writer *w = NULL;
	struct mkl_cloop_stats stats;
	char *dir = mkl_dir_of(o->output);
	uint64_t size;
	int ret = -1;

	if (!dir)
		return mkl_error(err, ENOMEM, "out of memory");
	co.spool_dir = dir;
	if (mkl_scratch_open(o->output, &b->cloop_fd, err) ||
	    mkl_cloop_create(b->cloop_fd, &co, &w, err))
		goto out;
	note(b, "cloop: ISO 9660 payload in %s blocks (V%d.0)", mkl_codec_name(co.codec), co.version);
	if (mkl_isotree_write(tree, &io, iso_content, b, mkl_cloop_write, w, &size, err)) {
		mkl_err_prefix(err, "writing the cloop payload");
		goto out;
	}
	if (mkl_cloop_finish(w, &stats, err))
		goto out;
	b->res->squashfs_bytes = stats.file_bytes;
	note(b, "cloop: %" PRIu64 " bytes of ISO 9660 in %u blocks -> %" PRIu64 " bytes", size,
	     stats.blocks, stats.file_bytes);
	ret = 0;
out:
	mkl_cloop_writer_destroy(w);
	free(dir);
	return ret;
}

/* The compressed image after the pass. squashfs: finish it (its data is
 * written already). cloop: write the ISO 9660 payload of the image's tree
 * from the store into the cloop writer. */
static int finish_image(struct build *b, struct mkl_tree *tree, struct mkl_err *err)
{
	struct part *p = &b->part[PART_IMAGE];

	if (b->o->image_format == MKL_IMAGE_CLOOP)
		return make_cloop(b, tree, err);
	if (mkl_sqfs_finish(p->sq, tree, err))
		return -1;
	b->res->squashfs_bytes = mkl_sqfs_bytes(p->sq);
	return 0;
}

/* The squashfs image is written straight into the output ISO, from
 * PLACE_AT on, where the ISO writer then lays it out (src/fmt/iso.c,
 * .placed): the 200 MB are written once, not to a scratch file and then
 * again into the ISO. PLACE_AT is past the ISO's metadata and checksum
 * list (about 90 KB with every boot option; the writer fails, and a test
 * would, if they ever grew past it); the gap is padding on the medium. */
#define PLACE_AT (256u << 10)

static int open_parts(struct build *b, int out_fd, struct mkl_err *err)
{
	const struct mkl_build_opts *o = b->o;

	for (int i = 0; i < NPARTS; i++)
		b->part[i].fd = -1;
	if (o->image_format == MKL_IMAGE_SQUASHFS) {
		b->part[PART_IMAGE].fd = out_fd;
		b->part[PART_IMAGE].placed = PLACE_AT;
		if (mkl_sqfs_create_at(out_fd, PLACE_AT, &o->sqfs, &b->part[PART_IMAGE].sq, err))
			return -1;
	} else if (mkl_scratch_open(o->output, &b->part[PART_IMAGE].fd, err)) {
		return -1;
	}
	if (o->root_mode == MKL_ROOT_SYMLINK &&
	    (mkl_scratch_open(o->output, &b->part[PART_RW].fd, err) ||
	     mkl_sqfs_create(b->part[PART_RW].fd, &o->sqfs, &b->part[PART_RW].sq, err)))
		return -1;
	return 0;
}

int mkl_build(const struct mkl_build_opts *o, struct mkl_build_result *res, struct mkl_err *err)
{
	struct build b = { .o = o, .res = res, .cloop_fd = -1, .hash = 14695981039346656037ull };
	struct mkl_outfile out = { .fd = -1 };
	struct buf kernel = { 0 }, initrd = { 0 };
	struct stat st;
	int ret = -1;

	memset(res, 0, sizeof(*res));
	for (int i = 0; i < NPARTS; i++)
		b.part[i].fd = -1;
	if (mkl_iso_check_label(o->label ? o->label : "MKLIVE", err) ||
	    mkl_sqfs_check_opts(&o->sqfs, err))
		return -1;
	if (o->image_format == MKL_IMAGE_CLOOP && o->cloop_codec != MKL_CODEC_GZIP &&
	    o->cloop_codec != MKL_CODEC_LZ4 && o->cloop_codec != MKL_CODEC_NONE)
		return mkl_error(err, EINVAL, "a %s cloop image would not boot: mklive-init reads "
				 "cloop blocks of gzip (zlib), lz4 or none", mkl_codec_name(o->cloop_codec));
	if (o->root_mode == MKL_ROOT_SYMLINK && mkl_layout_parse(o->read_only, &b.layout, err))
		return -1;
	if (stat(o->init, &st) || !S_ISREG(st.st_mode)) {
		mkl_error(err, errno ? errno : EINVAL, "cannot use init program '%s'", o->init);
		goto fail;
	}
	if (mkl_source_open(o->source, &b.src, err) || mkl_outfile_open(&out, o->output, false, err) ||
	    !(b.tree = mkl_tree_create(err)) || open_parts(&b, out.fd, err))
		goto fail;

	note(&b, "reading '%s'", o->source);
	if (pass_source(&b, err) || add_media(&b, err) || mkl_tree_finish(b.tree, err))
		goto fail;
	if (o->root_mode == MKL_ROOT_SYMLINK) {
		if (mkl_layout_split(&b.layout, b.tree, &b.split, err))
			goto fail;
		res->ro_dirs = b.split.ro_dirs;
		note(&b, "layout: %zu read-only directories in the image, the rest in the "
		     "writable root (checked both ways)%s%s", b.split.ro_dirs,
		     b.split.notes[0] ? "; left as they are: " : "", b.split.notes);
		if (mkl_sqfs_finish(b.part[PART_RW].sq, b.split.rw, err))
			goto fail;
		res->rw_bytes = mkl_sqfs_bytes(b.part[PART_RW].sq);
		note(&b, "writable root: %" PRIu64 " bytes", res->rw_bytes);
	}
	if (finish_image(&b, o->root_mode == MKL_ROOT_SYMLINK ? b.split.ro : b.tree, err))
		goto fail;
	note(&b, "%s: %zu entries, %" PRIu64 " bytes of files -> %" PRIu64 " bytes",
	     o->image_format == MKL_IMAGE_CLOOP ? "cloop" : "squashfs",
	     res->entries, res->input_bytes, res->squashfs_bytes);

	/* The medium's ID: a digest of the tree's metadata, the label and the
	 * build time, so equal inputs give equal images and two different
	 * sticks plugged in at once are told apart. */
	hash_bytes(&b.hash, &o->time, sizeof(o->time));
	hash_bytes(&b.hash, o->label ? o->label : "MKLIVE", strlen(o->label ? o->label : "MKLIVE"));
	hash_bytes(&b.hash, &o->root_mode, sizeof(o->root_mode));
	hash_bytes(&b.hash, &o->image_format, sizeof(o->image_format));
	snprintf(res->medium_id, sizeof(res->medium_id), "MKLIVE-%016" PRIx64, b.hash);

	if (find_kernel(&b, &kernel, res->kernel_version, sizeof(res->kernel_version), err))
		goto fail;
	if (o->progress)
		o->progress(o->ctx, MKL_PHASE_INITRAMFS, 0, 1);
	b.append = strdup(o->append ? o->append : "");
	if (!b.append) {
		mkl_error(err, ENOMEM, "out of memory");
		goto fail;
	}
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
	if (mkl_outfile_commit(&out, err))
		goto fail;
	ret = 0;
fail:
	mkl_outfile_close(&out);
	buf_free(&kernel);
	buf_free(&initrd);
	for (int i = 0; i < NPARTS; i++)
		part_close(&b.part[i]);
	if (b.cloop_fd >= 0)
		close(b.cloop_fd);
	mkl_layout_split_free(&b.split);
	mkl_layout_free(&b.layout);
	mkl_tree_destroy(b.tree);
	mkl_source_close(b.src);
	free(b.append);
	return ret;
}
