/* cpio "newc" writer (see cpio.h).
 *
 * A record is a 110-byte ASCII header ("070701" and 13 fields of 8 hex
 * digits), the NUL-terminated name padded so header + name is a multiple
 * of 4, then the data padded to 4. The archive ends with a "TRAILER!!!"
 * record and is padded to a multiple of 512 bytes, as cpio(1) does.
 *
 * Reproducibility lives here: inode numbers are 1, 2, 3... in add order,
 * nlink is 2 for directories and 1 for everything else, devmajor/minor are
 * 0, and the check field is 0. Parent directories are not implied.
 */
#include "fmt/cpio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#define HDR_LEN 110

struct mkl_cpio {
	mkl_sink_fn sink;
	void *ctx;
	uint32_t next_ino;
	uint64_t total;		/* bytes written so far */
	int finished;
	int failed;
};

static const unsigned char zeros[512];

static int out(struct mkl_cpio *c, const void *buf, size_t len, struct mkl_err *err)
{
	if (!len)
		return 0;
	if (c->sink(c->ctx, buf, len, err) < 0) {
		c->failed = 1;
		return -1;
	}
	c->total += len;
	return 0;
}

static int pad(struct mkl_cpio *c, unsigned align, struct mkl_err *err)
{
	size_t n = (size_t)((align - c->total % align) % align);

	return out(c, zeros, n, err);
}

int mkl_cpio_create(mkl_sink_fn sink, void *ctx, struct mkl_cpio **out_c, struct mkl_err *err)
{
	struct mkl_cpio *c;

	*out_c = NULL;
	c = mkl_calloc(1, sizeof(*c), err);
	if (!c)
		return -1;
	c->sink = sink;
	c->ctx = ctx;
	c->next_ino = 1;
	*out_c = c;
	return 0;
}

/* One record: header, name, data. ino 0 is for the trailer. */
static int record(struct mkl_cpio *c, uint32_t ino, const char *path, uint32_t mode,
		  uint32_t uid, uint32_t gid, uint32_t nlink, uint32_t mtime, uint64_t rdev,
		  const void *data, size_t len, struct mkl_err *err)
{
	size_t namesize = strlen(path) + 1;
	char hdr[HDR_LEN + 1];
	int n;

	n = snprintf(hdr, sizeof(hdr),
		     "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", ino, mode,
		     uid, gid, nlink, mtime, (uint32_t)len, 0u, 0u, (uint32_t)major(rdev),
		     (uint32_t)minor(rdev), (uint32_t)namesize, 0u);
	if (n != HDR_LEN)
		return mkl_error(err, EINVAL, "cpio header for '%s' has %d bytes", path, n);
	if (out(c, hdr, HDR_LEN, err) < 0 || out(c, path, namesize, err) < 0 ||
	    pad(c, 4, err) < 0 || out(c, data, len, err) < 0 || pad(c, 4, err) < 0)
		return -1;
	return 0;
}

int mkl_cpio_add(struct mkl_cpio *c, const char *path, uint32_t mode, uint32_t uid, uint32_t gid,
		 uint64_t rdev, int64_t mtime, const void *data, size_t len, struct mkl_err *err)
{
	uint32_t type = mode & S_IFMT;
	uint32_t t;

	if (c->finished || c->failed)
		return mkl_error(err, EINVAL, "cannot add '%s' to the cpio archive: it %s", path,
				 c->finished ? "is finished" : "failed before");
	if (!path[0] || path[0] == '/' || strcmp(path, "TRAILER!!!") == 0)
		return mkl_error(err, EINVAL, "cannot add '%s' to the cpio archive: %s", path,
				 path[0] == '/' ? "path is absolute"
				 : path[0] ? "reserved name" : "empty path");
	switch (type) {
	case S_IFREG:
		break;
	case S_IFLNK:
		if (!len)
			return mkl_error(err, EINVAL, "cannot add symlink '%s' to the cpio archive: "
					 "empty target", path);
		break;
	case S_IFDIR:
	case S_IFCHR:
	case S_IFBLK:
	case S_IFIFO:
	case S_IFSOCK:
		if (len)
			return mkl_error(err, EINVAL, "cannot add '%s' to the cpio archive: "
					 "only files and symlinks have data", path);
		break;
	default:
		return mkl_error(err, EINVAL, "cannot add '%s' to the cpio archive: "
				 "unknown file type 0%o", path, (unsigned)type);
	}
	if (len > UINT32_MAX)
		return mkl_error(err, EFBIG, "cannot add '%s' to the cpio archive: %zu bytes "
				 "is more than newc's 4 GiB limit", path, len);
	if (c->next_ino == 0)
		return mkl_error(err, EOVERFLOW, "cannot add '%s' to the cpio archive: "
				 "out of inode numbers", path);
	/* newc mtime is u32; clamp what it cannot hold. */
	t = mtime < 0 ? 0 : mtime > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)mtime;
	if (type != S_IFCHR && type != S_IFBLK)
		rdev = 0;
	if (record(c, c->next_ino, path, mode, uid, gid, type == S_IFDIR ? 2 : 1, t, rdev, data,
		   len, err) < 0)
		return mkl_err_prefix(err, "writing '%s' to the cpio archive", path);
	c->next_ino++;
	return 0;
}

int mkl_cpio_finish(struct mkl_cpio *c, struct mkl_err *err)
{
	if (c->finished || c->failed)
		return mkl_error(err, EINVAL, "cannot finish the cpio archive: it %s",
				 c->finished ? "is finished" : "failed before");
	/* The trailer as GNU cpio writes it: nlink 1, everything else 0. */
	if (record(c, 0, "TRAILER!!!", 0, 0, 0, 1, 0, 0, NULL, 0, err) < 0 ||
	    pad(c, 512, err) < 0)
		return mkl_err_prefix(err, "writing the cpio trailer");
	c->finished = 1;
	return 0;
}

void mkl_cpio_destroy(struct mkl_cpio *c)
{
	free(c);
}
