/* Output files named only when complete (see outfile.h). */
#include "tree/outfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *mkl_dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

int mkl_outfile_open(struct mkl_outfile *o, const char *path, bool allow_stdout,
		     struct mkl_err *err)
{
	struct stat st;
	char *dir;

	memset(o, 0, sizeof(*o));
	o->fd = -1;
	if (allow_stdout && !strcmp(path, "-")) {
		o->fd = 1;
		o->is_stdout = true;
		return 0;
	}
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return mkl_error(err, EISDIR, "cannot write '%s'", path);
	o->path = strdup(path);
	dir = mkl_dir_of(path);
	if (!o->path || !dir) {
		free(dir);
		return mkl_error(err, ENOMEM, "out of memory");
	}
	o->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
	if (o->fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		/* No unnamed files here: a hidden name beside the output. */
		if (asprintf(&o->tmpname, "%s.tmp-XXXXXX", path) < 0) {
			o->tmpname = NULL;
			free(dir);
			return mkl_error(err, ENOMEM, "out of memory");
		}
		o->fd = mkostemp(o->tmpname, O_CLOEXEC);
		if (o->fd >= 0) {
			mode_t mask = umask(022);

			umask(mask);
			fchmod(o->fd, 0644 & ~mask);
		} else {
			free(o->tmpname);
			o->tmpname = NULL;
		}
	}
	if (o->fd < 0) {
		int e = errno;

		mkl_error(err, e, "cannot create '%s'%s%s%s", path, e == ENOENT ? " (directory '" : "",
			  e == ENOENT ? dir : "", e == ENOENT ? "' missing?)" : "");
		free(dir);
		return -1;
	}
	free(dir);
	return 0;
}

int mkl_outfile_not_input(const char *path, const char *input, struct mkl_err *err)
{
	struct stat a, b;

	if (!input || !strcmp(path, "-") || !strcmp(input, "-") || stat(path, &a) || stat(input, &b))
		return 0;
	if (a.st_dev == b.st_dev && a.st_ino == b.st_ino)
		return mkl_error(err, 0, "output '%s' is the input '%s' (write to another file)",
				 path, input);
	return 0;
}

int mkl_outfile_commit(struct mkl_outfile *o, struct mkl_err *err)
{
	char proc[64], *tmp = NULL;

	if (o->is_stdout)
		return 0;
	if (o->tmpname) {
		if (rename(o->tmpname, o->path))
			return mkl_error(err, errno, "cannot rename '%s' to '%s'", o->tmpname, o->path);
		free(o->tmpname);
		o->tmpname = NULL;
		return 0;
	}
	/* Name the unnamed file, then move the name over any old output. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", o->fd);
	if (asprintf(&tmp, "%s.tmp-%ld", o->path, (long)getpid()) < 0)
		return mkl_error(err, ENOMEM, "out of memory");
	unlink(tmp);
	if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) || rename(tmp, o->path)) {
		mkl_error(err, errno, "cannot create '%s'", o->path);
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	return 0;
}

void mkl_outfile_close(struct mkl_outfile *o)
{
	if (o->fd >= 0 && !o->is_stdout)
		close(o->fd);
	if (o->tmpname)
		unlink(o->tmpname);
	free(o->tmpname);
	free(o->path);
	o->fd = -1;
	o->tmpname = o->path = NULL;
}

/* A named scratch file in dir, removed at once. */
static int scratch_named(const char *dir, int *fd)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/.mklive-XXXXXX", dir) >= (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	*fd = mkostemp(path, O_CLOEXEC);
	if (*fd < 0)
		return -1;
	unlink(path);
	return 0;
}

int mkl_scratch_open_in(const char *dir, int *fd, struct mkl_err *err)
{
	const char *tmp = getenv("TMPDIR");

	if (!tmp || !*tmp)
		tmp = "/tmp";
	if (!dir)
		dir = tmp;
	*fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (*fd >= 0 || scratch_named(dir, fd) == 0)
		return 0;
	if (strcmp(dir, tmp) && (*fd = open(tmp, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) >= 0)
		return 0;
	if (strcmp(dir, tmp) && scratch_named(tmp, fd) == 0)
		return 0;
	return mkl_error(err, errno, "cannot create a scratch file in '%s'", dir);
}

int mkl_scratch_open(const char *near, int *fd, struct mkl_err *err)
{
	char *dir = mkl_dir_of(near);
	int rc;

	if (!dir)
		return mkl_error(err, ENOMEM, "out of memory");
	rc = mkl_scratch_open_in(dir, fd, err);
	free(dir);
	return rc;
}

int mkl_mkdirs(const char *path, mode_t mode, struct mkl_err *err)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(buf))
		return mkl_error(err, ENAMETOOLONG, "cannot create directory '%s'", path);
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p)
			continue;
		char c = *p;

		*p = '\0';
		if (mkdir(buf, mode) && errno != EEXIST)
			return mkl_error(err, errno, "cannot create directory '%s'", buf);
		*p = c;
		if (!c)
			break;
	}
	{
		struct stat st;

		if (stat(path, &st))
			return mkl_error(err, errno, "cannot create directory '%s'", path);
		if (!S_ISDIR(st.st_mode))
			return mkl_error(err, ENOTDIR, "cannot create directory '%s'", path);
	}
	return 0;
}

int mkl_dir_temp(const char *path, char **tmp, struct mkl_err *err)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	int dirlen = slash ? (int)(slash - path) : 1;

	if (asprintf(tmp, "%.*s/.%s-XXXXXX", dirlen, slash ? path : ".", base) < 0) {
		*tmp = NULL;
		return mkl_error(err, ENOMEM, "out of memory");
	}
	if (!mkdtemp(*tmp)) {
		mkl_error(err, errno, "cannot create a directory beside '%s'", path);
		free(*tmp);
		*tmp = NULL;
		return -1;
	}
	return 0;
}

int mkl_dir_commit(const char *tmp, const char *path, struct mkl_err *err)
{
	/* Swapped when path is there, so it is never missing; the old tree
	 * is then at tmp, and removed. */
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_EXCHANGE) == 0)
		return mkl_remove_tree(tmp, err);
	if (errno == ENOENT && rename(tmp, path) == 0)
		return 0;
	return mkl_error(err, errno, "cannot rename '%s' to '%s'", tmp, path);
}

static int remove_at(int dfd, const char *name, const char *top, struct mkl_err *err)
{
	DIR *d;
	struct dirent *de;
	int fd, rc = 0;

	if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return mkl_error(err, errno, "cannot remove '%s' (in '%s')", name, top);
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return mkl_error(err, errno, "cannot remove '%s' (in '%s')", name, top);
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return mkl_error(err, errno, "cannot remove '%s' (in '%s')", name, top);
	}
	while (!rc && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			rc = remove_at(fd, de->d_name, top, err);
	closedir(d);
	if (!rc && unlinkat(dfd, name, AT_REMOVEDIR) && errno != ENOENT)
		return mkl_error(err, errno, "cannot remove '%s' (in '%s')", name, top);
	return rc;
}

int mkl_remove_tree(const char *path, struct mkl_err *err)
{
	return remove_at(AT_FDCWD, path, path, err);
}
