/* The dm-verity hash tree (src/fmt/verity.c) against `veritysetup format`
 * (cryptsetup, a reader and writer we did not write) on the same bytes:
 * the same root hash and the same superblock + tree, byte for byte, for
 * images of 1, 2, 128, 129 and 16,385 blocks (one, two and three levels,
 * and the edges between). The image is fed as libsquashfs writes one:
 * appends in uneven pieces, a file's blocks written and cut off again (its
 * duplicate found), an overwrite of offset 0 at the end; then
 * `veritysetup verify` reads the tree from the same file, and one flipped
 * byte makes it fail. */
#include "t.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fmt/verity.h"

static char dir[] = "/tmp/mklive-test-verity-XXXXXX";

static int sh(const char *cmd)
{
	return system(cmd) == 0;
}

static void one(uint64_t blocks, unsigned seed)
{
	uint64_t size = blocks * MKL_VERITY_BLOCK, off = 0;
	unsigned char *img = malloc((size_t)size), salt[MKL_VERITY_SALT];
	char path[256], hash[256], cmd[2048], uuid[40], root[80] = "", salthex[65];
	struct mkl_verity_result res;
	struct mkl_verity *v;
	struct mkl_err err = { 0 };
	FILE *f;
	int fd, ok = 1;

	srand(seed);
	for (uint64_t i = 0; i < size; i++)
		img[i] = (unsigned char)(rand() >> 7);
	snprintf(path, sizeof(path), "%s/img-%llu", dir, (unsigned long long)blocks);
	snprintf(hash, sizeof(hash), "%s/hash-%llu", dir, (unsigned long long)blocks);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	mkl_verity_salt(1700000000 + seed, salt);
	v = mkl_verity_new(salt, &err);
	T_OK(fd >= 0 && v, "set-up");
	if (fd < 0 || !v)
		goto out;
	/* a placeholder where the superblock goes, rewritten at the end */
	{
		static const unsigned char zero[96];

		ok = pwrite(fd, zero, 96, 0) == 96 && mkl_verity_write(v, 0, zero, 96, &err) == 0;
		off = 96;
	}
	while (off < size) {
		size_t n = (size_t)(rand() % 20000) + 1;

		if (n > size - off)
			n = (size_t)(size - off);
		/* now and then a "duplicate": garbage appended, then cut off */
		if (rand() % 5 == 0) {
			size_t g = (size_t)(rand() % 9000) + 1;
			unsigned char junk[9000];

			memset(junk, 0xa5, g);
			ok = ok && pwrite(fd, junk, g, (off_t)off) == (ssize_t)g &&
			     mkl_verity_write(v, off, junk, g, &err) == 0 &&
			     ftruncate(fd, (off_t)off) == 0 &&
			     mkl_verity_truncate(v, off, fd, 0, &err) == 0;
		}
		ok = ok && pwrite(fd, img + off, n, (off_t)off) == (ssize_t)n &&
		     mkl_verity_write(v, off, img + off, n, &err) == 0;
		off += n;
	}
	/* the superblock, last */
	ok = ok && pwrite(fd, img, 96, 0) == 96 && mkl_verity_write(v, 0, img, 96, &err) == 0;
	T_OK(ok, "%llu blocks: every write and cut noted: %s", (unsigned long long)blocks, err.msg);
	T_OK(mkl_verity_finish(v, fd, 0, size, &res, &err) == 0, "finish: %s", err.msg);
	close(fd);
	for (int i = 0; i < 32; i++)
		sprintf(salthex + 2 * i, "%02x", salt[i]);
	/* our uuid, so that the superblocks can be compared whole */
	f = fopen(path, "rb");
	if (f && fseek(f, (long)size + 16, SEEK_SET) == 0) {
		unsigned char u[16];

		if (fread(u, 1, 16, f) == 16)
			snprintf(uuid, sizeof(uuid),
				 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
				 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11],
				 u[12], u[13], u[14], u[15]);
	}
	if (f)
		fclose(f);
	snprintf(cmd, sizeof(cmd),
		 "head -c %llu %s > %s.data && veritysetup format --salt=%s --uuid=%s %s.data %s "
		 "| sed -n 's/^Root hash:[[:space:]]*//p'",
		 (unsigned long long)size, path, path, salthex, uuid, path, hash);
	f = popen(cmd, "r");
	if (f) {
		if (!fgets(root, sizeof(root), f))
			root[0] = 0;
		root[strcspn(root, "\n")] = 0;
		pclose(f);
	}
	T_EQ_STR(res.root_hex, root);
	snprintf(cmd, sizeof(cmd), "tail -c +%llu %s | cmp -s - %s",
		 (unsigned long long)size + 1, path, hash);
	T_OK(sh(cmd), "%llu blocks: superblock + tree as veritysetup's (%llu bytes, %u levels)",
	     (unsigned long long)blocks, (unsigned long long)res.tree_bytes, res.levels);
	snprintf(cmd, sizeof(cmd), "veritysetup verify --hash-offset=%llu %s %s %s",
		 (unsigned long long)size, path, path, res.root_hex);
	T_OK(sh(cmd), "%llu blocks: veritysetup verify", (unsigned long long)blocks);
	/* one byte flipped in the last data block: verify fails */
	fd = open(path, O_RDWR);
	if (fd >= 0) {
		unsigned char c = (unsigned char)~img[size - 100];

		T_OK(pwrite(fd, &c, 1, (off_t)(size - 100)) == 1, "flip");
		close(fd);
	}
	snprintf(cmd, sizeof(cmd), "veritysetup verify --hash-offset=%llu %s %s %s 2>/dev/null",
		 (unsigned long long)size, path, path, res.root_hex);
	T_OK(!sh(cmd), "%llu blocks: a flipped byte fails veritysetup verify", (unsigned long long)blocks);
out:
	mkl_verity_free(v);
	free(img);
}

int main(void)
{
	static const uint64_t sizes[] = { 1, 2, 128, 129, 16385 };
	struct mkl_verity_result res;
	struct mkl_verity *v;
	struct mkl_err err = { 0 };
	unsigned char salt[MKL_VERITY_SALT] = { 0 };
	char cmd[512];

	if (!sh("command -v veritysetup >/dev/null 2>&1")) {
		T_SKIP("veritysetup (cryptsetup-bin) not installed: the tree is not checked");
		return t_done();
	}
	if (!mkdtemp(dir)) {
		T_OK(0, "mkdtemp");
		return t_done();
	}
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		one(sizes[i], (unsigned)i + 1);

	/* refused: an image that is not whole blocks */
	v = mkl_verity_new(salt, &err);
	T_OK(v && mkl_verity_write(v, 0, "abc", 3, &err) == 0, "write");
	T_OK(v && mkl_verity_finish(v, -1, 0, 3, &res, &err) < 0 && strstr(err.msg, "4 KiB"),
	     "a partial block is refused: %s", err.msg);
	mkl_verity_free(v);

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	T_OK(sh(cmd), "clean up");
	return t_done();
}
