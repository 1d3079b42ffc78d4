/* The initramfs: the kernel found in the tree (or given), the modules that
 * finding and mounting the medium needs with their dependencies, the init
 * and its /mklive.conf, as a compressed cpio newc archive; or the article's
 * ext2 initrd made from it. */
#include "pipeline/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "codec/codec.h"
#include "fmt/cpio.h"
#include "fmt/ext2.h"
#include "pipeline/modules.h"

/* A file of the kernel's module directory, from the host (--modules) or the tree. */
static int read_moddir(struct build *b, const char *moddir, const char *rel, bool optional,
		       struct mkl_buf *out, struct mkl_err *err)
{
	char path[PATH_MAX];
	struct mkl_node *n;

	snprintf(path, sizeof(path), "%s/%s", moddir, rel);
	if (b->o->modules)
		return mkl_read_file(path, out, optional, err);
	n = mkl_tree_resolve(b->tree, path);
	if (!n && optional)
		return 1;
	return build_read_node(b, n, path, out, err);
}

int build_find_kernel(struct build *b, struct mkl_buf *kernel, char *version, size_t vsize,
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
		build_note(b, "kernel %s from '%s'", version, b->o->kernel);
		return mkl_read_file(b->o->kernel, kernel, false, err);
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
	build_note(b, "kernel %s from the tree's /boot/%s", version, best->name);
	{
		char rel[300];

		snprintf(rel, sizeof(rel), "boot/%s", best->name);
		return build_read_node(b, mkl_tree_resolve(b->tree, rel), rel, kernel, err);
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
static int cpio_to_ext2(struct build *b, const struct mkl_buf *cpio, struct mkl_buf *out, struct mkl_err *err)
{
	const struct mkl_build_opts *o = b->o;
	struct mkl_ext2_opts eo = { .block_size = 1024, .label = "mklive-initrd", .time = o->time };
	struct mkl_ext2_stats st;
	struct mkl_source *src = NULL;
	struct mkl_cstream *cs = NULL;
	unsigned char *buf = NULL;
	char path[64], *args = NULL;
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
	if (mkl_cstream_create(o->initrd_codec, initrd_level(o), mkl_buf_sink, out, &cs, err))
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
	args = b->append;	/* the arguments so far (--verity's, --append) */
	b->append = NULL;
	if (asprintf(&b->append, "root=/dev/ram0 ramdisk_size=%" PRIu64 "%s%s", (off + 1023) / 1024,
		     args[0] ? " " : "", args) < 0) {
		b->append = args;	/* still the build's, freed with it */
		args = NULL;
		mkl_error(err, ENOMEM, "out of memory");
		goto out;
	}
	build_note(b, "initrd: ext2 of %" PRIu64 " bytes (%" PRIu64 " files), booted with root=/dev/ram0",
	     off, st.files);
	rc = 0;
out:
	if (rc)
		mkl_err_prefix(err, "ext2 initrd");
	mkl_cstream_destroy(cs);
	mkl_source_close(src);
	free(buf);
	free(args);
	if (cfd >= 0)
		close(cfd);
	if (efd >= 0)
		close(efd);
	return rc;
}

/* The init's /mklive.conf: the medium's ID, the image (its path, and how the
 * init attaches and mounts it: the format's row; fstype= only where the
 * init would assume another), the kernel version, the
 * root mode, the modules to load before the hardware's, and the live
 * user and settings ([live]). */
static void initramfs_conf(const struct build *b, const char *kver, const char *choices, char *conf, size_t size)
{
	const struct mkl_image_format *f = b->fmt;
	/* The init's defaults: format squashfs; mounted as squashfs, or as
	 * iso9660 for cloop. */
	const char *assumed = strcmp(f->init_format, "cloop") ? f->init_format : "iso9660";
	size_t n = (size_t)snprintf(conf, size, "id=%s\nimage=/%s\nkver=%s\n", b->res->medium_id,
				    f->path, kver);

	if (strcmp(f->init_format, "squashfs"))
		n += (size_t)snprintf(conf + n, size - n, "format=%s\n", f->init_format);
	if (strcmp(f->fstype, assumed))
		n += (size_t)snprintf(conf + n, size - n, "fstype=%s\n", f->fstype);
	if (b->o->root_mode == MKL_ROOT_SYMLINK)
		n += (size_t)snprintf(conf + n, size - n, "root=symlink\nrwimage=/%s\n", RWIMAGE_PATH);
	n += (size_t)snprintf(conf + n, size - n, "modules=");
	for (const char *const *m = mkl_boot_modules_always; *m; m++)
		n += (size_t)snprintf(conf + n, size - n, "%s ", *m);
	for (const char *const *m = f->modules; m && *m; m++)
		n += (size_t)snprintf(conf + n, size - n, "%s ", *m);
	for (const char *const *m = mkl_verity_modules; b->o->image.verity && *m; m++)
		n += (size_t)snprintf(conf + n, size - n, "%s ", *m);
	for (const char *const *m = mkl_uki_modules; b->signer && *m; m++)
		n += (size_t)snprintf(conf + n, size - n, "%s ", *m);
	n--;	/* the last space */
	n += (size_t)snprintf(conf + n, size - n, "\n");
	if (b->o->findiso) {
		n += (size_t)snprintf(conf + n, size - n, "isomods=");
		for (const char *const *m = mkl_findiso_modules; *m; m++)
			n += (size_t)snprintf(conf + n, size - n, "%s%s", *m, m[1] ? " " : "\n");
	}
	{
		const struct mkl_live_opts *l = &b->o->live;
		const char *keys[] = { "user", "hostname", "locale", "keyboard", "timezone" };
		const char *vals[] = { l->user, l->hostname, l->locale, l->keyboard, l->timezone };

		for (size_t i = 0; i < 5; i++)
			if (vals[i] && n < size)
				n += (size_t)snprintf(conf + n, size - n, "%s=%s\n", keys[i], vals[i]);
		if (l->user && n < size)
			n += (size_t)snprintf(conf + n, size - n, "autologin=%s\n", l->autologin ? "yes" : "no");
	}
	if (b->signer && n < size)	/* the signed UKI's menu (bootmenu.c) */
		snprintf(conf + n, size - n, "%s", choices);
}

/* The initramfs: the modules chosen, then the archive's members in order.
 * Long (about 125 lines): one pass over what goes in, with one cleanup
 * path for the buffers it reads. */
int build_initramfs(struct build *b, const char *kver, struct mkl_buf *out, struct mkl_err *err)
{
	const struct mkl_build_opts *o = b->o;
	struct mkl_buf dep = { 0 }, alias = { 0 }, builtin = { 0 }, init = { 0 }, ko = { 0 }, raw = { 0 };
	struct mkl_buf persist = { 0 };
	bool ext2 = o->initrd_format == MKL_INITRD_EXT2;
	struct mkl_modsel sel = { 0 };
	struct mkl_cstream *cs = NULL;
	struct mkl_cpio *cp = NULL;
	char moddir[PATH_MAX], base[PATH_MAX], conf[4096], path[PATH_MAX], *choices = NULL;
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
		/* The boot set, and what the image format needs (nbd for cloop). */
		const char *wanted[64];
		size_t nw = 0;

		for (const char *const *m = mkl_boot_modules; *m && nw < 40; m++)
			wanted[nw++] = *m;
		for (const char *const *m = mkl_findiso_modules; o->findiso && *m && nw < 48; m++)
			wanted[nw++] = *m;
		for (const char *const *m = b->fmt->modules; m && *m && nw < 63; m++)
			wanted[nw++] = *m;
		for (const char *const *m = mkl_verity_modules; o->image.verity && *m && nw < 63; m++)
			wanted[nw++] = *m;
		for (const char *const *m = mkl_uki_modules; b->signer && *m && nw < 63; m++)
			wanted[nw++] = *m;
		wanted[nw] = NULL;
		if (mkl_modules_select((char *)dep.data, dep.len, (char *)alias.data, alias.len,
				       (char *)builtin.data, builtin.len, wanted, &sel, err))
			goto out;
	}
	for (i = 0; i < sel.nmissing; i++)
		build_note(b, "module %s: not in this kernel (neither a module nor built in)", sel.missing[i]);
	b->res->modules = sel.npaths;
	build_note(b, "initramfs: %zu modules with their dependencies", sel.npaths);

	if (mkl_read_file(o->init, &init, false, err)) {
		mkl_err_prefix(err, "the init program (build it with 'make', or pass --init)");
		goto out;
	}
	if (o->helper_program && mkl_read_file(o->helper_program, &persist, false, err)) {
		mkl_err_prefix(err, "mklive-helper (build it with 'make')");
		goto out;
	}
	/* ext2: the archive is made whole first, then becomes the filesystem. */
	if (mkl_cstream_create(ext2 ? MKL_CODEC_NONE : o->initrd_codec, initrd_level(o), mkl_buf_sink,
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
	if (b->signer && !(choices = mkl_sdboot_choices())) {
		mkl_error(err, ENOMEM, "out of memory");
		goto out;
	}
	initramfs_conf(b, kver, choices, conf, sizeof(conf));
	if ((persist.len && mkl_cpio_add(cp, "mklive-helper", S_IFREG | 0755, 0, 0, 0, t, persist.data,
					 persist.len, err)) ||
	    mkl_cpio_add(cp, "init", S_IFREG | 0755, 0, 0, 0, t, init.data, init.len, err) ||
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
	mkl_buf_free(&raw);
	mkl_cpio_destroy(cp);
	mkl_cstream_destroy(cs);
	mkl_modsel_free(&sel);
	mkl_buf_free(&dep);
	mkl_buf_free(&alias);
	mkl_buf_free(&builtin);
	mkl_buf_free(&init);
	mkl_buf_free(&persist);
	mkl_buf_free(&ko);
	free(choices);
	return ret;
}

