/* The tree model: implicit parents, replacement, hard links, resolve. */
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "t.h"
#include "tree/tree.h"

static struct mkl_stat st_of(unsigned mode, const char *target)
{
	struct mkl_stat st = { .mode = mode, .uid = 0, .gid = 0, .mtime = 1700000000, .target = target };

	return st;
}

static int count_fn(void *ctx, struct mkl_node *n, struct mkl_err *err)
{
	(*(int *)ctx)++;
	return 0;
}

int main(void)
{
	struct mkl_err err;
	struct mkl_tree *t = mkl_tree_create(&err);
	struct mkl_node *n, *a, *b;
	struct mkl_stat dir = st_of(S_IFDIR | 0700, NULL), reg = st_of(S_IFREG | 0644, NULL);
	char norm[4096];
	char *p;
	int count = 0;

	T_OK(t != NULL, "create");
	/* normalisation */
	T_OK(mkl_path_normalise("./usr//bin/./env/", norm, sizeof(norm), &err) == 0, "norm");
	T_OK(strcmp(norm, "usr/bin/env") == 0, "'%s'", norm);
	T_OK(mkl_path_normalise("./", norm, sizeof(norm), &err) == 0, "norm root");
	T_OK(norm[0] == '\0', "'%s'", norm);
	T_OK(mkl_path_normalise("a/../b", norm, sizeof(norm), &err) == -1, "dotdot refused");
	T_OK(strstr(err.msg, "a/../b") != NULL, "message names the path: %s", err.msg);

	/* a file before its directory: the directory is made implicitly */
	reg.size = 5;
	T_OK(mkl_tree_add(t, "./etc/x/file", &reg, &n, &err) == 0, "%s", err.msg);
	a = mkl_tree_lookup(t, "etc/x");
	T_OK(a && mkl_is_dir(a) && a->implicit, "implicit dir");
	T_OK(mkl_tree_add(t, "etc/x/", &dir, &n, &err) == 0, "%s", err.msg);
	T_OK(n == a && !a->implicit && (a->mode & 07777) == 0700, "real metadata arrives");
	T_OK(a->children != NULL, "children kept");

	/* replacement: later entry wins */
	reg.size = 9;
	T_OK(mkl_tree_add(t, "etc/x/file", &reg, &n, &err) == 0, "%s", err.msg);
	T_EQ_INT(n->size, 9);
	T_EQ_INT(mkl_tree_count(t), 4);

	/* hard links */
	T_OK(mkl_tree_add(t, "bin/busybox", &reg, &a, &err) == 0, "%s", err.msg);
	T_OK(mkl_tree_add_hardlink(t, "bin/sh", "bin/busybox", &b, &err) == 0, "%s", err.msg);
	T_OK(mkl_tree_add_hardlink(t, "bin/ls", "./bin/sh", &n, &err) == 0, "%s", err.msg);
	T_OK(b->link == a && n->link == a && a->nlink == 3, "leader nlink %u", a->nlink);
	T_OK(mkl_tree_add_hardlink(t, "bin/nope", "bin/missing", NULL, &err) == -1, "dangling");
	T_OK(strstr(err.msg, "bin/missing") != NULL, "%s", err.msg);
	/* a hard link may not replace the directory that holds its target
	 * (the tar fuzzer's "d/", "d/f", then "d" linked to "d/f") */
	T_OK(mkl_tree_add(t, "hl/f", &reg, NULL, &err) == 0, "%s", err.msg);
	T_OK(mkl_tree_add_hardlink(t, "hl", "hl/f", NULL, &err) == -1, "link over its own parent");
	T_OK(strstr(err.msg, "holds its target 'hl/f'") != NULL, "%s", err.msg);
	T_OK(mkl_tree_lookup(t, "hl/f") != NULL, "target kept");
	T_OK(mkl_tree_remove(t, "hl", &err) == 0, "%s", err.msg);
	/* replacing the leader hands the inode to another name */
	T_OK(mkl_tree_add(t, "bin/busybox", &reg, &a, &err) == 0, "%s", err.msg);
	T_OK(a->nlink == 1 && a->link == NULL, "replaced leader is alone");
	{
		struct mkl_node *lead = b->link ? n : b, *other = b->link ? b : n;

		T_OK(lead->link == NULL && lead->nlink == 2 && other->link == lead,
		     "another name leads now (%u)", lead->nlink);
	}

	/* symlinks and resolve, merged /usr style */
	T_OK(mkl_tree_add(t, "usr/lib/modules/6.1/modules.dep", &reg, NULL, &err) == 0, "%s", err.msg);
	{
		struct mkl_stat l = st_of(S_IFLNK | 0777, "usr/lib");
		struct mkl_stat l2 = st_of(S_IFLNK | 0777, "/usr/lib/../../lib/modules");

		T_OK(mkl_tree_add(t, "lib", &l, NULL, &err) == 0, "%s", err.msg);
		T_OK(mkl_tree_add(t, "mods", &l2, NULL, &err) == 0, "%s", err.msg);
	}
	n = mkl_tree_resolve(t, "/lib/modules/6.1/modules.dep");
	T_OK(n && mkl_is_reg(n), "resolve through link");
	T_OK(mkl_tree_resolve(t, "mods/6.1/modules.dep") == n, "absolute link with ..");
	T_OK(mkl_tree_lookup(t, "lib/modules") == NULL, "lookup does not follow");
	{
		struct mkl_stat loop1 = st_of(S_IFLNK | 0777, "loop2"), loop2 = st_of(S_IFLNK | 0777, "loop1");

		mkl_tree_add(t, "loop1", &loop1, NULL, &err);
		mkl_tree_add(t, "loop2", &loop2, NULL, &err);
		T_OK(mkl_tree_resolve(t, "loop1/x") == NULL, "symlink loop ends");
	}
	/* a file under a non-directory is refused */
	T_OK(mkl_tree_add(t, "etc/x/file/sub", &reg, NULL, &err) == -1, "under a file");
	T_OK(strstr(err.msg, "not a directory") != NULL, "%s", err.msg);

	/* replacing a directory by a file drops what was under it */
	T_OK(mkl_tree_add(t, "etc/x", &reg, NULL, &err) == 0, "%s", err.msg);
	T_OK(mkl_tree_lookup(t, "etc/x/file") == NULL, "subtree gone");
	T_OK(mkl_tree_remove(t, "usr", &err) == 0, "remove");
	T_OK(mkl_tree_resolve(t, "lib/modules") == NULL, "removed");

	T_OK(mkl_tree_finish(t, &err) == 0, "%s", err.msg);
	n = mkl_tree_root(t)->children;
	T_OK(n && strcmp(n->name, "bin") == 0 && n->next && strcmp(n->next->name, "etc") == 0, "sorted");
	T_EQ_INT(mkl_tree_root(t)->nlink, 4);	/* bin, etc + 2 */
	p = mkl_node_path(mkl_tree_lookup(t, "bin/sh"));
	T_EQ_STR(p, "bin/sh");
	free(p);
	mkl_tree_walk(t, count_fn, &count, &err);
	T_EQ_INT(count, mkl_tree_count(t));
	T_OK(mkl_tree_add(t, "late", &reg, NULL, &err) == -1, "finished tree refuses adds");
	mkl_tree_destroy(t);
	mkl_tree_destroy(NULL);
	return t_done();
}
