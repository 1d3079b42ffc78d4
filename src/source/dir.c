/* The directory walker: a depth-first walk of a tree on disk.
 *
 * The root comes first as "", then each directory's entries sorted by name
 * (strcmp), a directory before what is in it, so the order depends only on
 * the names. Everything goes through the *at() calls relative to an open
 * directory, without chdir and without following symlinks; regular files
 * are opened O_NOFOLLOW. Mount points are crossed (the tree may hold bind
 * mounts), but a directory that is one of its own ancestors (same st_dev
 * and st_ino) is an error, as is anything that cannot be read: a build
 * from a tree it could only partly see would be silently broken.
 *
 * Hard links: the second and later names of a non-directory with
 * st_nlink > 1 come with hardlink = the first name walked, st.size 0, no
 * xattrs and no content.
 *
 * Extended attributes: security.*, trusted.* (visible to root only) and
 * user.*, sorted by name; system.* (POSIX ACLs) is left out, as it is by
 * the tar reader.
 *
 * Every open directory on the path from the root holds a descriptor, so
 * the depth of the tree is bounded by the descriptor limit (1024 by
 * default; real trees are a few dozen deep).
 */
#include "source/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

/* A set of inodes (st_dev, st_ino), each with the path first seen. */
struct link_slot {
	uint64_t dev, ino;
	char *path;		/* NULL when the slot is free (paths are never NULL
				 * in a used slot; the stat pass stores "") */
};

struct link_set {
	struct link_slot *slots;
	size_t used, cap;	/* cap: 0 or a power of two */
};

struct frame {
	int fd;
	char **names;
	size_t count, next;
	size_t pathlen;		/* length of this directory's path in dir->path */
	dev_t dev;
	ino_t ino;
};

struct dir_source {
	struct mkl_source base;
	char *root;		/* as given, trailing '/' trimmed */
	struct stat root_st;
	int started;
	struct frame *stack;
	size_t depth, stackcap;
	char *path;		/* the current entry's relative path */
	size_t pathcap;
	char *full;		/* root/path: for messages and xattr calls */
	size_t fullcap;
	char *target;
	size_t targetcap;
	char *xnames;
	size_t xnamescap;
	unsigned char *xvalue;
	size_t xvaluecap;
	struct mkl_xattr *xattrs;
	struct link_set links;
	int fd;			/* the current regular file, or -1 */
	int at_end;		/* its length has been checked */
	uint64_t pos, size;
	uint64_t done, total;
	int counted;		/* total made (on the first progress call) */
};

static int grow(void *pbuf, size_t *cap, size_t need, struct mkl_err *err)
{
	char **buf = pbuf;
	size_t n = *cap ? *cap : 256;
	char *p;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	p = realloc(*buf, n);
	if (!p)
		return mkl_error(err, ENOMEM, "out of memory (%zu bytes)", n);
	*buf = p;
	*cap = n;
	return 0;
}

static uint64_t link_hash(uint64_t dev, uint64_t ino)
{
	uint64_t h = ino * 0x9e3779b97f4a7c15ULL ^ dev * 0xc2b2ae3d27d4eb4fULL;

	return h ^ (h >> 29);
}

static struct link_slot *link_slot(struct link_set *set, uint64_t dev, uint64_t ino)
{
	size_t i = link_hash(dev, ino) & (set->cap - 1);

	while (set->slots[i].path && (set->slots[i].dev != dev || set->slots[i].ino != ino))
		i = (i + 1) & (set->cap - 1);
	return &set->slots[i];
}

/* *first: the path stored earlier for this inode, or NULL when it is new
 * (then path is stored; path NULL stores "" for a set without names). */
static int link_check(struct link_set *set, const struct stat *st, const char *path,
		      const char **first, struct mkl_err *err)
{
	struct link_slot *slot, *old;
	size_t i, oldcap;

	*first = NULL;
	if (set->cap == 0 || (set->used + 1) * 2 > set->cap) {
		old = set->slots;
		oldcap = set->cap;
		set->cap = oldcap ? oldcap * 2 : 64;
		set->slots = mkl_calloc(set->cap, sizeof(*set->slots), err);
		if (!set->slots) {
			set->slots = old;
			set->cap = oldcap;
			return -1;
		}
		for (i = 0; i < oldcap; i++)
			if (old[i].path)
				*link_slot(set, old[i].dev, old[i].ino) = old[i];
		free(old);
	}
	slot = link_slot(set, st->st_dev, st->st_ino);
	if (slot->path) {
		*first = slot->path;
		return 0;
	}
	slot->path = path ? mkl_strdup(path, err) : (char *)"";
	if (!slot->path)
		return -1;
	slot->dev = st->st_dev;
	slot->ino = st->st_ino;
	set->used++;
	return 0;
}

static void link_free(struct link_set *set, int owned)
{
	size_t i;

	if (owned)
		for (i = 0; i < set->cap; i++)
			free(set->slots[i].path);
	free(set->slots);
	set->slots = NULL;
	set->cap = set->used = 0;
}

/* The stat pass for the progress total: regular files' sizes, each inode
 * once. Best effort: what cannot be read here is reported by the walk. */
struct ancestor {
	dev_t dev;
	ino_t ino;
	const struct ancestor *up;
};

static void sum_sizes(int dfd, const struct ancestor *up, struct link_set *seen, uint64_t *total)
{
	struct ancestor self;
	const struct ancestor *a;
	const char *first;
	struct dirent *de;
	struct stat st;
	DIR *d;
	int fd;

	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return;
	}
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISREG(st.st_mode)) {
			if (st.st_nlink > 1 && (link_check(seen, &st, NULL, &first, NULL) < 0 || first))
				continue;
			*total += (uint64_t)st.st_size;
		} else if (S_ISDIR(st.st_mode)) {
			for (a = up; a; a = a->up)
				if (a->dev == st.st_dev && a->ino == st.st_ino)
					break;
			if (a)
				continue;
			fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0)
				continue;
			self.dev = st.st_dev;
			self.ino = st.st_ino;
			self.up = up;
			sum_sizes(fd, &self, seen, total);
		}
	}
	closedir(d);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		free(names[i]);
	free(names);
}

/* Push the open directory fd (whose path is d->path, d->full) with its
 * entries read and sorted. Takes over fd. */
static int push_dir(struct dir_source *d, int fd, const struct stat *st, struct mkl_err *err)
{
	struct frame *f;
	struct dirent *de;
	char **names = NULL, **p;
	size_t count = 0, cap = 0;
	int dfd;
	DIR *dir;

	if (d->depth == d->stackcap) {
		f = realloc(d->stack, (d->stackcap ? d->stackcap * 2 : 16) * sizeof(*f));
		if (!f) {
			close(fd);
			return mkl_error(err, ENOMEM, "out of memory");
		}
		d->stack = f;
		d->stackcap = d->stackcap ? d->stackcap * 2 : 16;
	}
	dfd = dup(fd);
	if (dfd < 0 || !(dir = fdopendir(dfd))) {
		mkl_error(err, errno, "cannot open '%s'", d->full);
		if (dfd >= 0)
			close(dfd);
		close(fd);
		return -1;
	}
	for (;;) {
		errno = 0;
		de = readdir(dir);
		if (!de) {
			if (errno) {
				mkl_error(err, errno, "cannot read directory '%s'", d->full);
				goto fail;
			}
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (count == cap) {
			cap = cap ? cap * 2 : 16;
			p = realloc(names, cap * sizeof(*names));
			if (!p) {
				mkl_error(err, ENOMEM, "out of memory");
				goto fail;
			}
			names = p;
		}
		names[count] = mkl_strdup(de->d_name, err);
		if (!names[count])
			goto fail;
		count++;
	}
	closedir(dir);
	if (count)
		qsort(names, count, sizeof(*names), cmp_names);
	f = &d->stack[d->depth++];
	f->fd = fd;
	f->names = names;
	f->count = count;
	f->next = 0;
	f->pathlen = strlen(d->path);
	f->dev = st->st_dev;
	f->ino = st->st_ino;
	return 0;
fail:
	closedir(dir);
	close(fd);
	free_names(names, count);
	return -1;
}

static void pop_dir(struct dir_source *d)
{
	struct frame *f = &d->stack[--d->depth];

	close(f->fd);
	free_names(f->names, f->count);
}

/* d->path = parent path + "/" + name; d->full = root + "/" + d->path. */
static int set_path(struct dir_source *d, size_t parentlen, const char *name, struct mkl_err *err)
{
	size_t nlen = strlen(name), rlen = strlen(d->root), plen;

	if (grow(&d->path, &d->pathcap, parentlen + nlen + 2, err) < 0)
		return -1;
	plen = parentlen;
	if (plen)
		d->path[plen++] = '/';
	memcpy(d->path + plen, name, nlen + 1);
	plen += nlen;
	if (grow(&d->full, &d->fullcap, rlen + plen + 2, err) < 0)
		return -1;
	memcpy(d->full, d->root, rlen);
	if (plen) {
		if (rlen == 0 || d->root[rlen - 1] != '/')
			d->full[rlen++] = '/';
		memcpy(d->full + rlen, d->path, plen);
	}
	d->full[rlen + plen] = '\0';
	return 0;
}

static int read_xattrs(struct dir_source *d, struct mkl_err *err)
{
	ssize_t n, v;
	char *name;

	for (;;) {
		n = llistxattr(d->full, NULL, 0);
		if (n < 0 && (errno == ENOTSUP || errno == ENOSYS))
			return 0;
		if (n < 0)
			return mkl_error(err, errno, "cannot list xattrs of '%s'", d->full);
		if (n == 0)
			return 0;
		if (grow(&d->xnames, &d->xnamescap, (size_t)n + 1, err) < 0)
			return -1;
		n = llistxattr(d->full, d->xnames, d->xnamescap);
		if (n >= 0)
			break;
		if (errno != ERANGE)
			return mkl_error(err, errno, "cannot list xattrs of '%s'", d->full);
	}
	for (name = d->xnames; name < d->xnames + n; name += strlen(name) + 1) {
		if (!mkl_source_xattr_wanted(name))
			continue;
		for (;;) {
			v = lgetxattr(d->full, name, NULL, 0);
			if (v >= 0 && grow(&d->xvalue, &d->xvaluecap, (size_t)v + 1, err) < 0)
				return -1;
			if (v >= 0)
				v = lgetxattr(d->full, name, d->xvalue, d->xvaluecap);
			if (v >= 0 || errno != ERANGE)
				break;
		}
		if (v < 0 && errno == ENODATA)	/* removed since the list */
			continue;
		if (v < 0)
			return mkl_error(err, errno, "cannot read xattr %s of '%s'", name, d->full);
		if (mkl_source_xattr_add(&d->xattrs, name, d->xvalue, (size_t)v, err) < 0)
			return -1;
	}
	return 0;
}

static int read_target(struct dir_source *d, int dfd, const char *name, const struct stat *st,
		       struct mkl_err *err)
{
	size_t want = (size_t)st->st_size + 1;
	ssize_t n;

	for (;;) {
		if (grow(&d->target, &d->targetcap, want, err) < 0)
			return -1;
		n = readlinkat(dfd, name, d->target, d->targetcap);
		if (n < 0)
			return mkl_error(err, errno, "cannot read symlink '%s'", d->full);
		if ((size_t)n < d->targetcap)
			break;
		want = d->targetcap * 2;
	}
	d->target[n] = '\0';
	return 0;
}

static void fill_stat(struct mkl_stat *ms, const struct stat *st)
{
	memset(ms, 0, sizeof(*ms));
	ms->mode = st->st_mode;
	ms->uid = st->st_uid;
	ms->gid = st->st_gid;
	ms->mtime = st->st_mtim.tv_sec;
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		ms->rdev = st->st_rdev;
	if (S_ISREG(st->st_mode))
		ms->size = (uint64_t)st->st_size;
}

/* Forget the previous entry; unread content counts as consumed. */
static void end_entry(struct dir_source *d)
{
	if (d->fd >= 0) {
		if (d->pos < d->size)
			d->done += d->size - d->pos;
		close(d->fd);
		d->fd = -1;
	}
	mkl_source_xattr_free(d->xattrs);
	d->xattrs = NULL;
}

static int open_file(struct dir_source *d, int dfd, const char *name, const struct stat *st,
		     struct mkl_err *err)
{
	struct stat fst;
	int fd;

	/* O_NONBLOCK: should the name have become a fifo since the stat, the
	 * open must not hang; the check below then fails. */
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return mkl_error(err, errno, "cannot open '%s'", d->full);
	if (fstat(fd, &fst) < 0 || !S_ISREG(fst.st_mode) || fst.st_dev != st->st_dev ||
	    fst.st_ino != st->st_ino) {
		close(fd);
		return mkl_error(err, 0, "'%s' changed while being read", d->full);
	}
	d->fd = fd;
	d->pos = 0;
	d->at_end = 0;
	d->size = (uint64_t)st->st_size;
	return 0;
}

static int dir_next(struct mkl_source *src, struct mkl_source_entry *e, struct mkl_err *err)
{
	struct dir_source *d = (struct dir_source *)src;
	const char *first;
	struct frame *f;
	struct stat st;
	size_t i;
	int dfd, fd;
	const char *name;

	end_entry(d);
	memset(e, 0, sizeof(*e));
	if (!d->started) {
		d->started = 1;
		if (set_path(d, 0, "", err) < 0 || read_xattrs(d, err) < 0)
			return -1;
		e->path = d->path;
		fill_stat(&e->st, &d->root_st);
		e->st.xattrs = d->xattrs;
		return 1;
	}
	for (;;) {
		if (mkl_cancelled())
			return mkl_error(err, ECANCELED, "walking '%s'", d->root);
		if (!d->depth)
			return 0;
		f = &d->stack[d->depth - 1];
		if (f->next == f->count) {
			pop_dir(d);
			continue;
		}
		break;
	}
	name = f->names[f->next++];
	dfd = f->fd;
	if (set_path(d, f->pathlen, name, err) < 0)
		return -1;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return mkl_error(err, errno, "cannot stat '%s'", d->full);
	e->path = d->path;
	fill_stat(&e->st, &st);
	if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
		if (link_check(&d->links, &st, d->path, &first, err) < 0)
			return -1;
		if (first) {
			e->hardlink = first;
			e->st.size = 0;
			return 1;
		}
	}
	if (S_ISDIR(st.st_mode)) {
		for (i = 0; i < d->depth; i++)
			if (d->stack[i].dev == st.st_dev && d->stack[i].ino == st.st_ino)
				return mkl_error(err, ELOOP, "path loop at '%s'", d->full);
		fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return mkl_error(err, errno, "cannot open '%s'", d->full);
		if (push_dir(d, fd, &st, err) < 0)
			return -1;
	} else if (S_ISLNK(st.st_mode)) {
		if (read_target(d, dfd, name, &st, err) < 0)
			return -1;
		e->st.target = d->target;
	} else if (S_ISREG(st.st_mode)) {
		if (open_file(d, dfd, name, &st, err) < 0)
			return -1;
	}
	if (read_xattrs(d, err) < 0)
		return -1;
	e->st.xattrs = d->xattrs;
	return 1;
}

static long dir_read(struct mkl_source *src, void *buf, size_t len, struct mkl_err *err)
{
	struct dir_source *d = (struct dir_source *)src;
	ssize_t n;
	char c;

	if (d->fd < 0 || d->at_end)
		return 0;
	if (d->pos >= d->size) {
		/* One more byte would mean the file grew. */
		do
			n = read(d->fd, &c, 1);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return mkl_error(err, errno, "cannot read '%s'", d->full);
		if (n > 0)
			return mkl_error(err, 0, "'%s' changed while being read", d->full);
		d->at_end = 1;
		return 0;
	}
	if (len > d->size - d->pos)
		len = (size_t)(d->size - d->pos);
	do
		n = read(d->fd, buf, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return mkl_error(err, errno, "cannot read '%s'", d->full);
	if (n == 0)
		return mkl_error(err, 0, "'%s' changed while being read", d->full);
	d->pos += (uint64_t)n;
	d->done += (uint64_t)n;
	return n;
}

/* The total is a stat pass over the whole tree (about 40 ms for 15,000
 * entries), made only when someone asks: a build that shows no progress
 * starts compressing at once. */
static void count_total(struct dir_source *d)
{
	struct link_set seen = { 0 };
	struct ancestor top;
	struct stat st;
	int fd;

	d->counted = 1;
	fd = open(d->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) < 0 || st.st_dev != d->root_st.st_dev || st.st_ino != d->root_st.st_ino) {
		close(fd);
		return;
	}
	top.dev = st.st_dev;
	top.ino = st.st_ino;
	top.up = NULL;
	sum_sizes(fd, &top, &seen, &d->total);
	link_free(&seen, 0);
}

static void dir_progress(struct mkl_source *src, uint64_t *done, uint64_t *total)
{
	struct dir_source *d = (struct dir_source *)src;

	if (!d->counted)
		count_total(d);
	*done = d->done;
	*total = d->total;
}

static void dir_close(struct mkl_source *src)
{
	struct dir_source *d = (struct dir_source *)src;

	end_entry(d);
	while (d->depth)
		pop_dir(d);
	free(d->stack);
	link_free(&d->links, 1);
	free(d->root);
	free(d->path);
	free(d->full);
	free(d->target);
	free(d->xnames);
	free(d->xvalue);
	free(d);
}

static const struct mkl_source_ops dir_ops = {
	.next = dir_next,
	.read = dir_read,
	.progress = dir_progress,
	.close = dir_close,
};

int mkl_source_dir_open(const char *path, struct mkl_source **out, struct mkl_err *err)
{
	struct dir_source *d;
	size_t len;
	int fd;

	*out = NULL;
	d = mkl_calloc(1, sizeof(*d), err);
	if (!d)
		return -1;
	d->base.ops = &dir_ops;
	d->fd = -1;
	d->root = mkl_strdup(path, err);
	if (!d->root)
		goto fail;
	len = strlen(d->root);
	while (len > 1 && d->root[len - 1] == '/')
		d->root[--len] = '\0';
	d->base.dir_root = d->root;
	if (set_path(d, 0, "", err) < 0)
		goto fail;
	fd = open(d->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		mkl_error(err, errno, "cannot open '%s'", d->root);
		goto fail;
	}
	if (fstat(fd, &d->root_st) < 0) {
		mkl_error(err, errno, "cannot stat '%s'", d->root);
		close(fd);
		goto fail;
	}
	if (push_dir(d, fd, &d->root_st, err) < 0)
		goto fail;
	*out = &d->base;
	return 0;
fail:
	dir_close(&d->base);
	return -1;
}
