/* A source read into a file list for the FAT writer (see fat.h): the
 * entries go into a tree (a tar may name a file before its directory, or
 * twice), the contents into a spool, and the finished tree is walked in
 * pre-order into the list, with symbolic links resolved in the tree. */
#include "fmt/fat_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct input_walk {
	struct mkl_fat_input *in;
	const char *name;
};

static int list_add(struct mkl_fat_input *in, char *path, const struct mkl_node *n, struct mkl_err *err)
{
	struct mkl_fat_file *f;

	if (in->n == in->cap) {
		size_t cap = in->cap ? in->cap * 2 : 64;
		struct mkl_fat_file *nf = realloc(in->files, cap * sizeof(*nf));

		if (!nf) {
			free(path);
			return mkl_error(err, ENOMEM, "out of memory");
		}
		in->files = nf;
		in->cap = cap;
	}
	f = &in->files[in->n++];
	memset(f, 0, sizeof(*f));
	f->path = path;
	f->fd = -1;
	if (n) {
		const struct mkl_node *inode = mkl_node_inode((struct mkl_node *)n);

		f->size = inode->size;
		f->spool = &in->spool;
		f->rec = inode->data;
	}
	return 0;
}

static int not_regular(const char *name, const char *path, struct mkl_err *err)
{
	return mkl_error(err, 0, "'%s/%s' is not a regular file or directory", name, path);
}

/* One node of the finished tree: a directory as "path/", a file with its
 * content, a link as the file it points to. */
static int add_node_of(void *ctx, struct mkl_node *n, struct mkl_err *err)
{
	struct input_walk *w = ctx;
	const struct mkl_node *target = n;
	char *path, *dpath;

	if (!n->parent)
		return 0;	/* the root */
	path = mkl_node_path(n);
	if (!path)
		return mkl_error(err, ENOMEM, "out of memory");
	if (mkl_is_lnk(n)) {
		target = mkl_tree_resolve(w->in->tree, path);
		if (!target)
			mkl_error(err, ENOENT, "cannot stat '%s/%s': the link's target '%s' is not in the tree",
				  w->name, path, n->target);
		else if (mkl_is_dir(target))
			mkl_error(err, 0, "'%s/%s' is a symbolic link to a directory (not supported on FAT)",
				  w->name, path);
		if (!target || mkl_is_dir(target)) {
			free(path);
			return -1;
		}
	}
	if (mkl_is_dir(n)) {
		if (asprintf(&dpath, "%s/", path) < 0) {
			free(path);
			return mkl_error(err, ENOMEM, "out of memory");
		}
		free(path);
		return list_add(w->in, dpath, NULL, err);
	}
	if (!mkl_is_reg(target)) {
		not_regular(w->name, path, err);
		free(path);
		return -1;
	}
	return list_add(w->in, path, target, err);
}

int mkl_fat_input_read(struct mkl_fat_input *in, struct mkl_source *src, const char *name,
		       const char *scratch_near, struct mkl_err *err)
{
	struct input_walk w = { in, name };
	struct mkl_source_entry e;
	uint64_t content = 0;
	int r;

	memset(in, 0, sizeof(*in));
	in->spool.fd = -1;
	in->tree = mkl_tree_create(err);
	if (!in->tree || mkl_spool_open(&in->spool, scratch_near, err))
		return -1;
	while ((r = mkl_source_next(src, &e, err)) == 1) {
		uint32_t type = e.st.mode & S_IFMT;
		struct mkl_node *n;

		if (mkl_cancelled())
			return mkl_error(err, ECANCELED, "reading '%s'", name);
		if (e.hardlink) {
			if (mkl_tree_add_hardlink(in->tree, e.path, e.hardlink, NULL, err))
				return -1;
			continue;
		}
		if (!*e.path)
			continue;	/* the root: FAT keeps no metadata for it */
		if (type != S_IFDIR && type != S_IFREG && type != S_IFLNK)
			return not_regular(name, e.path, err);
		if (mkl_tree_add(in->tree, e.path, &e.st, &n, err))
			return -1;
		if (type != S_IFREG)
			continue;
		/* Refuse a tree that cannot fit before copying all of it. */
		content += e.st.size;
		if (content > MKL_FAT_MAX_SIZE)
			return mkl_error(err, 0, "ESP content of %" PRIu64 " bytes does not fit in 32 MiB",
					 content);
		if (e.st.size && mkl_spool_add_node(&in->spool, n, mkl_source_read, src, err))
			return -1;
	}
	if (r < 0 || mkl_tree_finish(in->tree, err))
		return -1;
	return mkl_tree_walk(in->tree, add_node_of, &w, err);
}

void mkl_fat_input_free(struct mkl_fat_input *in)
{
	for (size_t i = 0; i < in->n; i++)
		free((char *)in->files[i].path);
	free(in->files);
	/* A zeroed input has fd 0 in its spool, which is not ours to close;
	 * mkl_fat_input_read makes the tree and sets the fd first. */
	if (in->tree)
		mkl_spool_close(&in->spool);
	mkl_tree_destroy(in->tree);
	memset(in, 0, sizeof(*in));
	in->spool.fd = -1;
}
