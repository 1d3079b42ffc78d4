/* The tree model: nodes with metadata, found by path through a hash index
 * while sources add to it, then sorted and frozen for the writers. */
#include "tree/tree.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tree/io.h"

struct slot {
	uint64_t hash;
	char *path;			/* NULL: empty; TOMBSTONE: deleted */
	struct mkl_node *node;
};

static char tombstone_mark;
#define TOMBSTONE (&tombstone_mark)

struct mkl_tree {
	struct mkl_node *root;
	struct slot *slots;		/* path index; NULL after finish */
	size_t nslots, used;		/* used counts live entries and tombstones */
	size_t count;			/* nodes, root included */
};

static struct slot *index_find(struct mkl_tree *t, const char *path, uint64_t h)
{
	size_t mask = t->nslots - 1, i = h & mask;

	for (;; i = (i + 1) & mask) {
		struct slot *s = &t->slots[i];

		if (!s->path)
			return NULL;
		if (s->path != TOMBSTONE && s->hash == h && strcmp(s->path, path) == 0)
			return s;
	}
}

static int index_grow(struct mkl_tree *t, struct mkl_err *err)
{
	size_t n = t->nslots ? t->nslots * 2 : 1024, i;
	struct slot *old = t->slots, *slots;
	size_t oldn = t->nslots;

	slots = mkl_calloc(n, sizeof(*slots), err);
	if (!slots)
		return -1;
	t->slots = slots;
	t->nslots = n;
	t->used = 0;
	for (i = 0; i < oldn; i++) {
		size_t j;

		if (!old[i].path || old[i].path == TOMBSTONE)
			continue;
		for (j = old[i].hash & (n - 1); slots[j].path; j = (j + 1) & (n - 1))
			;
		slots[j] = old[i];
		t->used++;
	}
	free(old);
	return 0;
}

static int index_insert(struct mkl_tree *t, const char *path, struct mkl_node *node,
			struct mkl_err *err)
{
	uint64_t h = mkl_hash_str(path);
	size_t i;

	if ((t->used + 1) * 4 >= t->nslots * 3 && index_grow(t, err))
		return -1;
	for (i = h & (t->nslots - 1); t->slots[i].path && t->slots[i].path != TOMBSTONE;
	     i = (i + 1) & (t->nslots - 1))
		;
	if (!t->slots[i].path)
		t->used++;
	t->slots[i].path = mkl_strdup(path, err);
	if (!t->slots[i].path)
		return -1;
	t->slots[i].hash = h;
	t->slots[i].node = node;
	return 0;
}

static void index_remove(struct mkl_tree *t, const char *path)
{
	struct slot *s = index_find(t, path, mkl_hash_str(path));

	if (s) {
		free(s->path);
		s->path = TOMBSTONE;
		s->node = NULL;
	}
}

int mkl_path_normalise(const char *in, char *out, size_t outsize, struct mkl_err *err)
{
	size_t o = 0;
	const char *p = in;

	while (*p) {
		const char *start;
		size_t len;

		while (*p == '/')
			p++;
		start = p;
		while (*p && *p != '/')
			p++;
		len = (size_t)(p - start);
		if (len == 0 || (len == 1 && start[0] == '.'))
			continue;
		if (len == 2 && start[0] == '.' && start[1] == '.')
			return mkl_error(err, 0, "'%s': path leaves the tree ('..')", in);
		/* The reason first, the path cut short: a message holds 1 KiB. */
		if (len > 255)
			return mkl_error(err, 0, "name longer than 255 bytes: '%.200s...'", in);
		if (o + len + 2 > outsize)
			return mkl_error(err, 0, "path longer than %zu bytes: '%.200s...'",
					 outsize - 2, in);
		if (o)
			out[o++] = '/';
		memcpy(out + o, start, len);
		o += len;
	}
	out[o] = '\0';
	return 0;
}

static void free_xattrs(struct mkl_xattr *x)
{
	while (x) {
		struct mkl_xattr *next = x->next;

		free(x->name);
		free(x->value);
		free(x);
		x = next;
	}
}

static int copy_xattrs(const struct mkl_xattr *src, struct mkl_xattr **out, struct mkl_err *err)
{
	struct mkl_xattr *head = NULL, **tail = &head;

	for (; src; src = src->next) {
		struct mkl_xattr *x = mkl_calloc(1, sizeof(*x), err);

		if (!x)
			goto fail;
		*tail = x;
		tail = &x->next;
		x->name = mkl_strdup(src->name, err);
		x->value = mkl_malloc(src->size, err);
		if (!x->name || !x->value)
			goto fail;
		memcpy(x->value, src->value, src->size);
		x->size = src->size;
	}
	*out = head;
	return 0;
fail:
	free_xattrs(head);
	return -1;
}

struct mkl_tree *mkl_tree_create(struct mkl_err *err)
{
	struct mkl_tree *t = mkl_calloc(1, sizeof(*t), err);

	if (!t)
		return NULL;
	t->root = mkl_calloc(1, sizeof(*t->root), err);
	if (!t->root || index_grow(t, err) || !(t->root->name = mkl_strdup("", err))) {
		mkl_tree_destroy(t);
		return NULL;
	}
	t->root->mode = S_IFDIR | 0755;
	t->root->implicit = true;
	t->root->nlink = 2;
	t->count = 1;
	return t;
}

static void free_node(struct mkl_node *n)
{
	while (n) {
		struct mkl_node *next = n->next;

		free_node(n->children);
		free(n->name);
		free(n->target);
		free_xattrs(n->xattrs);
		free(n);
		n = next;
	}
}

void mkl_tree_destroy(struct mkl_tree *t)
{
	size_t i;

	if (!t)
		return;
	free_node(t->root);
	for (i = 0; i < t->nslots; i++)
		if (t->slots[i].path != TOMBSTONE)
			free(t->slots[i].path);
	free(t->slots);
	free(t);
}

struct mkl_node *mkl_tree_root(struct mkl_tree *t)
{
	return t->root;
}

size_t mkl_tree_count(const struct mkl_tree *t)
{
	return t->count;
}

char *mkl_node_path(const struct mkl_node *node)
{
	size_t len = 0;
	const struct mkl_node *n;
	char *p, *end;

	for (n = node; n->parent; n = n->parent)
		len += strlen(n->name) + 1;
	if (len)
		len--;		/* no separator before the first name */
	p = malloc(len + 1);
	if (!p)
		return NULL;
	end = p + len;
	*end = '\0';
	for (n = node; n->parent; n = n->parent) {
		size_t l = strlen(n->name);

		end -= l;
		memcpy(end, n->name, l);
		if (end > p)
			*--end = '/';
	}
	return p;
}

struct mkl_node *mkl_tree_lookup(struct mkl_tree *t, const char *path)
{
	char norm[PATH_MAX];
	struct slot *s;

	if (mkl_path_normalise(path, norm, sizeof(norm), NULL))
		return NULL;
	if (!norm[0])
		return t->root;
	if (t->slots) {
		s = index_find(t, norm, mkl_hash_str(norm));
		return s ? s->node : NULL;
	}
	/* After finish: walk the sorted children. */
	{
		struct mkl_node *n = t->root;
		char *save = NULL, *comp;

		for (comp = strtok_r(norm, "/", &save); comp && n; comp = strtok_r(NULL, "/", &save)) {
			struct mkl_node *c;

			for (c = n->children; c && strcmp(c->name, comp); c = c->next)
				;
			n = c;
		}
		return n;
	}
}

/* Find the first other name of the inode led by `leader` (slow; only when a
 * hard-linked name is replaced or removed). */
static struct mkl_node *find_follower(struct mkl_node *n, struct mkl_node *leader)
{
	for (; n; n = n->next) {
		struct mkl_node *f;

		if (n->link == leader)
			return n;
		if ((f = find_follower(n->children, leader)))
			return f;
	}
	return NULL;
}

/* The name `n` is going away (replaced or removed): keep hard-link
 * bookkeeping right. A leader hands its role and data to another name. */
static void drop_name(struct mkl_tree *t, struct mkl_node *n)
{
	if (n->link) {
		n->link->nlink--;
		n->link = NULL;
	} else if (n->nlink > 1 && !mkl_is_dir(n)) {
		struct mkl_node *f = find_follower(t->root, n), *g;

		if (f) {
			/* f becomes the leader: it already shares n's metadata. */
			while ((g = find_follower(t->root, n)))
				g->link = f;
			f->link = NULL;
			f->nlink = n->nlink - 1;
			f->data = n->data;
			f->size = n->size;
		}
	}
	n->nlink = 1;
	n->data = NULL;
}

static void unindex_subtree(struct mkl_tree *t, struct mkl_node *n)
{
	struct mkl_node *c;
	char *p;

	for (c = n->children; c; c = c->next) {
		unindex_subtree(t, c);
		drop_name(t, c);
		t->count--;
		if (t->slots && (p = mkl_node_path(c))) {
			index_remove(t, p);
			free(p);
		}
	}
}

static void clear_children(struct mkl_tree *t, struct mkl_node *n)
{
	unindex_subtree(t, n);
	free_node(n->children);
	n->children = NULL;
}

/* n's metadata becomes st's; n takes target and xattrs (its own are freed). */
static void put_meta(struct mkl_node *n, const struct mkl_stat *st, char *target,
		     struct mkl_xattr *xattrs)
{
	free(n->target);
	free_xattrs(n->xattrs);
	n->target = target;
	n->xattrs = xattrs;
	n->mode = st->mode;
	n->uid = st->uid;
	n->gid = st->gid;
	n->rdev = st->rdev;
	n->mtime = st->mtime;
	n->size = (st->mode & S_IFMT) == S_IFREG ? st->size : 0;
	n->implicit = false;
}

static int set_meta(struct mkl_node *n, const struct mkl_stat *st, struct mkl_err *err)
{
	char *target = NULL;
	struct mkl_xattr *xattrs = NULL;

	if ((st->mode & S_IFMT) == S_IFLNK) {
		target = mkl_strdup(st->target ? st->target : "", err);
		if (!target)
			return -1;
	}
	if (copy_xattrs(st->xattrs, &xattrs, err)) {
		free(target);
		return -1;
	}
	put_meta(n, st, target, xattrs);
	return 0;
}

/* Find or make the directory that will hold `norm` (which has a '/'),
 * making missing parents implicitly. */
static struct mkl_node *parent_of(struct mkl_tree *t, char *norm, const char **name,
				  struct mkl_err *err)
{
	char *slash = strrchr(norm, '/');
	struct mkl_node *parent, *n;

	if (!slash) {
		*name = norm;
		return t->root;
	}
	*slash = '\0';
	*name = slash + 1;
	parent = mkl_tree_lookup(t, norm);
	if (parent) {
		if (!mkl_is_dir(parent)) {
			mkl_error(err, 0, "cannot add '%s/%s': '%s' is not a directory",
				  norm, *name, norm);
			*slash = '/';
			return NULL;
		}
		*slash = '/';
		return parent;
	}
	{
		const char *pname;
		struct mkl_node *grand = parent_of(t, norm, &pname, err);

		if (!grand) {
			*slash = '/';
			return NULL;
		}
		n = mkl_calloc(1, sizeof(*n), err);
		if (!n || !(n->name = mkl_strdup(pname, err)) || index_insert(t, norm, n, err)) {
			if (n)
				free(n->name);
			free(n);
			*slash = '/';
			return NULL;
		}
		n->mode = S_IFDIR | 0755;
		n->implicit = true;
		n->nlink = 1;
		n->parent = grand;
		n->next = grand->children;
		grand->children = n;
		t->count++;
	}
	*slash = '/';
	return n;
}

static int add_common(struct mkl_tree *t, const char *path, struct mkl_node **out,
		      struct mkl_node **existing, struct mkl_node **parent, char *norm,
		      const char **name, struct mkl_err *err)
{
	if (!t->slots)
		return mkl_error(err, 0, "cannot add '%s': the tree is finished", path);
	if (mkl_path_normalise(path, norm, PATH_MAX, err))
		return -1;
	*existing = norm[0] ? mkl_tree_lookup(t, norm) : t->root;
	*parent = NULL;
	*name = NULL;
	if (!*existing && !(*parent = parent_of(t, norm, name, err)))
		return -1;
	(void)out;
	return 0;
}

static int link_new(struct mkl_tree *t, struct mkl_node *parent, const char *name,
		    const char *norm, struct mkl_node **out, struct mkl_err *err)
{
	struct mkl_node *n = mkl_calloc(1, sizeof(*n), err);

	if (!n)
		return -1;
	if (!(n->name = mkl_strdup(name, err)) || index_insert(t, norm, n, err)) {
		free(n->name);
		free(n);
		return -1;
	}
	n->parent = parent;
	n->next = parent->children;
	parent->children = n;
	n->nlink = 1;
	t->count++;
	*out = n;
	return 0;
}

int mkl_tree_add(struct mkl_tree *t, const char *path, const struct mkl_stat *st,
		 struct mkl_node **out, struct mkl_err *err)
{
	char norm[PATH_MAX];
	struct mkl_node *n, *parent;
	const char *name;

	if (add_common(t, path, out, &n, &parent, norm, &name, err))
		return -1;
	if (!n && link_new(t, parent, name, norm, &n, err))
		return -1;
	if (n == t->root && (st->mode & S_IFMT) != S_IFDIR)
		return mkl_error(err, ENOTDIR, "the root of the tree must be a directory");
	if (!n->implicit || n->link || n->nlink > 1)
		drop_name(t, n);
	if (mkl_is_dir(n) && (st->mode & S_IFMT) != S_IFDIR)
		clear_children(t, n);
	if (set_meta(n, st, err))
		return -1;
	n->nlink = 1;
	if (out)
		*out = n;
	return 0;
}

int mkl_tree_add_hardlink(struct mkl_tree *t, const char *path, const char *target,
			  struct mkl_node **out, struct mkl_err *err)
{
	char norm[PATH_MAX];
	struct mkl_node *n, *parent, *p, *to = mkl_tree_lookup(t, target);
	const char *name;

	if (!to)
		return mkl_error(err, 0, "hard link '%s' points to '%s', which is not there",
				 path, target);
	if (mkl_is_dir(to))
		return mkl_error(err, EPERM, "hard link '%s' points to directory '%s'", path,
				 target);
	to = mkl_node_inode(to);
	if (add_common(t, path, out, &n, &parent, norm, &name, err))
		return -1;
	if (n == to || (n && n->link == to)) {
		if (out)
			*out = n;
		return 0;	/* a link to itself: nothing changes */
	}
	if (!n && link_new(t, parent, name, norm, &n, err))
		return -1;
	if (n == t->root)
		return mkl_error(err, EPERM, "hard link '%s' would replace the root", path);
	/* Replacing a directory drops what is under it: the target must stay. */
	for (p = to->parent; p; p = p->parent)
		if (p == n)
			return mkl_error(err, EPERM, "hard link '%s' would replace the directory "
					 "that holds its target '%s'", path, target);
	drop_name(t, n);
	if (mkl_is_dir(n))
		clear_children(t, n);
	/* A follower mirrors its leader's metadata (not its xattrs or link
	 * text, which stay with the leader) so writers that look at any name
	 * see the same inode. */
	put_meta(n, &(struct mkl_stat){ .mode = to->mode, .uid = to->uid, .gid = to->gid,
					.rdev = to->rdev, .mtime = to->mtime, .size = to->size },
		 NULL, NULL);
	n->link = to;
	to->nlink++;
	if (out)
		*out = n;
	return 0;
}

int mkl_tree_remove(struct mkl_tree *t, const char *path, struct mkl_err *err)
{
	char norm[PATH_MAX];
	struct mkl_node *n, **pp;

	if (mkl_path_normalise(path, norm, sizeof(norm), err))
		return -1;
	n = mkl_tree_lookup(t, norm);
	if (!n)
		return 0;
	if (n == t->root)
		return mkl_error(err, EPERM, "cannot remove the root of the tree");
	clear_children(t, n);
	drop_name(t, n);
	for (pp = &n->parent->children; *pp != n; pp = &(*pp)->next)
		;
	*pp = n->next;
	n->next = NULL;
	if (t->slots)
		index_remove(t, norm);
	free_node(n);
	t->count--;
	return 0;
}

struct mkl_node *mkl_tree_resolve(struct mkl_tree *t, const char *path)
{
	return mkl_tree_resolve_mounted(t, path, NULL, NULL);
}

struct mkl_node *mkl_tree_resolve_mounted(struct mkl_tree *t, const char *path, const char *mount,
					  struct mkl_tree *mounted)
{
	char buf[PATH_MAX], tmp[PATH_MAX];
	struct mkl_node *n = t->root, *mroot = mounted ? mounted->root : NULL;
	size_t mlen = mount ? strlen(mount) : 0;
	const char *p;
	int hops = 0;

	if (strlen(path) >= sizeof(buf))
		return NULL;
	strcpy(buf, path);
	p = buf;
	for (;;) {
		const char *start;
		size_t len;
		struct mkl_node *c;

		while (*p == '/')
			p++;
		if (!*p)
			return n;
		start = p;
		while (*p && *p != '/')
			p++;
		len = (size_t)(p - start);
		if (len == 1 && start[0] == '.')
			continue;
		if (len == 2 && start[0] == '.' && start[1] == '.') {
			if (n == mroot)
				n = t->root;	/* up from the mount point */
			else if (n->parent)
				n = n->parent;
			continue;
		}
		if (!mkl_is_dir(n))
			return NULL;
		if (mroot && n == t->root && len == mlen && memcmp(start, mount, len) == 0) {
			n = mroot;
			continue;
		}
		for (c = n->children; c; c = c->next)
			if (strlen(c->name) == len && memcmp(c->name, start, len) == 0)
				break;
		if (!c)
			return NULL;
		if (!mkl_is_lnk(c)) {
			n = c;
			continue;
		}
		if (++hops > 40)
			return NULL;
		/* Splice the link text in front of the rest of the path. */
		if (strlen(c->target) + strlen(p) + 2 > sizeof(tmp))
			return NULL;
		strcpy(tmp, c->target);
		strcat(tmp, "/");
		strcat(tmp, p);
		strcpy(buf, tmp);
		p = buf;
		if (c->target[0] == '/')
			n = t->root;
	}
}

static int cmp_node(const void *a, const void *b)
{
	return strcmp((*(struct mkl_node *const *)a)->name, (*(struct mkl_node *const *)b)->name);
}

static int sort_children(struct mkl_node *dir, struct mkl_err *err)
{
	struct mkl_node *c, **v;
	size_t n = 0, i, subdirs = 0;

	for (c = dir->children; c; c = c->next)
		n++;
	if (n > 1) {
		/* An array of node pointers (sizeof(*v) reads as a mistake to clang-tidy). */
		v = mkl_malloc(n * sizeof(struct mkl_node *), err);
		if (!v)
			return -1;
		for (i = 0, c = dir->children; c; c = c->next)
			v[i++] = c;
		qsort(v, n, sizeof(struct mkl_node *), cmp_node);
		for (i = 0; i + 1 < n; i++)
			v[i]->next = v[i + 1];
		v[n - 1]->next = NULL;
		dir->children = v[0];
		free(v);
	}
	for (c = dir->children; c; c = c->next) {
		if (mkl_is_dir(c)) {
			subdirs++;
			if (sort_children(c, err))
				return -1;
		}
	}
	dir->nlink = 2 + (uint32_t)subdirs;
	return 0;
}

int mkl_tree_finish(struct mkl_tree *t, struct mkl_err *err)
{
	size_t i;

	if (!t->slots)
		return 0;
	if (sort_children(t->root, err))
		return -1;
	for (i = 0; i < t->nslots; i++)
		if (t->slots[i].path != TOMBSTONE)
			free(t->slots[i].path);
	free(t->slots);
	t->slots = NULL;
	t->nslots = 0;
	return 0;
}

static int walk(struct mkl_node *n, mkl_walk_fn fn, void *ctx, struct mkl_err *err)
{
	struct mkl_node *c;

	if (fn(ctx, n, err))
		return -1;
	for (c = n->children; c; c = c->next)
		if (walk(c, fn, ctx, err))
			return -1;
	return 0;
}

int mkl_tree_walk(struct mkl_tree *t, mkl_walk_fn fn, void *ctx, struct mkl_err *err)
{
	return walk(t->root, fn, ctx, err);
}
