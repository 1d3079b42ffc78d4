/* The pipeline from a root tree to a bootable ISO (see build.h). */
#include "pipeline/build.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipeline/internal.h"
#include "codec/codec.h"
#include "fmt/iso.h"
#include "source/recipe.h"
#include "source/source.h"
#include "tree/outfile.h"
#include "tree/tree.h"

static int part_of(const struct build *b, const char *path)
{
	if (b->o->root_mode == MKL_ROOT_SYMLINK && !mkl_layout_inside(&b->layout, path))
		return PART_RW;
	return PART_IMAGE;
}

void build_note(struct build *b, const char *fmt, ...)
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

static void hash_entry(uint64_t *h, const struct mkl_source_entry *e)
{
	uint64_t v[5] = { e->st.mode, e->st.uid, e->st.gid, e->st.size, (uint64_t)e->st.mtime };

	mkl_hash_bytes(h, e->path, strlen(e->path) + 1);
	mkl_hash_bytes(h, v, sizeof(v));
}

/* Compressing ahead: a recipe's tree is made for a minute or more before
 * its tar begins; the image's writer may compress its files meanwhile
 * (squashfs.h). Started once both the directory is known (the source's
 * thread says so) and the image is open, whichever comes last; never once
 * the first entry has been read. An error is a note: the build goes on
 * without. Call with ahead_mu held. */
static void start_ahead(struct build *b)
{
	struct mkl_err e = { 0 };
	struct mkl_image *img = b->part[PART_IMAGE];

	if (!b->ahead_dir || b->ahead_closed || !img)
		return;
	if (mkl_image_ahead(img, b->ahead_dir, &e))
		build_note(b, "not compressing ahead: %s", e.msg);
	else
		build_note(b, "compressing ahead in %s while it is made", b->ahead_dir);
	free(b->ahead_dir);
	b->ahead_dir = NULL;
}

static void on_tree(void *ctx, const char *dir)
{
	struct build *b = ctx;

	pthread_mutex_lock(&b->ahead_mu);
	if (!b->ahead_dir && !b->ahead_closed) {
		b->ahead_dir = strdup(dir);
		start_ahead(b);
	}
	pthread_mutex_unlock(&b->ahead_mu);
}

static void close_ahead(struct build *b)
{
	pthread_mutex_lock(&b->ahead_mu);
	b->ahead_closed = true;
	free(b->ahead_dir);
	b->ahead_dir = NULL;
	pthread_mutex_unlock(&b->ahead_mu);
}

/* Read the source once: the tree gets the metadata, the squashfs the bytes. */
static int pass_source(struct build *b, struct mkl_err *err)
{
	struct mkl_source_entry e;
	uint64_t done, total;
	int r;

	while ((r = mkl_source_next(b->src, &e, err)) == 1) {
		struct mkl_node *n;

		if (!b->ahead_closed)	/* the tree is done: nothing more ahead */
			close_ahead(b);

		if (mkl_cancelled())
			return mkl_error(err, ECANCELED, "cancelled");
		hash_entry(&b->hash, &e);
		if (e.hardlink) {
			if (mkl_tree_add_hardlink(b->tree, e.path, e.hardlink, &n, err))
				return -1;
			if (part_of(b, e.path) == PART_IMAGE)
				b->res->hardlinks++;
		} else {
			if (mkl_tree_add(b->tree, e.path, &e.st, &n, err))
				return -1;
			if (mkl_is_reg(n)) {
				if (mkl_image_add(b->part[part_of(b, e.path)], n, mkl_source_read,
						  b->src, err))
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

/* Say, through o->warn, what the image format cannot carry when the tree
 * has it (its row's limits), and which format keeps it. */
static void warn_limits(struct build *b)
{
	const struct mkl_image_format *keeps = NULL;
	char line[512];

	if (!b->o->warn || !b->fmt->limits || b->fmt->hardlinks || !b->res->hardlinks)
		return;
	/* A row that keeps hard links, the nearest first: booted the same way. */
	for (const struct mkl_image_format *f = mkl_image_formats; f->name; f++)
		if (f->hardlinks && (!keeps || (!strcmp(f->init_format, b->fmt->init_format) &&
						strcmp(keeps->init_format, b->fmt->init_format))))
			keeps = f;
	snprintf(line, sizeof(line), "the tree has %zu hard link%s, and a %s image cannot keep "
		 "them: %s%s%s%s", b->res->hardlinks, b->res->hardlinks == 1 ? "" : "s",
		 b->fmt->name, b->fmt->limits, keeps ? "; --image-format " : "",
		 keeps ? keeps->name : "", keeps ? " keeps them" : "");
	b->o->warn(b->o->ctx, line);
}

/* [live]: a time zone or keyboard layout the tree lacks is still written
 * into /mklive.conf (a boot option may name another), but the init will
 * leave the tree's: said now, where it can be fixed. */
static void warn_live(struct build *b)
{
	const struct mkl_live_opts *l = &b->o->live;
	char path[128], line[300];
	struct mkl_node *n;

	if (!b->o->warn)
		return;
	if (l->timezone) {
		snprintf(path, sizeof(path), "usr/share/zoneinfo/%s", l->timezone);
		n = mkl_tree_resolve(b->tree, path);
		if (!n || !mkl_is_reg(n)) {
			snprintf(line, sizeof(line), "[live] timezone %s: the tree has no /%s (package "
				 "tzdata): the live system keeps the tree's zone", l->timezone, path);
			b->o->warn(b->o->ctx, line);
		}
	}
	if (l->keyboard && mkl_tree_resolve(b->tree, "usr/share/X11/xkb/symbols")) {
		snprintf(path, sizeof(path), "usr/share/X11/xkb/symbols/%.*s",
			 (int)strcspn(l->keyboard, "("), l->keyboard);
		if (!mkl_tree_resolve(b->tree, path)) {
			snprintf(line, sizeof(line), "[live] keyboard %s: the tree has no /%s: the live "
				 "system keeps the tree's layout", l->keyboard, path);
			b->o->warn(b->o->ctx, line);
		}
	}
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

	if (mkl_tree_add(b->tree, path, &st, &n, err))
		return -1;
	return mkl_image_add(b->part[part_of(b, path)], n, mem_read, &m, err);
}

static int add_own_link(struct build *b, const char *path, const char *target, struct mkl_err *err)
{
	struct mkl_stat st = { .mode = S_IFLNK | 0777, .mtime = b->o->time, .target = target };
	struct mkl_node *n;

	return mkl_tree_add(b->tree, path, &st, &n, err);
}

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
	struct mkl_buf prog = { 0 };
	int rc;

	if (!o->media)
		return 0;
	if (!mkl_tree_resolve(b->tree, "usr/sbin/automount") || !mkl_tree_resolve(b->tree, "etc/udev")) {
		if (o->media > 0)
			return mkl_error(err, 0, "--media yes: the tree has no autofs and udev "
					 "(/usr/sbin/automount, /etc/udev): install the autofs and udev packages in it");
		build_note(b, "/media/list: not set up (no autofs or udev in the tree)");
		return 0;
	}
	if (!o->media_program)
		return mkl_error(err, EINVAL, "/media/list: no mklive-media program given");
	if (mkl_read_file(o->media_program, &prog, false, err)) {
		mkl_buf_free(&prog);
		return mkl_err_prefix(err, "/media/list needs mklive-media (build it with 'make')");
	}
	rc = add_own_file(b, "usr/lib/mklive/mklive-media", 0755, prog.data, prog.len, err) ||
	     add_own_file(b, "etc/auto.master.d/mklive.autofs", 0644, master, strlen(master), err) ||
	     add_own_file(b, "etc/udev/rules.d/90-mklive-media.rules", 0644, rule, strlen(rule), err) ||
	     add_own_link(b, "media/list", "/run/mklive-media", err) ? -1 : 0;
	mkl_buf_free(&prog);
	if (rc)
		return mkl_err_prefix(err, "/media/list");
	build_note(b, "/media/list: mklive-media, the autofs map for /media/.auto and a udev rule installed");
	b->res->media = true;
	return 0;
}

int build_read_node(struct build *b, struct mkl_node *n, const char *what, struct mkl_buf *out,
		     struct mkl_err *err)
{
	char *path;
	struct mkl_image *img;

	if (!n || !mkl_is_reg(n))
		return mkl_error(err, ENOENT, "'%s' is not a regular file in the tree", what);
	/* The part that holds the bytes is the one the leader's path went to. */
	path = mkl_node_path(mkl_node_inode(n));
	if (!path)
		return mkl_error(err, ENOMEM, "out of memory");
	img = b->part[part_of(b, path)];
	free(path);
	if (mkl_image_read(img, n, mkl_buf_sink, out, err))
		return mkl_err_prefix(err, "reading '%s' back from the image", what);
	return 0;
}

/* The image is written straight into the output ISO where the format can
 * (squashfs), from PLACE_AT on, and the ISO writer lays it out there: its
 * 200 MB are written once, not to a scratch file and again into the ISO.
 * PLACE_AT is past the ISO's metadata and checksum list (about 80 KB with
 * every boot option; the ISO writer fails if they ever grow past it); the
 * rest of the gap is padding on the medium. */
#define PLACE_AT (256u << 10)

/* The image in the chosen format and, in symlink mode, the writable root
 * (squashfs: with the image's settings when that is squashfs too). */
static int open_parts(struct build *b, int out_fd, struct mkl_err *err)
{
	const struct mkl_build_opts *o = b->o;
	struct mkl_image_opts io = o->image, rw;

	io.place_fd = out_fd;
	io.place_at = PLACE_AT;
	io.output = o->output;
	io.time = o->time;
	io.label = o->label;
	io.note = o->note;
	io.note_ctx = o->ctx;
	if (mkl_image_open(b->fmt, &io, &b->part[PART_IMAGE], err))
		return -1;
	pthread_mutex_lock(&b->ahead_mu);
	start_ahead(b);
	pthread_mutex_unlock(&b->ahead_mu);
	if (o->root_mode != MKL_ROOT_SYMLINK)
		return 0;
	rw = b->fmt == mkl_image_formats ? io : (struct mkl_image_opts){
		.output = io.output, .time = io.time, .threads = io.threads };
	rw.place_at = 0;	/* one file placed at most: the image */
	return mkl_image_open(mkl_image_formats, &rw, &b->part[PART_RW], err);
}

/* Every menu entry's common arguments: with --verity the root hashes of
 * the image and, in symlink mode, of the writable root (mklive.verity=
 * IMAGE[,RW]), known only now that both are finished; then
 * --append. The menus (bootmenu.c), the floppy and the signed UKI all
 * take their command lines from here. */
static int verity_args(struct build *b, char **out)
{
	const struct mkl_image *img = b->part[PART_IMAGE], *rw = b->part[PART_RW];
	const char *append = b->o->append ? b->o->append : "";

	int r;

	if (!img->o.verity)
		return (*out = strdup(append)) ? 0 : -1;
	if (rw && rw->o.verity)
		r = asprintf(out, "mklive.verity=%s,%s%s%s", img->verity_root,
			     rw->verity_root, append[0] ? " " : "", append);
	else
		r = asprintf(out, "mklive.verity=%s%s%s", img->verity_root, append[0] ? " " : "", append);
	if (r < 0)
		*out = NULL;
	return r < 0 ? -1 : 0;
}

/* The build's sequence (docs/ARCHITECTURE.md, the pipeline). Long (about
 * 125 lines) so that it reads as that list, with one cleanup path; each
 * step is a function of its own. */
int mkl_build(const struct mkl_build_opts *o, struct mkl_build_result *res, struct mkl_err *err)
{
	struct build b = { .o = o, .res = res, .hash = MKL_HASH_INIT,
			   .fmt = o->image_format ? o->image_format : mkl_image_formats,
			   .ahead_mu = PTHREAD_MUTEX_INITIALIZER };
	struct mkl_recipe recipe;
	struct mkl_outfile out = { .fd = -1 };
	struct mkl_buf kernel = { 0 }, initrd = { 0 };
	struct stat st;
	int ret = -1;

	memset(res, 0, sizeof(*res));
	if (mkl_iso_check_label(o->label ? o->label : "MKLIVE", err) ||
	    mkl_image_check(b.fmt, &o->image, err))
		return -1;
	if (o->root_mode == MKL_ROOT_SYMLINK && mkl_layout_parse(o->read_only, &b.layout, err))
		return -1;
	if (stat(o->init, &st) || !S_ISREG(st.st_mode)) {
		mkl_error(err, errno ? errno : EINVAL, "cannot use init program '%s'", o->init);
		goto fail;
	}
	if (build_find_uefi(&b, err))
		goto fail;
	if (o->recipe) {	/* its tree's directory, for compressing ahead */
		recipe = *o->recipe;
		recipe.tree = on_tree;
		recipe.tree_ctx = &b;
	}
	/* The output and the image first: a recipe's source takes minutes to
	 * give its first entry (opening it reads the tar's first block), and
	 * the image compresses ahead meanwhile. */
	if (mkl_outfile_open(&out, o->output, false, err) ||
	    !(b.tree = mkl_tree_create(err)) || open_parts(&b, out.fd, err) ||
	    (o->recipe ? mkl_source_recipe_open(&recipe, &b.src, err) : mkl_source_open(o->source, &b.src, err)))
		goto fail;

	build_note(&b, "reading '%s'", o->source);
	if (pass_source(&b, err) || add_media(&b, err) || mkl_tree_finish(b.tree, err))
		goto fail;
	warn_limits(&b);
	warn_live(&b);
	if (o->root_mode == MKL_ROOT_SYMLINK) {
		if (mkl_layout_split(&b.layout, b.tree, &b.split, err))
			goto fail;
		res->ro_dirs = b.split.ro_dirs;
		build_note(&b, "layout: %zu read-only directories in the image, the rest in the "
		     "writable root (checked both ways)%s%s", b.split.ro_dirs,
		     b.split.notes[0] ? "; left as they are: " : "", b.split.notes);
		if (mkl_image_finish(b.part[PART_RW], b.split.rw, err))
			goto fail;
		res->rw_bytes = b.part[PART_RW]->bytes;
		build_note(&b, "writable root: %" PRIu64 " bytes", res->rw_bytes);
	}
	if (mkl_image_finish(b.part[PART_IMAGE], o->root_mode == MKL_ROOT_SYMLINK ? b.split.ro : b.tree,
			     err))
		goto fail;
	res->squashfs_bytes = b.part[PART_IMAGE]->bytes;
	build_note(&b, "%s: %zu entries, %" PRIu64 " bytes of files -> %" PRIu64 " bytes",
		   b.fmt->name, res->entries, res->input_bytes, res->squashfs_bytes);

	/* The medium's ID: a digest of the tree's metadata, the label and the
	 * build time, so equal inputs give equal images and two different
	 * sticks plugged in at once are told apart. */
	mkl_hash_bytes(&b.hash, &o->time, sizeof(o->time));
	mkl_hash_bytes(&b.hash, o->label ? o->label : "MKLIVE", strlen(o->label ? o->label : "MKLIVE"));
	mkl_hash_bytes(&b.hash, &o->root_mode, sizeof(o->root_mode));
	{
		int row = (int)(b.fmt - mkl_image_formats);	/* as the enum it was */

		mkl_hash_bytes(&b.hash, &row, sizeof(row));
	}
	snprintf(res->medium_id, sizeof(res->medium_id), "MKLIVE-%016" PRIx64, b.hash);
	if (build_sum_image(&b, err))
		goto fail;

	if (build_find_kernel(&b, &kernel, res->kernel_version, sizeof(res->kernel_version), err))
		goto fail;
	if (o->progress)
		o->progress(o->ctx, MKL_PHASE_INITRAMFS, 0, 1);
	if (verity_args(&b, &b.append) < 0) {
		mkl_error(err, ENOMEM, "out of memory");
		goto fail;
	}
	if (build_initramfs(&b, res->kernel_version, &initrd, err))
		goto fail;
	res->initrd_bytes = initrd.len;
	build_note(&b, "initramfs: %zu bytes (%s)", initrd.len, mkl_codec_name(o->initrd_codec));
	if (mkl_cancelled()) {
		mkl_error(err, ECANCELED, "cancelled");
		goto fail;
	}
	if (build_write_iso(&b, out.fd, &kernel, &initrd, err))
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
	close_ahead(&b);	/* before the image goes: no start from mmdebstrap's thread */
	if (b.isum) {
		struct mkl_err ignored;

		build_sum_image_wait(&b, NULL, &ignored);
		free(b.isum);
	}
	mkl_outfile_close(&out);
	mkl_buf_free(&kernel);
	mkl_buf_free(&initrd);
	mkl_buf_free(&b.shim);
	mkl_buf_free(&b.grub);
	build_signing_free(&b);
	for (int i = 0; i < NPARTS; i++)
		mkl_image_destroy(b.part[i]);
	mkl_layout_split_free(&b.split);
	mkl_layout_free(&b.layout);
	mkl_tree_destroy(b.tree);
	mkl_source_close(b.src);
	free(b.append);
	return ret;
}
