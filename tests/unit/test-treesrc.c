/* The tree source (src/source/treesrc.c): a finished tree read back as
 * entries, as the cloop-ext2 payload reads the build's tree. Pre-order
 * with the root first; the first name of an inode met carries its
 * metadata and content, later names are hard links to that path, also when
 * the tree's leader (the first name added) comes later in that order;
 * implicit directories take the given time; contents come from the
 * callback, for the leader, in order. And the whole thing through the ext2
 * writer, checked with debugfs. */
#include "t.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fmt/ext2.h"
#include "source/source.h"
#include "tree/tree.h"

/* Content: byte i of a file is (i * 7 + its size) & 0xff. */
static int calls, bad_node;
static int content(void *ctx, const struct mkl_node *n, uint64_t off, void *buf, size_t len,
		   struct mkl_err *err)
{
	unsigned char *p = buf;

	(void)ctx;
	(void)err;
	calls++;
	if (n->link)
		bad_node++;
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(((off + i) * 7 + n->size) & 0xff);
	return 0;
}

static void add(struct mkl_tree *t, const char *path, uint32_t mode, uint64_t size, const char *target)
{
	struct mkl_stat st = { .mode = mode, .uid = 5, .gid = 6, .mtime = 1000, .size = size,
			       .target = target };
	struct mkl_node *n;
	struct mkl_err err = { 0 };

	if (S_ISBLK(mode))
		st.rdev = makedev(8, 1);
	T_OK(mkl_tree_add(t, path, &st, &n, &err) == 0, "add %s: %s", path, err.msg);
}

int main(void)
{
	struct mkl_err err = { 0 };
	struct mkl_tree *t = mkl_tree_create(&err);
	struct mkl_source *src = NULL;
	struct mkl_source_entry e;
	struct mkl_xattr x = { .name = (char *)"user.k", .size = 1, .value = (unsigned char *)"v" };
	struct mkl_stat xst = { .mode = S_IFREG | 0600, .mtime = 1000, .size = 0, .xattrs = &x };
	char order[1024] = "";
	struct mkl_node *n;
	int r, entries = 0;

	T_OK(t != NULL, "tree");
	add(t, "", S_IFDIR | 0755, 0, NULL);
	/* z/leader is added first, so it leads; a/link sorts first. */
	add(t, "z/leader", S_IFREG | 04755, 100000, NULL);
	T_OK(mkl_tree_add_hardlink(t, "a/link", "z/leader", &n, &err) == 0, "%s", err.msg);
	T_OK(mkl_tree_add_hardlink(t, "z/leader2", "z/leader", &n, &err) == 0, "%s", err.msg);
	add(t, "z", S_IFDIR | 0750, 0, NULL);
	add(t, "a/sym", S_IFLNK | 0777, 0, "../z/leader");
	add(t, "dev/sda1", S_IFBLK | 0660, 0, NULL);
	T_OK(mkl_tree_add(t, "a/x", &xst, &n, &err) == 0, "%s", err.msg);
	T_OK(mkl_tree_finish(t, &err) == 0, "%s", err.msg);

	T_OK(mkl_source_tree_open(t, content, NULL, 4242, &src, &err) == 0, "%s", err.msg);
	while ((r = mkl_source_next(src, &e, &err)) == 1) {
		char line[256];

		entries++;
		snprintf(line, sizeof(line), "%s%s%s;", e.path, e.hardlink ? ">" : "",
			 e.hardlink ? e.hardlink : "");
		strncat(order, line, sizeof(order) - strlen(order) - 1);
		if (!strcmp(e.path, "a")) {
			T_EQ_INT(e.st.mode, S_IFDIR | 0755);
			T_EQ_INT(e.st.mtime, 4242);	/* implicit */
		} else if (!strcmp(e.path, "z")) {
			T_EQ_INT(e.st.mode, S_IFDIR | 0750);
			T_EQ_INT(e.st.mtime, 1000);
		} else if (!strcmp(e.path, "a/link")) {
			unsigned char buf[70000];
			long got;
			uint64_t total = 0;
			int ok = 1;

			T_EQ_INT(e.st.mode, S_IFREG | 04755);
			T_EQ_INT(e.st.size, 100000);
			T_EQ_INT(e.st.uid, 5);
			while ((got = mkl_source_read(src, buf, sizeof(buf), &err)) > 0) {
				for (long i = 0; i < got; i++)
					if (buf[i] != (unsigned char)(((total + (uint64_t)i) * 7 + 100000) & 0xff))
						ok = 0;
				total += (uint64_t)got;
			}
			T_EQ_INT(got, 0);
			T_EQ_INT(total, 100000);
			T_OK(ok, "content of a/link");
		} else if (!strcmp(e.path, "a/sym")) {
			T_EQ_STR(e.st.target, "../z/leader");
		} else if (!strcmp(e.path, "dev/sda1")) {
			T_EQ_INT(e.st.rdev, makedev(8, 1));
		} else if (!strcmp(e.path, "a/x")) {
			T_OK(e.st.xattrs && !strcmp(e.st.xattrs->name, "user.k"), "xattr");
			T_EQ_INT(mkl_source_read(src, order + 1000, 10, &err), 0);
		}
	}
	T_EQ_INT(r, 0);
	T_EQ_STR(order, ";a;a/link;a/sym;a/x;dev;dev/sda1;z;z/leader>a/link;z/leader2>a/link;");
	T_EQ_INT(entries, 10);
	T_EQ_INT(bad_node, 0);
	T_OK(calls > 0, "content called");
	T_EQ_INT(mkl_source_next(src, &e, &err), 0);	/* stays at the end */
	mkl_source_close(src);

	/* Through the ext2 writer: one inode, three names, three links. */
	{
		char tmpl[] = "/tmp/mklive-treesrc.XXXXXX", cmd[512], out[4096];
		struct mkl_ext2_opts eo = { .block_size = 4096, .time = 1700000000 };
		struct mkl_ext2_stats es;
		int fd = mkstemp(tmpl);
		FILE *p;
		size_t len;

		T_OK(fd >= 0, "mkstemp");
		T_OK(mkl_source_tree_open(t, content, NULL, 4242, &src, &err) == 0, "%s", err.msg);
		T_OK(mkl_ext2_write(fd, &eo, src, &es, &err) == 0, "ext2: %s", err.msg);
		mkl_source_close(src);
		close(fd);
		snprintf(cmd, sizeof(cmd), "e2fsck -fn %s >/dev/null 2>&1 && for f in /a/link /z/leader "
			 "/z/leader2; do debugfs -R \"stat $f\" %s 2>/dev/null | sed -n "
			 "'s/^Inode: \\([0-9]*\\) .*/\\1/p; s/.*Links: \\([0-9]*\\) .*/\\1/p'; done | "
			 "tr '\\n' ' '", tmpl, tmpl);
		p = popen(cmd, "r");
		len = p ? fread(out, 1, sizeof(out) - 1, p) : 0;
		out[len] = '\0';
		if (p)
			pclose(p);
		if (system("command -v debugfs >/dev/null && command -v e2fsck >/dev/null") != 0) {
			T_SKIP("e2fsck/debugfs missing (apt-get install e2fsprogs)");
		} else {
			unsigned a, b, c, la, lb, lc;

			T_OK(sscanf(out, "%u %u %u %u %u %u", &a, &la, &b, &lb, &c, &lc) == 6,
			     "e2fsck clean and three stats: '%s'", out);
			T_OK(a == b && b == c && la == 3 && lb == 3 && lc == 3,
			     "one inode, 3 links: '%s'", out);
		}
		unlink(tmpl);
	}
	mkl_tree_destroy(t);
	return t_done();
}
