/* Compressing ahead (src/fmt/squashfs_ahead.c): a squashfs written while
 * its blocks were made ahead from the directory is byte for byte the one
 * written without; blocks of files changed after they were read are not
 * taken; the image reads back with unsquashfs (a reader we did not write).
 * For zstd and xz (xz: the x86 filter and the entropy rule per block). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fmt/squashfs.h"
#include "fmt/squashfs_int.h"
#include "source/source.h"
#include "t.h"
#include "tree/tree.h"

#define BS 131072u

static char top[256];

/* size bytes: text-like runs (compressible) with some random stretches */
static void put_file(const char *name, size_t size, unsigned seed)
{
	char path[512];
	unsigned char *p = malloc(size);
	uint32_t x = seed * 2654435761u + 1;
	FILE *f;

	for (size_t i = 0; i < size; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (i / 4096) % 3 == 0 ? (unsigned char)(x >> 24) : (unsigned char)("mklive ahead "[i % 13] + seed % 7);
	}
	snprintf(path, sizeof(path), "%s/%s", top, name);
	f = fopen(path, "wb");
	if (!f || fwrite(p, 1, size, f) != size || fclose(f)) {
		printf("not ok - cannot write %s\n", path);
		exit(1);
	}
	free(p);
}

/* The image of top, written to path; ahead: compress ahead first, with
 * change() run after one complete walk. Returns the hits. */
static long build(const char *path, const char *comp, int ahead, void (*change)(void))
{
	struct mkl_sqfs_opts o = { .compressor = comp, .block_size = BS, .threads = 2, .mkfs_time = 1 };
	struct mkl_sqfs_ahead_stats st;
	struct mkl_err err = { 0 };
	struct mkl_source *src = NULL;
	struct mkl_source_entry e;
	struct mkl_tree *t = NULL;
	struct mkl_sqfs *sq = NULL;
	int fd, r;
	long hits = -1;

	unlink(path);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
	if (fd < 0 || mkl_sqfs_create(fd, &o, &sq, &err) || !(t = mkl_tree_create(&err)))
		goto out;
	if (ahead) {
		if (mkl_sqfs_ahead_start(sq, top, path, &err))
			goto out;
		mkl_sq_ahead_wait_walk(sq);
		if (change) {
			change();
			mkl_sq_ahead_wait_walk(sq);
		}
	}
	if (mkl_source_open(top, &src, &err))
		goto out;
	while ((r = mkl_source_next(src, &e, &err)) == 1) {
		struct mkl_node *n;

		if (mkl_tree_add(t, e.path, &e.st, &n, &err))
			goto out;
		if (mkl_is_reg(n) && mkl_sqfs_add_data(sq, n, mkl_source_read, src, &err))
			goto out;
	}
	if (r < 0 || mkl_tree_finish(t, &err) || mkl_sqfs_finish(sq, t, &err))
		goto out;
	mkl_sqfs_ahead_stats(sq, &st);
	hits = (long)st.hits;
	if (ahead)
		printf("# %s %s: %llu files, %llu blocks ahead, %llu taken\n", comp, path,
		       (unsigned long long)st.files, (unsigned long long)st.blocks,
		       (unsigned long long)st.hits);
out:
	if (hits < 0)
		printf("not ok - building %s: %s\n", path, err.msg);
	mkl_source_close(src);
	mkl_sqfs_destroy(sq);
	mkl_tree_destroy(t);
	if (fd >= 0)
		close(fd);
	return hits;
}

static int same_file(const char *a, const char *b)
{
	char cmd[1200];

	snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s'", a, b);
	return system(cmd) == 0;
}

static void grow_big(void)
{
	put_file("big.bin", 5 * BS, 99);	/* rewritten: its blocks are new */
}

int main(void)
{
	static const char *const comps[] = { "zstd", "xz" };
	char dir[256], a[300], b[300], c[300], d[300], cmd[1400];
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/mkl-ahead.XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return 1;
	snprintf(top, sizeof(top), "%s/tree", dir);
	mkdir(top, 0755);
	snprintf(cmd, sizeof(cmd), "%s/sub", top);
	mkdir(cmd, 0755);
	put_file("big.bin", 5 * BS + 1000, 1);		/* 5 full blocks and a tail */
	put_file("sub/exact.bin", 3 * BS, 2);		/* 3 full blocks */
	put_file("sub/same.bin", 3 * BS, 2);		/* the same blocks again */
	put_file("small.txt", 5000, 3);			/* a fragment only */
	put_file("sub/x.dpkg-new", 2 * BS, 4);		/* dpkg's: never read ahead */

	for (size_t i = 0; i < sizeof(comps) / sizeof(comps[0]); i++) {
		const char *comp = comps[i];
		long hits;

		put_file("big.bin", 5 * BS + 1000, 1);
		snprintf(a, sizeof(a), "%s/%s-plain.sqfs", dir, comp);
		snprintf(b, sizeof(b), "%s/%s-ahead.sqfs", dir, comp);
		snprintf(c, sizeof(c), "%s/%s-changed.sqfs", dir, comp);
		snprintf(d, sizeof(d), "%s/%s-changed-plain.sqfs", dir, comp);
		T_OK(build(a, comp, 0, NULL) == 0, "%s: no blocks taken without ahead", comp);
		hits = build(b, comp, 1, NULL);
		/* big 5 + exact 3 + same 3 (the same three blocks, each taken) +
		 * x.dpkg-new's 2 are not read ahead but arrive from the source */
		T_OK(hits == 11, "%s: 11 full blocks taken from ahead (%ld)", comp, hits);
		T_OK(same_file(a, b), "%s: the image is byte-identical with and without ahead", comp);

		hits = build(c, comp, 1, grow_big);	/* big.bin changed after being read */
		T_OK(build(d, comp, 0, NULL) == 0, "%s: the changed tree without ahead", comp);
		T_OK(same_file(c, d), "%s: changed after read ahead: the image is the tree's as read last",
		     comp);
		/* the rewritten big.bin was read ahead again on the second walk,
		 * so it too is taken; what matters is the identity above */
		T_OK(hits >= 6, "%s: blocks still taken after a change (%ld)", comp, hits);

		snprintf(cmd, sizeof(cmd), "rm -rf '%s/x' && unsquashfs -q -n -d '%s/x' '%s' >/dev/null 2>&1 && "
			 "diff -r '%s/x' '%s' >/dev/null", dir, dir, c, dir, top);
		T_OK(system(cmd) == 0, "%s: unsquashfs extracts the tree as it is", comp);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return t_done();
}
