/* The source interface: pick a reader by what the path is (a directory, or
 * a file or pipe holding a tar archive), then dispatch to it. */
#include "source/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int mkl_source_open(const char *path, struct mkl_source **out, struct mkl_err *err)
{
	struct stat st;
	int fd;

	*out = NULL;
	if (strcmp(path, "-") == 0) {
		if (fstat(0, &st) < 0)
			return mkl_error(err, errno, "cannot open standard input");
		return mkl_source_tar_open(0, 0, "(standard input)",
					   S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0, out, err);
	}
	/* The path itself may be a symlink to the tree or archive; what is
	 * under it is never followed. */
	if (stat(path, &st) < 0)
		return mkl_error(err, errno, "cannot open '%s'", path);
	if (S_ISDIR(st.st_mode))
		return mkl_source_dir_open(path, out, err);
	if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode))
		return mkl_error(err, 0, "cannot open '%s': not a directory or a tar archive", path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return mkl_error(err, errno, "cannot open '%s'", path);
	return mkl_source_tar_open(fd, 1, path, S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0, out,
				   err);
}

int mkl_source_next(struct mkl_source *src, struct mkl_source_entry *entry, struct mkl_err *err)
{
	return src->ops->next(src, entry, err);
}

long mkl_source_read(void *src, void *buf, size_t len, struct mkl_err *err)
{
	struct mkl_source *s = src;

	return s->ops->read(s, buf, len, err);
}

const char *mkl_source_dir_root(const struct mkl_source *src)
{
	return src->dir_root;
}

void mkl_source_progress(struct mkl_source *src, uint64_t *done, uint64_t *total)
{
	*done = 0;
	*total = 0;
	if (src)
		src->ops->progress(src, done, total);
}

void mkl_source_close(struct mkl_source *src)
{
	if (src)
		src->ops->close(src);
}

int mkl_source_xattr_wanted(const char *name)
{
	return strncmp(name, "security.", 9) == 0 || strncmp(name, "trusted.", 8) == 0 ||
	       strncmp(name, "user.", 5) == 0;
}

int mkl_source_xattr_add(struct mkl_xattr **list, const char *name, const void *value,
			 size_t size, struct mkl_err *err)
{
	struct mkl_xattr *x, **pp;
	int cmp = 1;

	for (pp = list; *pp; pp = &(*pp)->next) {
		cmp = strcmp((*pp)->name, name);
		if (cmp >= 0)
			break;
	}
	if (*pp && cmp == 0) {
		x = *pp;
		*pp = x->next;
		free(x->name);
		free(x->value);
		free(x);
	}
	x = mkl_calloc(1, sizeof(*x), err);
	if (!x)
		return -1;
	x->name = mkl_strdup(name, err);
	x->value = mkl_malloc(size, err);
	if (!x->name || !x->value) {
		free(x->name);
		free(x->value);
		free(x);
		return -1;
	}
	if (size)
		memcpy(x->value, value, size);
	x->size = size;
	x->next = *pp;
	*pp = x;
	return 0;
}

void mkl_source_xattr_free(struct mkl_xattr *list)
{
	struct mkl_xattr *next;

	for (; list; list = next) {
		next = list->next;
		free(list->name);
		free(list->value);
		free(list);
	}
}
