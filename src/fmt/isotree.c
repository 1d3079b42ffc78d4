/* ISO 9660 + Rock Ridge image of a tree, streamed (see isotree.h).
 *
 * The libisofs tree is built from ours node by node: no file is read and
 * nothing is copied until libisofs's writer thread asks for the bytes,
 * through the stream class of isolib.c, whose source below calls the content
 * callback at the offset libisofs is at (a stream can be opened and read
 * again from the start). The burn source is then read in 64 KiB pieces and
 * each one is handed to the sink: no seek, no temporary file.
 *
 * Reproducibility. Every input to libisofs comes from the tree; the volume
 * times (and the volume "uuid") come from opts->time. Stream ids are ours
 * (a fixed fs id and the inode's index in tree order), not libisofs's
 * process-wide counter. Rock Ridge is written as RRIP 1.10 without inode
 * numbers in PX: libisofs numbers directories, symlinks and device nodes in
 * the order of their addresses in memory (iso_node_cmp_flag() falls back to
 * comparing pointers), and it has no public call to set them, so RRIP 1.12
 * serial numbers cannot be made reproducible. Linux's isofs numbers inodes
 * by directory record position anyway.
 *
 * Hard links: every name of one inode gets the same IsoStream object, so
 * libisofs writes the content once and points every name at it, and
 * (hard-link matching on) the PX link count says how many names share it.
 * Without inode numbers, xorriso and libarchive see separate files with
 * equal content; Linux sees separate inodes on the same extent.
 *
 * Device numbers: Rock Ridge PN holds two 32-bit halves; libisofs writes
 * the halves of dev_t. Linux's isofs reads "high 0, low > 255" as the old
 * major<<8|minor form and anything else as (high major, low minor). glibc's
 * dev_t is that old form for majors < 4096 and minors < 256, which every
 * reader then agrees on; other numbers are written as (major, minor), which
 * is what Linux reads (xorriso then shows them wrong).
 *
 * Errors on the writer thread: libisofs reports a stream read error as a
 * message and goes on with zeros, so the stream keeps the first error in a
 * shared slot, and the reading side stops the writer as soon as it sees it.
 *
 * libisofs keeps global state: iso_init() runs once per process from here
 * (fmt/iso.c does the same; a second iso_init() only resets the message
 * severities, which both set alike) and is never undone.
 */
#include "fmt/isolib.h"
#include "fmt/isotree.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <time.h>

#include "fmt/iso.h"

#define FS_ID 0x6d6b7472u	/* "mktr": our streams' file system id */


/* --- content streams --- */

/* Shared by the streams (writer thread) and the reading side. */
struct shared {
	mkl_content_fn content;
	void *ctx;
	pthread_mutex_t lock;
	int failed;
	struct mkl_err err;
};

struct tsource {
	struct shared *sh;
	const struct mkl_node *node;	/* the inode (hard-link leader) */
};

static void shared_fail(struct shared *sh, const struct mkl_err *e)
{
	pthread_mutex_lock(&sh->lock);
	if (!sh->failed) {
		sh->failed = 1;
		sh->err = *e;
	}
	pthread_mutex_unlock(&sh->lock);
}

static int shared_failed(struct shared *sh, struct mkl_err *out)
{
	int failed;

	pthread_mutex_lock(&sh->lock);
	failed = sh->failed;
	if (failed && out)
		*out = sh->err;
	pthread_mutex_unlock(&sh->lock);
	return failed;
}

static int ts_read(void *data, uint64_t pos, void *buf, size_t count)
{
	struct tsource *t = data;
	struct mkl_err e = {0};

	if (shared_failed(t->sh, NULL))
		return (int)ISO_FILE_READ_ERROR;
	if (mkl_cancelled()) {
		mkl_error(&e, ECANCELED, "writing the ISO image: cancelled");
		shared_fail(t->sh, &e);
		return (int)ISO_FILE_READ_ERROR;
	}
	if (t->sh->content(t->sh->ctx, t->node, pos, buf, count, &e) < 0) {
		char *path = mkl_node_path(t->node);

		if (!e.msg[0])
			mkl_error(&e, EIO, "cannot read the content");
		mkl_err_prefix(&e, "reading '%s' at %llu", path ? path : "?",
			       (unsigned long long)pos);
		free(path);
		shared_fail(t->sh, &e);
		return (int)ISO_FILE_READ_ERROR;
	}
	return (int)count;
}

static const struct mkl_isolib_source tsource = {
	.read = ts_read,
	.release = free,
};

static IsoStream *tstream_new(struct shared *sh, const struct mkl_node *inode, ino_t ino,
			      struct mkl_err *err)
{
	struct tsource *t = mkl_calloc(1, sizeof(*t), err);

	if (!t)
		return NULL;
	t->sh = sh;
	t->node = inode;
	return mkl_isolib_stream(&tsource, t, inode->size, FS_ID, ino, err);
}

/* --- building the libisofs tree --- */

/* The stream of a hard-linked inode, found by its leader's address. */
struct link {
	const struct mkl_node *leader;
	IsoStream *stream;	/* one reference held here */
};

struct build {
	IsoImage *image;
	struct shared *sh;
	struct link *links;	/* sorted by leader address */
	size_t nlinks, caplinks;
	ino_t next_ino;
	int xattrs;		/* some node has xattrs: write AAIP */
	int err_named;		/* the error names its path already (set by add_dir) */
};

static int link_cmp(const void *a, const void *b)
{
	const struct mkl_node *x = ((const struct link *)a)->leader;
	const struct mkl_node *y = ((const struct link *)b)->leader;

	return x < y ? -1 : x > y;
}

/* First pass: every regular inode with more than one name. */
static int collect_links(void *ctx, struct mkl_node *node, struct mkl_err *err)
{
	struct build *b = ctx;
	struct link *l;

	if (node->link || !mkl_is_reg(node) || node->nlink < 2)
		return 0;
	if (b->nlinks == b->caplinks) {
		size_t cap = b->caplinks ? b->caplinks * 2 : 64;

		l = realloc(b->links, cap * sizeof(*l));
		if (!l)
			return mkl_error(err, ENOMEM, "out of memory");
		b->links = l;
		b->caplinks = cap;
	}
	b->links[b->nlinks].leader = node;
	b->links[b->nlinks].stream = NULL;
	b->nlinks++;
	return 0;
}

static struct link *find_link(struct build *b, const struct mkl_node *leader)
{
	struct link key = { leader, NULL };

	if (!b->nlinks)
		return NULL;
	return bsearch(&key, b->links, b->nlinks, sizeof(key), link_cmp);
}

/* The dev_t to give libisofs for a device number (see the top). */
static dev_t pn_dev(uint64_t rdev)
{
	unsigned int ma = major((dev_t)rdev), mi = minor((dev_t)rdev);

	if (ma < 4096 && mi < 256)
		return makedev(ma, mi);
	return ((dev_t)ma << 32) | mi;
}

static int set_xattrs(IsoNode *in, const struct mkl_node *ino, struct mkl_err *err)
{
	const struct mkl_xattr *x;
	size_t n = 0, i = 0;
	char **names, **values;
	size_t *lens;
	int ret;

	for (x = ino->xattrs; x; x = x->next)
		if (strncmp(x->name, "isofs.", 6) != 0)
			n++;
	if (!n)
		return 0;
	names = mkl_calloc(n, sizeof(*names), err);
	values = names ? mkl_calloc(n, sizeof(*values), err) : NULL;
	lens = values ? mkl_calloc(n, sizeof(*lens), err) : NULL;
	if (!lens) {
		free(names);
		free(values);
		return -1;
	}
	for (x = ino->xattrs; x; x = x->next) {
		if (strncmp(x->name, "isofs.", 6) == 0)
			continue;	/* libisofs's own namespace */
		names[i] = x->name;
		values[i] = (char *)x->value;
		lens[i] = x->size;
		i++;
	}
	/* bit3: names outside "user." too; ACLs stay as plain xattrs. */
	ret = iso_node_set_attrs(in, n, names, lens, values, 8);
	free(names);
	free(values);
	free(lens);
	if (ret < 0)
		return mkl_isolib_fail(err, ret, "cannot set xattrs");
	return 1;
}

static int set_attrs(struct build *b, IsoNode *in, const struct mkl_node *ino,
		     struct mkl_err *err)
{
	time_t t = (time_t)ino->mtime;
	int ret;

	iso_node_set_permissions(in, (mode_t)(ino->mode & 07777));
	iso_node_set_uid(in, (uid_t)ino->uid);
	iso_node_set_gid(in, (gid_t)ino->gid);
	iso_node_set_mtime(in, t);
	iso_node_set_atime(in, t);
	iso_node_set_ctime(in, t);
	ret = set_xattrs(in, ino, err);
	if (ret < 0)
		return -1;
	if (ret > 0)
		b->xattrs = 1;
	return 0;
}

static int add_dir(struct build *b, IsoDir *dir, struct mkl_node *d, struct mkl_err *err);

static int add_node(struct build *b, IsoDir *dir, struct mkl_node *n, struct mkl_err *err)
{
	struct mkl_node *ino = mkl_node_inode(n);
	uint32_t type = ino->mode & S_IFMT;
	IsoNode *in = NULL;
	int ret;

	if (mkl_cancelled())
		return mkl_error(err, ECANCELED, "writing the ISO image: cancelled");
	if (type == S_IFDIR) {
		IsoDir *sub;

		ret = iso_image_add_new_dir(b->image, dir, n->name, &sub);
		if (ret < 0)
			goto fail;
		if (set_attrs(b, (IsoNode *)sub, ino, err) < 0)
			return -1;
		return add_dir(b, sub, n, err);
	} else if (type == S_IFREG) {
		struct link *l = find_link(b, ino);
		IsoStream *s;
		IsoFile *f;

		if (l && l->stream) {
			s = l->stream;
			iso_stream_ref(s);
		} else {
			s = tstream_new(b->sh, ino, ++b->next_ino, err);
			if (!s)
				return -1;
			if (l) {
				l->stream = s;
				iso_stream_ref(s);
			}
		}
		/* The new file takes one reference to the stream. */
		ret = iso_image_add_new_file(b->image, dir, n->name, s, &f);
		if (ret < 0) {
			iso_stream_unref(s);
			goto fail;
		}
		in = (IsoNode *)f;
	} else if (type == S_IFLNK) {
		IsoSymlink *l;

		ret = iso_image_add_new_symlink(b->image, dir, n->name,
						ino->target ? ino->target : "", &l);
		if (ret < 0)
			goto fail;
		in = (IsoNode *)l;
	} else if (type == S_IFCHR || type == S_IFBLK || type == S_IFIFO || type == S_IFSOCK) {
		IsoSpecial *sp;
		dev_t dev = (type == S_IFCHR || type == S_IFBLK) ? pn_dev(ino->rdev) : 0;

		ret = iso_image_add_new_special(b->image, dir, n->name, (mode_t)ino->mode, dev,
						&sp);
		if (ret < 0)
			goto fail;
		in = (IsoNode *)sp;
	} else {
		return mkl_error(err, EINVAL, "unknown file type 0%o", (unsigned)type);
	}
	return set_attrs(b, in, ino, err);
fail:
	{
		char last[ISO_MSGS_MESSAGE_LEN] = "";

		mkl_isolib_drain(last, sizeof(last));
		return mkl_error(err, ret == (int)ISO_OUT_OF_MEM ? ENOMEM : 0, "%s",
				 last[0] ? last : iso_error_to_msg(ret));
	}
}

static int add_dir(struct build *b, IsoDir *dir, struct mkl_node *d, struct mkl_err *err)
{
	struct mkl_node *c;

	for (c = d->children; c; c = c->next) {
		if (add_node(b, dir, c, err) < 0) {
			char *path;

			/* Name the deepest failing path once: the directories
			 * above it see the flag. */
			if (b->err_named || err->code == ECANCELED)
				return -1;
			path = mkl_node_path(c);
			mkl_err_prefix(err, "cannot add '%s' to the ISO image",
				       path ? path : c->name);
			free(path);
			b->err_named = 1;
			return -1;
		}
	}
	return 0;
}

/* --- options --- */

static int make_opts(const struct mkl_isotree_opts *o, int aaip, IsoWriteOpts **out,
		     struct mkl_err *err)
{
	IsoWriteOpts *w;
	time_t t = (time_t)o->time;
	char uuid[80];
	struct tm tm;
	int ret;

	if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 1 || tm.tm_year + 1900 > 9999)
		return mkl_error(err, EINVAL, "time %lld cannot be written in an ISO image",
				 (long long)o->time);
	ret = iso_write_opts_new(&w, 0);
	if (ret < 0)
		return mkl_isolib_fail(err, ret, "cannot make ISO write options");
	iso_write_opts_set_iso_level(w, 3);
	iso_write_opts_set_rockridge(w, 1);
	iso_write_opts_set_joliet(w, 0);
	iso_write_opts_set_aaip(w, aaip);
	/* RRIP 1.10 without serial numbers (see the top); hard-link
	 * matching for the link counts. */
	iso_write_opts_set_rrip_version_1_10(w, 1);
	iso_write_opts_set_rrip_1_10_px_ino(w, 0);
	iso_write_opts_set_hardlinks(w, 1);
	/* ISO 9660 names are fallbacks: relaxed, and no relocation of deep
	 * directories (Rock Ridge readers do not need it). */
	iso_write_opts_set_allow_deep_paths(w, 1);
	iso_write_opts_set_allow_longer_paths(w, 1);
	iso_write_opts_set_max_37_char_filenames(w, 1);
	iso_write_opts_set_omit_version_numbers(w, 1);
	iso_write_opts_set_no_force_dots(w, 1);
	iso_write_opts_set_allow_full_ascii(w, 1);
	iso_write_opts_set_allow_dir_id_ext(w, 1);
	/* Node metadata as it is in the tree, times in GMT. */
	iso_write_opts_set_replace_mode(w, 0, 0, 0, 0);
	iso_write_opts_set_replace_timestamps(w, 0);
	iso_write_opts_set_dir_rec_mtime(w, 1);
	iso_write_opts_set_always_gmt(w, 1);
	snprintf(uuid, sizeof(uuid), "%04d%02d%02d%02d%02d%02d00", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	ret = iso_write_opts_set_pvd_times(w, t, t, 0, 0, uuid);
	if (ret < 0) {
		iso_write_opts_free(w);
		return mkl_isolib_fail(err, ret, "cannot set ISO write options");
	}
	*out = w;
	return 0;
}

/* --- streaming out --- */

/* Where the image goes: the sink, unless a stream failed. */
struct dest {
	struct shared *sh;
	mkl_sink_fn sink;
	void *ctx;
};

static int sink_chunk(void *ctx, unsigned char *buf, size_t len, uint64_t done,
		      struct mkl_err *err)
{
	struct dest *d = ctx;

	if (shared_failed(d->sh, err))
		return -1;
	return len ? d->sink(d->ctx, buf, len, err) : 0;
}

int mkl_isotree_write(struct mkl_tree *tree, const struct mkl_isotree_opts *opts,
		      mkl_content_fn content, void *content_ctx, mkl_sink_fn sink, void *sink_ctx,
		      uint64_t *size_out, struct mkl_err *err)
{
	struct build b = {0};
	struct shared *sh = NULL;
	struct burn_source *bs = NULL;
	IsoWriteOpts *wopts = NULL;
	struct mkl_node *root;
	uint64_t total = 0;
	size_t i;
	int ret, rc = -1;

	if (size_out)
		*size_out = 0;
	if (!tree || !opts || !content || !sink)
		return mkl_error(err, EINVAL, "cannot write an ISO image of a tree: missing "
				 "tree, options, content or sink");
	if (mkl_iso_check_label(opts->volume_id, err) < 0)
		return -1;
	root = mkl_tree_root(tree);
	if (!mkl_is_dir(root))
		return mkl_error(err, EINVAL, "cannot write an ISO image of a tree whose root "
				 "is not a directory");
	if (mkl_isolib_setup(err))
		return -1;

	sh = mkl_calloc(1, sizeof(*sh), err);
	if (!sh)
		return -1;
	sh->content = content;
	sh->ctx = content_ctx;
	pthread_mutex_init(&sh->lock, NULL);
	b.sh = sh;

	if (mkl_tree_walk(tree, collect_links, &b, err) < 0)
		goto out;
	if (b.nlinks)
		qsort(b.links, b.nlinks, sizeof(*b.links), link_cmp);

	ret = iso_image_new(opts->volume_id, &b.image);
	if (ret < 0) {
		mkl_isolib_fail(err, ret, "cannot make an ISO image");
		b.image = NULL;
		goto out;
	}
	/* Names longer than 255 bytes are an error, never truncated (the
	 * tree refuses them anyway). */
	iso_image_set_truncate_mode(b.image, 0, 255);
	iso_image_set_volume_id(b.image, opts->volume_id);
	iso_image_set_application_id(b.image, "MKLIVE");
	iso_image_set_publisher_id(b.image, "MKLIVE");
	iso_image_set_data_preparer_id(b.image, "MKLIVE");
	iso_image_set_system_id(b.image, "LINUX");
	if (set_attrs(&b, (IsoNode *)iso_image_get_root(b.image), root, err) < 0 ||
	    add_dir(&b, iso_image_get_root(b.image), root, err) < 0)
		goto out;
	if (make_opts(opts, b.xattrs, &wopts, err) < 0)
		goto out;

	if (mkl_isolib_start(b.image, wopts, &bs, &total, err) < 0)
		goto out;
	{
		struct dest d = { sh, sink, sink_ctx };

		if (mkl_isolib_pump(bs, total, sink_chunk, &d, err) < 0)
			goto out;
	}
	if (size_out)
		*size_out = total;
	rc = 0;
out:
	mkl_isolib_stop(bs, rc < 0);
	iso_write_opts_free(wopts);
	for (i = 0; i < b.nlinks; i++)
		if (b.links[i].stream)
			iso_stream_unref(b.links[i].stream);
	free(b.links);
	if (b.image)
		iso_image_unref(b.image);
	mkl_isolib_drain(NULL, 0);
	pthread_mutex_destroy(&sh->lock);
	free(sh);
	return rc;
}
