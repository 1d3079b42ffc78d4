/* The read-only list and the split of a tree, checked both ways. */
#include <sys/stat.h>

#include "t.h"
#include "pipeline/layout.h"

static struct mkl_tree *t;
static struct mkl_err err;

static void add(const char *path, unsigned mode, const char *target)
{
	struct mkl_stat st = { .mode = mode, .mtime = 1700000000, .target = target, .size = 3 };

	if (mkl_tree_add(t, path, &st, NULL, &err))
		printf("setup: %s\n", err.msg);
}

static struct mkl_tree *merged_usr(void)
{
	t = mkl_tree_create(&err);
	add("usr", S_IFDIR | 0755, NULL);
	add("usr/bin", S_IFDIR | 0755, NULL);
	add("usr/bin/ls", S_IFREG | 0755, NULL);
	mkl_tree_add_hardlink(t, "usr/bin/dir", "usr/bin/ls", NULL, &err);	/* sorts first */
	add("usr/lib", S_IFDIR | 0755, NULL);
	add("usr/lib/os-release", S_IFREG | 0644, NULL);
	add("bin", S_IFLNK | 0777, "usr/bin");
	add("lib", S_IFLNK | 0777, "usr/lib");
	add("etc", S_IFDIR | 0755, NULL);
	add("etc/os-release", S_IFLNK | 0777, "../usr/lib/os-release");
	add("etc/alternatives", S_IFDIR | 0755, NULL);
	add("etc/alternatives/pager", S_IFLNK | 0777, "/bin/ls");
	add("opt", S_IFDIR | 0755, NULL);
	add("var/lib/apt/lists/x", S_IFREG | 0644, NULL);
	add("dangling", S_IFLNK | 0777, "/nowhere");
	return t;
}

int main(void)
{
	struct mkl_layout l;
	struct mkl_layout_split s;
	struct mkl_node *n;

	T_OK(mkl_layout_parse(NULL, &l, &err) == 0, "%s", err.msg);
	T_OK(l.ndirs == 8 && !l.strict, "default list");
	T_OK(mkl_layout_inside(&l, "usr/bin/ls") && !mkl_layout_inside(&l, "usr") &&
	     !mkl_layout_inside(&l, "usrx/a") && !mkl_layout_inside(&l, "etc/x"), "inside");
	mkl_tree_finish(merged_usr(), &err);
	T_OK(mkl_layout_split(&l, t, &s, &err) == 0, "%s", err.msg);
	T_EQ_INT(s.ro_dirs, 2);	/* usr, opt */
	T_OK(strstr(s.notes, "/bin is a symbolic link") != NULL, "%s", s.notes);
	n = mkl_tree_lookup(s.rw, "usr");
	T_OK(n && mkl_is_lnk(n) && strcmp(n->target, "/ro/usr") == 0, "usr -> /ro/usr");
	n = mkl_tree_lookup(s.rw, "bin");
	T_OK(n && mkl_is_lnk(n) && strcmp(n->target, "usr/bin") == 0, "bin link kept");
	T_OK(mkl_tree_lookup(s.rw, "ro") && mkl_is_dir(mkl_tree_lookup(s.rw, "ro")), "mount point /ro");
	T_OK(mkl_tree_lookup(s.rw, "usr/bin/ls") == NULL, "no /usr content in the root");
	T_OK(mkl_tree_lookup(s.ro, "usr/bin/ls") != NULL, "/usr content in the image");
	T_OK(mkl_tree_lookup(s.ro, "etc") == NULL, "no /etc in the image");
	n = mkl_tree_lookup(s.ro, "usr/bin/dir");
	T_OK(n && n->link == mkl_tree_lookup(s.ro, "usr/bin/ls"), "hard link kept in the image");
	T_OK(mkl_tree_lookup(s.rw, "var/lib/apt/lists/x") != NULL, "/var stays writable");
	mkl_layout_split_free(&s);
	mkl_tree_destroy(t);
	mkl_layout_free(&l);

	/* a nested directory: its parents keep their metadata in the image */
	T_OK(mkl_layout_parse("/usr /var/lib/apt", &l, &err) == 0, "%s", err.msg);
	mkl_tree_finish(merged_usr(), &err);
	T_OK(mkl_layout_split(&l, t, &s, &err) == 0, "%s", err.msg);
	n = mkl_tree_lookup(s.rw, "var/lib/apt");
	T_OK(n && mkl_is_lnk(n) && strcmp(n->target, "/ro/var/lib/apt") == 0, "nested link");
	T_OK(mkl_tree_lookup(s.ro, "var/lib/apt/lists/x") != NULL, "nested content in the image");
	mkl_layout_split_free(&s);
	mkl_tree_destroy(t);
	mkl_layout_free(&l);

	/* errors */
	T_OK(mkl_layout_parse("/usr /usr/lib", &l, &err) == -1, "overlap");
	T_OK(strstr(err.msg, "overlap") != NULL, "%s", err.msg);
	T_OK(mkl_layout_parse("usr", &l, &err) == -1, "relative");
	T_OK(mkl_layout_parse("/ro", &l, &err) == -1, "the mount point");
	T_OK(mkl_layout_parse("/usr /bin", &l, &err) == 0, "%s", err.msg);
	mkl_tree_finish(merged_usr(), &err);
	T_OK(mkl_layout_split(&l, t, &s, &err) == -1, "a listed link is an error when listed by the user");
	T_OK(strstr(err.msg, "'/bin' is a symbolic link to usr/bin") != NULL, "%s", err.msg);
	mkl_tree_destroy(t);
	mkl_layout_free(&l);

	T_OK(mkl_layout_parse("/usr", &l, &err) == 0, "%s", err.msg);
	merged_usr();
	mkl_tree_add_hardlink(t, "etc/ls-copy", "usr/bin/ls", NULL, &err);
	mkl_tree_finish(t, &err);
	T_OK(mkl_layout_split(&l, t, &s, &err) == -1, "hard link across the boundary");
	T_OK(strstr(err.msg, "would be split") != NULL, "%s", err.msg);
	mkl_tree_destroy(t);

	/* checked twice: a relative link out of a read-only dir dangles once split */
	merged_usr();
	add("usr/share/doc/x", S_IFLNK | 0777, "../../../etc/alternatives");
	mkl_tree_finish(t, &err);
	T_OK(mkl_layout_split(&l, t, &s, &err) == -1, "link that would dangle");
	T_OK(strstr(err.msg, "usr/share/doc/x") != NULL, "%s", err.msg);
	mkl_tree_destroy(t);
	mkl_layout_free(&l);
	return t_done();
}
