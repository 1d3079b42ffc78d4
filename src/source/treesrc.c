/* A source that reads a finished tree (src/tree/tree.h) back as entries,
 * for writers that take a source (the ext2 writer) fed from a build's tree
 * whose file contents sit elsewhere (the cloop image's scratch store).
 *
 * Entries come in the tree's pre-order (the root "" first, children sorted
 * by name). The first name of an inode met in that order carries its
 * metadata and content; later names are hard links to that path (which
 * need not be the leader's: the leader is the first name the input gave,
 * and the walk may meet another name first). Contents are read through the
 * content callback, always for the hard-link leader. Implicit nodes
 * (directories a tar implied) get implicit_time. */
#include "source/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The path an inode was first given under, keyed by its leader. */
struct seen {
	const struct mkl_node *leader;
	char *path;
};

struct tree_source {
	struct mkl_source base;	/* first: the source interface */
	struct mkl_tree *tree;
	mkl_content_fn content;
	void *ctx;
	int64_t implicit_time;
	struct mkl_node *cur;	/* the entry last returned; NULL before the first */
	bool started, done;
	char *path;		/* cur's path */
	const struct mkl_node *reading;	/* leader of the file being read */
	uint64_t pos, size;	/* read position in it */
	uint64_t bytes_done, bytes_total;
	struct seen *seen;	/* open addressing, cap a power of two */
	size_t nseen, cap;
};

static size_t slot_of(const struct tree_source *t, const struct mkl_node *leader)
{
	uintptr_t h = (uintptr_t)leader;

	h ^= h >> 17;
	h *= (uintptr_t)0x9e3779b97f4a7c15ull;
	h ^= h >> 29;
	return (size_t)h & (t->cap - 1);
}

static struct seen *seen_find(struct tree_source *t, const struct mkl_node *leader)
{
	if (!t->cap)
		return NULL;
	for (size_t i = slot_of(t, leader);; i = (i + 1) & (t->cap - 1)) {
		if (!t->seen[i].leader)
			return NULL;
		if (t->seen[i].leader == leader)
			return &t->seen[i];
	}
}

static int seen_add(struct tree_source *t, const struct mkl_node *leader, const char *path,
		    struct mkl_err *err)
{
	size_t i;

	if ((t->nseen + 1) * 2 > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct seen *old = t->seen, *ns = mkl_calloc(cap, sizeof(*ns), err);
		size_t ocap = t->cap;

		if (!ns)
			return -1;
		t->seen = ns;
		t->cap = cap;
		for (i = 0; i < ocap; i++) {
			size_t j;

			if (!old[i].leader)
				continue;
			for (j = slot_of(t, old[i].leader); ns[j].leader; j = (j + 1) & (cap - 1))
				;
			ns[j] = old[i];
		}
		free(old);
	}
	for (i = slot_of(t, leader); t->seen[i].leader; i = (i + 1) & (t->cap - 1))
		;
	t->seen[i].path = mkl_strdup(path, err);
	if (!t->seen[i].path)
		return -1;
	t->seen[i].leader = leader;
	t->nseen++;
	return 0;
}

/* The node after n in pre-order, or NULL at the end. */
static struct mkl_node *pre_next(struct mkl_node *n)
{
	if (mkl_is_dir(n) && n->children)
		return n->children;
	for (; n; n = n->parent)
		if (n->next)
			return n->next;
	return NULL;
}

static int tree_next(struct mkl_source *src, struct mkl_source_entry *e, struct mkl_err *err)
{
	struct tree_source *t = (struct tree_source *)src;
	struct mkl_node *n, *ino;
	struct seen *s;

	if (t->done)
		return 0;
	n = t->started ? pre_next(t->cur) : mkl_tree_root(t->tree);
	t->started = true;
	t->cur = n;
	t->reading = NULL;
	free(t->path);
	t->path = NULL;
	if (!n) {
		t->done = true;
		return 0;
	}
	if (mkl_cancelled())
		return mkl_error(err, ECANCELED, "cancelled");
	t->path = mkl_node_path(n);
	if (!t->path)
		return mkl_error(err, ENOMEM, "out of memory");
	memset(e, 0, sizeof(*e));
	e->path = t->path;
	ino = mkl_node_inode(n);
	if (!mkl_is_dir(ino) && (n->link || ino->nlink > 1)) {
		s = seen_find(t, ino);
		if (s) {
			e->hardlink = s->path;
			return 1;
		}
		if (seen_add(t, ino, t->path, err))
			return -1;
	}
	e->st.mode = ino->mode;
	e->st.uid = ino->uid;
	e->st.gid = ino->gid;
	e->st.rdev = ino->rdev;
	e->st.mtime = ino->implicit ? t->implicit_time : ino->mtime;
	e->st.size = mkl_is_reg(ino) ? ino->size : 0;
	e->st.target = ino->target;
	e->st.xattrs = ino->xattrs;
	if (mkl_is_reg(ino)) {
		t->reading = ino;
		t->pos = 0;
		t->size = ino->size;
	}
	return 1;
}

static long tree_read(struct mkl_source *src, void *buf, size_t len, struct mkl_err *err)
{
	struct tree_source *t = (struct tree_source *)src;
	uint64_t left;

	if (!t->reading)
		return 0;
	left = t->size - t->pos;
	if (len > left)
		len = (size_t)left;
	if (len > (1u << 30))
		len = 1u << 30;
	if (!len)
		return 0;
	if (t->content(t->ctx, t->reading, t->pos, buf, len, err))
		return -1;
	t->pos += len;
	t->bytes_done += len;
	return (long)len;
}

static void tree_progress(struct mkl_source *src, uint64_t *done, uint64_t *total)
{
	const struct tree_source *t = (const struct tree_source *)src;

	*done = t->bytes_done;
	*total = t->bytes_total;
}

static void tree_close(struct mkl_source *src)
{
	struct tree_source *t = (struct tree_source *)src;

	for (size_t i = 0; i < t->cap; i++)
		free(t->seen[i].path);
	free(t->seen);
	free(t->path);
	free(t);
}

static const struct mkl_source_ops tree_ops = {
	.next = tree_next,
	.read = tree_read,
	.progress = tree_progress,
	.close = tree_close,
};

static int add_size(void *ctx, struct mkl_node *n, struct mkl_err *err)
{
	(void)err;
	if (mkl_is_reg(n) && !n->link)
		*(uint64_t *)ctx += n->size;
	return 0;
}

int mkl_source_tree_open(struct mkl_tree *tree, mkl_content_fn content, void *ctx,
			 int64_t implicit_time, struct mkl_source **out, struct mkl_err *err)
{
	struct tree_source *t;

	*out = NULL;
	t = mkl_calloc(1, sizeof(*t), err);
	if (!t)
		return -1;
	t->base.ops = &tree_ops;
	t->tree = tree;
	t->content = content;
	t->ctx = ctx;
	t->implicit_time = implicit_time;
	if (mkl_tree_walk(tree, add_size, &t->bytes_total, err)) {
		free(t);
		return -1;
	}
	*out = &t->base;
	return 0;
}
