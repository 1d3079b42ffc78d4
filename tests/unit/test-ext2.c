/* ext2 writer, through the library API: an empty image and one from a
 * directory source, the super block fields read back byte by byte (magic,
 * block size, label, UUID given or derived, times, features), the size
 * check, and e2fsck -fn on the results when it is installed. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fmt/ext2.h"
#include "source/source.h"
#include "t.h"

static char dir[] = "/tmp/mklive-ext2.XXXXXX";

static uint32_t rd32(const unsigned char *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Write an image from src (NULL: empty) to dir/name; its super block into sb. */
static int make(const char *name, const struct mkl_ext2_opts *o, const char *src_path,
		unsigned char sb[1024], struct mkl_ext2_stats *st, struct mkl_err *err)
{
	struct mkl_source *src = NULL;
	char path[256];
	int fd, rc;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return mkl_error(err, errno, "cannot create '%s'", path);
	if (src_path && mkl_source_open(src_path, &src, err)) {
		close(fd);
		return -1;
	}
	rc = mkl_ext2_write(fd, o, src, st, err);
	if (rc == 0 && pread(fd, sb, 1024, 1024) != 1024)
		rc = mkl_error(err, EIO, "short image");
	mkl_source_close(src);
	close(fd);
	return rc;
}

static int fsck_ok(const char *name)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "e2fsck -fn %s/%s >/dev/null 2>&1", dir, name);
	return system(cmd) == 0;
}

int main(void)
{
	static const uint8_t uuid[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	struct mkl_ext2_opts o = { .size = 4 << 20, .label = "persist", .time = 1700000000, .uuid = uuid };
	struct mkl_ext2_stats st;
	struct mkl_err err = { 0 };
	unsigned char sb[1024], sb2[1024];
	char path[256], cmd[512];
	int have_fsck = system("command -v e2fsck >/dev/null 2>&1") == 0;

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}

	/* Empty, 4 MiB, given UUID. */
	T_OK(make("empty.img", &o, NULL, sb, &st, &err) == 0, "%s", err.msg);
	T_EQ_INT(sb[56] | sb[57] << 8, 0xef53);			/* s_magic */
	T_EQ_INT(rd32(sb + 24), 0);				/* s_log_block_size: 1 KiB */
	T_EQ_INT(rd32(sb + 4), 4096);				/* s_blocks_count */
	T_EQ_INT(rd32(sb + 8), 0);				/* s_r_blocks_count */
	T_EQ_INT(rd32(sb + 76), 1);				/* s_rev_level */
	T_EQ_INT(sb[88] | sb[89] << 8, 256);			/* s_inode_size */
	T_OK(memcmp(sb + 104, uuid, 16) == 0, "the given UUID");
	T_OK(memcmp(sb + 120, "persist\0\0\0\0\0\0\0\0\0", 16) == 0, "label");
	T_EQ_INT(rd32(sb + 0x108), 1700000000);			/* s_mkfs_time */
	T_EQ_INT(rd32(sb + 48), 1700000000);			/* s_wtime */
	T_EQ_INT(rd32(sb + 92), 0x08 | 0x20);			/* compat: ext_attr, dir_index */
	T_EQ_INT(rd32(sb + 96), 0x02);				/* incompat: filetype */
	T_EQ_INT(rd32(sb + 100), 0x01 | 0x02);			/* ro_compat: sparse_super, large_file */
	T_EQ_INT(st.bytes, 4 << 20);
	T_EQ_INT(st.block_size, 1024);
	T_EQ_INT(st.inodes - st.free_inodes, 11);		/* reserved + root + lost+found */
	if (have_fsck)
		T_OK(fsck_ok("empty.img"), "e2fsck -fn empty.img");

	/* Derived UUID: stable, and changed by the label. */
	o.uuid = NULL;
	T_OK(make("d1.img", &o, NULL, sb, &st, &err) == 0, "%s", err.msg);
	T_OK(make("d2.img", &o, NULL, sb2, &st, &err) == 0, "%s", err.msg);
	T_OK(memcmp(sb + 104, sb2 + 104, 16) == 0, "same input, same UUID");
	T_EQ_INT(sb[104 + 6] >> 4, 4);				/* version nibble */
	T_EQ_INT(sb[104 + 8] >> 6, 2);				/* RFC 4122 variant */
	o.label = "other";
	T_OK(make("d3.img", &o, NULL, sb2, &st, &err) == 0, "%s", err.msg);
	T_OK(memcmp(sb + 104, sb2 + 104, 16) != 0, "another label, another UUID");

	/* From a directory, sized to the content. */
	snprintf(path, sizeof(path), "%s/tree", dir);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/a/b && printf hi >%s/a/b/f && head -c 100000 /dev/urandom >%s/r && "
		 "ln -s a/b/f %s/l", path, path, path, path);
	T_OK(system(cmd) == 0, "made the tree");
	o = (struct mkl_ext2_opts){ .time = 1700000000 };
	T_OK(make("tree.img", &o, path, sb, &st, &err) == 0, "%s", err.msg);
	T_EQ_INT(st.files, 7);					/* root a b f r l lost+found */
	T_OK(st.free_blocks >= 64 && st.free_blocks < 64 + st.blocks / 10, "slack %llu of %llu",
	     (unsigned long long)st.free_blocks, (unsigned long long)st.blocks);
	if (have_fsck)
		T_OK(fsck_ok("tree.img"), "e2fsck -fn tree.img");

	/* Too small: fails naming the sizes. */
	o.size = 20 << 10;
	T_OK(make("small.img", &o, path, sb, &st, &err) == -1, "20 KiB should not hold 100 KB");
	T_OK(strstr(err.msg, "too small") && strstr(err.msg, "needs at least"), "%s", err.msg);

	/* Bad options. */
	o = (struct mkl_ext2_opts){ .size = 1 << 20, .block_size = 512, .time = -1 };
	T_OK(make("bad.img", &o, NULL, sb, &st, &err) == -1, "block size 512");
	o = (struct mkl_ext2_opts){ .time = -1 };
	T_OK(make("bad.img", &o, NULL, sb, &st, &err) == -1, "empty without a size");
	T_OK(mkl_ext2_check_label("0123456789abcdef", &err) == 0, "16 bytes");
	T_OK(mkl_ext2_check_label("0123456789abcdefg", &err) == -1, "17 bytes");
	T_OK(mkl_ext2_check_label("", &err) == -1, "empty label");

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("could not remove %s\n", dir);
	return t_done();
}
