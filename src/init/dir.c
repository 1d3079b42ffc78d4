/*
 * opendir, fdopendir, readdir and closedir for the init, in place of
 * musl's (as alloc.c does for malloc).
 *
 * musl's fdopendir checks its fd with fstat and fcntl, which link in
 * musl's whole fstatat (its statx path and the conversion from the
 * kernel's struct) and fcntl (its fallbacks for old kernels): about
 * 1 KB of the init for checks the init does not need. These four read
 * getdents64 into a buffer, as musl's do; struct dirent is the kernel's
 * linux_dirent64 in musl, so an entry is returned where it lies. The init
 * stats with one system call (init.h) for the same reason.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.h"

struct __dirstream {
	int fd, pos, end;
	char buf[4096] __attribute__((aligned(8)));
};

DIR *fdopendir(int fd)
{
	DIR *d;

	if (fd < 0)
		return NULL;
	d = malloc(sizeof(*d));
	if (!d)
		return NULL;
	d->fd = fd;
	d->pos = d->end = 0;
	return d;
}

DIR *opendir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fdopendir(fd);

	if (!d && fd >= 0)
		close(fd);
	return d;
}

/* NULL at the end (errno untouched) or on an error (errno set) */
struct dirent *readdir(DIR *d)
{
	struct dirent *e;

	if (d->pos >= d->end) {
		long n = syscall(SYS_getdents64, d->fd, d->buf, sizeof(d->buf));

		if (n <= 0)
			return NULL;
		d->pos = 0, d->end = (int)n;
	}
	e = (struct dirent *)(d->buf + d->pos);
	d->pos += e->d_reclen;
	return e;
}

int closedir(DIR *d)
{
	int r = close(d->fd);

	free(d);
	return r;
}
