/*
 * mklive.verify: check the medium against the checksums its build wrote
 * (/sha256sum.txt, "HASH  ./path" as sha256sum(1) writes it) before any
 * of it is used, so a damaged CD or stick is reported by name at once
 * rather than as I/O or squashfs errors somewhere in the running system.
 *
 * Every listed file is read once, front to back, with progress every 10 %
 * of the bytes; a file that differs, is missing or cannot be read is
 * named. The caller goes to the rescue path when the medium is not whole.
 *
 * Without mklive.verify, the init still checks that the files it is about
 * to use are there (medium_has_image), so a medium whose image was removed
 * or renamed says so instead of failing at the loop device.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "init.h"
#include "../fmt/sha256.h"

#define SUMS "sha256sum.txt"

/* Hash one file of the medium: 0, or -1 with errno when it cannot be read. */
static int hash_file(int dfd, const char *path, unsigned char sum[MKL_SHA256_LEN],
		     uint64_t *done, uint64_t total, unsigned *shown)
{
	static unsigned char buf[1 << 16];
	struct mkl_sha256 s;
	int fd = openat(dfd, path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	mkl_sha256_init(&s);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			close(fd);
			errno = e;
			return -1;
		}
		if (n == 0)
			break;
		mkl_sha256_update(&s, buf, (size_t)n);
		*done += (uint64_t)n;
		if (total && *done * 10 / total > *shown) {
			*shown = (unsigned)(*done * 10 / total);
			info("checking the medium: %u%% (%llu of %llu MB)", *shown * 10,
			     (unsigned long long)(*done >> 20), (unsigned long long)(total >> 20));
		}
	}
	close(fd);
	mkl_sha256_final(&s, sum);
	return 0;
}

int medium_verify(const char *mnt)
{
	char *list, *line, *next, path[512];
	int dfd, bad = 0, files = 0;
	uint64_t total = 0, done = 0;
	unsigned shown = 0;
	struct stat st;

	sfmt(path, sizeof(path), "%s/" SUMS, mnt);
	list = read_file(path);
	if (!list) {
		err("error: mklive.verify: no checksums on the medium (%s: %s); it was made "
		    "without them, or it is damaged", path, errstr(errno));
		return -1;
	}
	dfd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		err("error: mklive.verify: cannot open %s: %s", mnt, errstr(errno));
		free(list);
		return -1;
	}
	/* The sizes first, for the progress. */
	for (line = list; *line; line = next) {
		size_t len = strcspn(line, "\n");

		next = line[len] ? line + len + 1 : line + len;
		if (len > 68 && len - 68 < sizeof(path)) {
			memcpy(path, line + 68, len - 68);
			path[len - 68] = 0;
			if (!fstatat(dfd, path, &st, 0))
				total += (uint64_t)st.st_size;
		}
	}
	for (line = list; *line; line = next) {
		unsigned char sum[MKL_SHA256_LEN];
		char hex[2 * MKL_SHA256_LEN + 1];
		const char *name;

		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		else
			next = line + strlen(line);
		/* "<64 hex>  ./path" */
		if (strlen(line) < 69 || line[64] != ' ' || line[65] != ' ' || strncmp(line + 66, "./", 2)) {
			err("error: mklive.verify: " SUMS " on the medium is malformed");
			bad++;
			break;
		}
		name = line + 68;
		files++;
		if (hash_file(dfd, name, sum, &done, total, &shown) < 0) {
			err("error: the medium is damaged: %s cannot be read: %s", name, errstr(errno));
			bad++;
			continue;
		}
		mkl_sha256_hex(sum, hex);
		if (strncmp(hex, line, 64)) {
			err("error: the medium is damaged: %s does not match its checksum", name);
			bad++;
		}
	}
	close(dfd);
	free(list);
	if (bad) {
		err("error: mklive.verify: %d of %d files on the medium are damaged; write the "
		    "image to the medium again (check it first with 'mklive verify IMAGE'), or use "
		    "another medium", bad, files);
		return -1;
	}
	info("medium check: all %d files match their checksums (%llu MB)", files,
	     (unsigned long long)(done >> 20));
	return 0;
}

static int has(const char *dev, const char *id, const char *what, const char *file, const char *opt)
{
	char path[512];
	struct stat st;

	sfmt(path, sizeof(path), MKL_MEDIUM "/%s", file[0] == '/' ? file + 1 : file);
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
		return 0;
	err("error: the medium %s on %s has no %s (%s): it is incomplete or was changed after "
	    "the build; write the image again, or name the file with %s=", id, dev, what,
	    file[0] == '/' ? file + 1 : file, opt);
	return -1;
}

int medium_has_image(const struct init_cfg *cfg, const char *dev)
{
	if (has(dev, cfg->id, "compressed image", cfg->image, "mklive.image") < 0)
		return -1;
	if (!strcmp(cfg->root, "symlink") && cfg->rwimage &&
	    has(dev, cfg->id, "writable part of the root", cfg->rwimage, "mklive.rwimage") < 0)
		return -1;
	return 0;
}
