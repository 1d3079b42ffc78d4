/* Private to src/source: the interface each reader implements, and helpers
 * the readers share. Not for use outside this folder. */
#ifndef MKL_SOURCE_INTERNAL_H
#define MKL_SOURCE_INTERNAL_H

#include <stdint.h>

#include "source/source.h"

struct mkl_source_ops {
	int (*next)(struct mkl_source *src, struct mkl_source_entry *entry, struct mkl_err *err);
	long (*read)(struct mkl_source *src, void *buf, size_t len, struct mkl_err *err);
	void (*progress)(struct mkl_source *src, uint64_t *done, uint64_t *total);
	void (*close)(struct mkl_source *src);
};

/* Every reader's state begins with this. */
struct mkl_source {
	const struct mkl_source_ops *ops;
	const char *dir_root;	/* a directory walk's root; NULL: read once */
};

/* path: a directory (the walk's root). */
int mkl_source_dir_open(const char *path, struct mkl_source **out, struct mkl_err *err);

/* fd: an open archive, closed by the source (even on failure) when own_fd;
 * name: used in messages; size: its length, 0 if unknown (a pipe). */
int mkl_source_tar_open(int fd, int own_fd, const char *name, uint64_t size,
			struct mkl_source **out, struct mkl_err *err);

/* Extended attributes that travel: security.*, trusted.* and user.*.
 * system.* (POSIX ACLs, which GNU tar keeps apart with --acls) does not. */
int mkl_source_xattr_wanted(const char *name);

/* Append a copy of (name, value) to the list, kept sorted by name; a name
 * already present is replaced. */
int mkl_source_xattr_add(struct mkl_xattr **list, const char *name, const void *value,
			 size_t size, struct mkl_err *err);
void mkl_source_xattr_free(struct mkl_xattr *list);

#endif
