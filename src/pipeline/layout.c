/* Splitting a tree into the writable root and the read-only image.
 *
 * "We keep a list of read-only directories, and we check it twice": from
 * the one list the writable root gets everything but those directories,
 * each replaced by a link to /ro/DIR, and the image gets exactly them. The
 * checks after the split: every path of the input is in exactly one part,
 * and every symbolic link that resolved in the input still resolves, to the
 * same file, when the image is mounted on /ro under the writable root.
 */
#include "pipeline/layout.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void mkl_layout_free(struct mkl_layout *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->ndirs; i++)
		free(l->dirs[i]);
	free(l->dirs);
	memset(l, 0, sizeof(*l));
}

static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && path[n] == '/';
}

int mkl_layout_parse(const char *list, struct mkl_layout *l, struct mkl_err *err)
{
	char *copy, *tok, *save = NULL, norm[PATH_MAX];

	memset(l, 0, sizeof(*l));
	l->strict = list != NULL;
	copy = mkl_strdup(list ? list : MKL_LAYOUT_DEFAULT, err);
	if (!copy)
		return -1;
	for (tok = strtok_r(copy, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save)) {
		char **nd;

		if (tok[0] != '/') {
			mkl_error(err, 0, "read-only directory '%s' is not an absolute path", tok);
			goto fail;
		}
		if (mkl_path_normalise(tok, norm, sizeof(norm), err))
			goto fail;
		if (!norm[0] || strcmp(norm, MKL_LAYOUT_MOUNT) == 0 || under(norm, MKL_LAYOUT_MOUNT)) {
			mkl_error(err, 0, "read-only directory '%s' cannot be %s", tok,
				  norm[0] ? "/" MKL_LAYOUT_MOUNT ", where the image is mounted" : "the root");
			goto fail;
		}
		for (size_t i = 0; i < l->ndirs; i++) {
			if (strcmp(norm, l->dirs[i]) == 0 || under(norm, l->dirs[i]) ||
			    under(l->dirs[i], norm)) {
				mkl_error(err, 0, "read-only directories '/%s' and '/%s' overlap: "
					  "list each directory once", l->dirs[i], norm);
				goto fail;
			}
		}
		nd = realloc(l->dirs, (l->ndirs + 1) * sizeof(*nd));
		if (!nd || !(nd[l->ndirs] = strdup(norm))) {
			if (nd)
				l->dirs = nd;
			mkl_error(err, ENOMEM, "out of memory");
			goto fail;
		}
		l->dirs = nd;
		l->ndirs++;
	}
	free(copy);
	if (!l->ndirs)
		return mkl_error(err, 0, "the list of read-only directories is empty");
	return 0;
fail:
	free(copy);
	mkl_layout_free(l);
	return -1;
}

bool mkl_layout_inside(const struct mkl_layout *l, const char *path)
{
	for (size_t i = 0; i < l->ndirs; i++)
		if (under(path, l->dirs[i]))
			return true;
	return false;
}

void mkl_layout_split_free(struct mkl_layout_split *s)
{
	if (!s)
		return;
	mkl_tree_destroy(s->rw);
	mkl_tree_destroy(s->ro);
	s->rw = s->ro = NULL;
}

static struct mkl_stat stat_of(const struct mkl_node *n)
{
	struct mkl_stat st = {
		.mode = n->mode, .uid = n->uid, .gid = n->gid, .rdev = n->rdev,
		.mtime = n->mtime, .size = n->size, .target = n->target, .xattrs = n->xattrs,
	};

	return st;
}

struct split_ctx {
	const struct mkl_layout *l;
	bool *active;			/* per listed dir: a directory, goes to the image */
	struct mkl_layout_split *out;
	struct mkl_tree *in;
};

/* Which part does this input path go to? 1: the image. */
static int part_of(const struct split_ctx *c, const char *path)
{
	for (size_t i = 0; i < c->l->ndirs; i++)
		if (c->active[i] && (strcmp(path, c->l->dirs[i]) == 0 || under(path, c->l->dirs[i])))
			return 1;
	return 0;
}

static int copy_plain(struct mkl_tree *to, const struct mkl_node *n, const char *path,
		      struct mkl_err *err)
{
	struct mkl_stat st = stat_of(n);
	struct mkl_node *copy;

	if (mkl_tree_add(to, path, &st, &copy, err))
		return -1;
	copy->data = n->data;
	return 0;
}

static int copy_node(void *ctx, struct mkl_node *n, struct mkl_err *err)
{
	struct split_ctx *c = ctx;
	struct mkl_node *have;
	struct mkl_tree *to;
	char *path, *lead = NULL;
	int part, ret = -1;

	if (!n->parent)
		return 0;	/* the roots are set up by the caller */
	path = mkl_node_path(n);
	if (!path)
		return mkl_error(err, ENOMEM, "out of memory");
	part = part_of(c, path);
	to = part ? c->out->ro : c->out->rw;
	have = mkl_tree_lookup(to, path);
	if (have && !mkl_is_dir(n) && !have->implicit) {
		ret = 0;	/* a hard-link leader, copied early for a name before it */
		goto out;
	}
	if (!n->link) {
		ret = copy_plain(to, n, path, err);
		goto out;
	}
	lead = mkl_node_path(n->link);
	if (!lead) {
		mkl_error(err, ENOMEM, "out of memory");
		goto out;
	}
	if (part_of(c, lead) != part) {
		mkl_error(err, 0, "hard link '/%s' and '/%s' would be split between the "
			  "writable root and the read-only image", path, lead);
		goto out;
	}
	/* The walk is in name order: the leader may come after this name. */
	if (!mkl_tree_lookup(to, lead) && copy_plain(to, n->link, lead, err))
		goto out;
	ret = mkl_tree_add_hardlink(to, path, lead, NULL, err);
out:
	free(lead);
	free(path);
	return ret;
}

/* Is this the link "/ro/PATH" the split put in place of a listed directory? */
static bool is_mount_link(const struct mkl_node *a, const char *path)
{
	size_t m = strlen(MKL_LAYOUT_MOUNT);

	return a->target && a->target[0] == '/' && strncmp(a->target + 1, MKL_LAYOUT_MOUNT, m) == 0 &&
	       a->target[1 + m] == '/' && strcmp(a->target + 2 + m, path) == 0;
}

struct check_ctx {
	struct split_ctx *c;
	size_t links, checked;
};

/* Both ways: the path is in exactly one part, and a link that resolved in
 * the input resolves to the same file in the split view. */
static int check_node(void *ctx, struct mkl_node *n, struct mkl_err *err)
{
	struct check_ctx *k = ctx;
	struct split_ctx *c = k->c;
	struct mkl_node *a, *b, *want, *got;
	char *path;
	int ret = -1, part;

	if (!n->parent)
		return 0;
	path = mkl_node_path(n);
	if (!path)
		return mkl_error(err, ENOMEM, "out of memory");
	a = mkl_tree_lookup(c->out->rw, path);
	b = mkl_tree_lookup(c->out->ro, path);
	part = part_of(c, path);
	/* A listed directory is in the image and, as a link, in the root. */
	if (part && a && !(mkl_is_lnk(a) && mkl_is_dir(n) && is_mount_link(a, path))) {
		mkl_error(err, 0, "layout check: '/%s' is in both the writable root and the image", path);
		goto out;
	}
	if (!(part ? b : a)) {
		mkl_error(err, 0, "layout check: '/%s' is in neither the writable root nor the image", path);
		goto out;
	}
	if (mkl_is_lnk(n)) {
		k->links++;
		want = mkl_tree_resolve(c->in, path);
		if (want) {
			char full[PATH_MAX + 8];

			snprintf(full, sizeof(full), "%s", path);
			got = mkl_tree_resolve_mounted(c->out->rw, full, MKL_LAYOUT_MOUNT, c->out->ro);
			if (!got || (got->mode & S_IFMT) != (want->mode & S_IFMT) ||
			    got->size != want->size || got->mtime != want->mtime) {
				mkl_error(err, 0, "layout check: link '/%s' -> '%s' resolves in the tree "
					  "but not to the same file once split (read-only dirs: is a "
					  "directory it goes through listed?)", path, n->target);
				goto out;
			}
			k->checked++;
		}
	}
	ret = 0;
out:
	free(path);
	return ret;
}

int mkl_layout_split(const struct mkl_layout *l, struct mkl_tree *in,
		     struct mkl_layout_split *out, struct mkl_err *err)
{
	struct split_ctx c = { .l = l, .out = out, .in = in };
	struct mkl_stat root = stat_of(mkl_tree_root(in));
	struct check_ctx k = { .c = &c };
	size_t notes = 0;

	memset(out, 0, sizeof(*out));
	c.active = calloc(l->ndirs ? l->ndirs : 1, sizeof(*c.active));
	if (!c.active)
		return mkl_error(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < l->ndirs; i++) {
		struct mkl_node *n = mkl_tree_lookup(in, l->dirs[i]);
		const char *why = !n ? "is not in the tree" : mkl_is_lnk(n) ? "is a symbolic link" :
				  !mkl_is_dir(n) ? "is not a directory" : NULL;

		if (!why) {
			c.active[i] = true;
			out->ro_dirs++;
			continue;
		}
		if (l->strict) {
			mkl_error(err, 0, "read-only directory '/%s' %s%s%s", l->dirs[i], why,
				  n && mkl_is_lnk(n) ? " to " : "", n && mkl_is_lnk(n) ? n->target : "");
			goto fail;
		}
		notes += (size_t)snprintf(out->notes + notes, notes < sizeof(out->notes) ?
					  sizeof(out->notes) - notes : 0, "%s/%s %s",
					  notes ? "; " : "", l->dirs[i], why);
	}
	if (!out->ro_dirs) {
		mkl_error(err, 0, "none of the read-only directories is a directory in the tree");
		goto fail;
	}
	if (mkl_tree_lookup(in, MKL_LAYOUT_MOUNT)) {
		struct mkl_node *m = mkl_tree_lookup(in, MKL_LAYOUT_MOUNT);

		if (!mkl_is_dir(m) || m->children) {
			mkl_error(err, 0, "the tree has '/%s', where the read-only image is mounted "
				  "(an empty directory there is fine)", MKL_LAYOUT_MOUNT);
			goto fail;
		}
	}
	if (!(out->rw = mkl_tree_create(err)) || !(out->ro = mkl_tree_create(err)) ||
	    mkl_tree_add(out->rw, "", &root, NULL, err) || mkl_tree_add(out->ro, "", &root, NULL, err))
		goto fail;
	/* Ancestors of nested listed directories keep their metadata in the image. */
	for (size_t i = 0; i < l->ndirs; i++) {
		char p[PATH_MAX], *s;

		if (!c.active[i])
			continue;
		snprintf(p, sizeof(p), "%s", l->dirs[i]);
		for (s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
			struct mkl_stat st;

			*s = '\0';
			st = stat_of(mkl_tree_lookup(in, p));
			if (mkl_tree_add(out->ro, p, &st, NULL, err))
				goto fail;
			*s = '/';
		}
	}
	if (mkl_tree_walk(in, copy_node, &c, err))
		goto fail;
	/* The writable root: /ro, and a link in place of each listed directory. */
	{
		struct mkl_stat mnt = { .mode = S_IFDIR | 0755, .mtime = root.mtime };

		if (!mkl_tree_lookup(out->rw, MKL_LAYOUT_MOUNT) &&
		    mkl_tree_add(out->rw, MKL_LAYOUT_MOUNT, &mnt, NULL, err))
			goto fail;
	}
	for (size_t i = 0; i < l->ndirs; i++) {
		char target[PATH_MAX + 8];
		struct mkl_node *d;
		struct mkl_stat st;

		if (!c.active[i])
			continue;
		d = mkl_tree_lookup(in, l->dirs[i]);
		snprintf(target, sizeof(target), "/%s/%s", MKL_LAYOUT_MOUNT, l->dirs[i]);
		st = (struct mkl_stat){ .mode = S_IFLNK | 0777, .mtime = d->mtime, .target = target };
		if (mkl_tree_add(out->rw, l->dirs[i], &st, NULL, err))
			goto fail;
	}
	if (mkl_tree_finish(out->rw, err) || mkl_tree_finish(out->ro, err))
		goto fail;
	if (mkl_tree_walk(in, check_node, &k, err))
		goto fail;
	free(c.active);
	return 0;
fail:
	free(c.active);
	mkl_layout_split_free(out);
	return -1;
}
