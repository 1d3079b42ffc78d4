/*
 * Copying a tree with all its metadata: the writable part of a symlink-mode
 * root, from its squashfs into the tmpfs root.
 *
 * Every entry keeps its type, owner, mode (setuid and sticky bits too),
 * mtime and atime, extended attributes, symlink target and device number;
 * hard links (same st_ino in the source) stay hard links.  Entries are
 * reached with openat/fstatat relative to their directory, never following
 * a symlink; xattrs, which have no *at calls, go by full path with the l*
 * calls.  Order per entry: create, chown (which clears setuid bits and
 * security.capability), chmod, xattrs, then times; a directory's times are
 * set after its contents.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "init.h"

#define MAX_DEPTH	256

struct link {
	ino_t ino;
	char *path;		/* relative to the roots */
};

struct copy {
	char src[PATH_MAX], dst[PATH_MAX];	/* full paths of the entry */
	size_t slen, dlen;			/* lengths of the two roots */
	int dstroot;				/* fd of the destination root */
	struct link *links;
	size_t nlinks, cap;
	unsigned long entries, xattr_lost;
	int enospc;
	char *xbuf;
};

static int fail(struct copy *c, const char *what)
{
	if (errno == ENOSPC || errno == EDQUOT) {
		c->enospc = 1;
		err("error: the tmpfs root is full: cannot %s %s (the root is kept "
		    "in RAM; this machine has too little memory for it)", what, c->dst);
	} else {
		err("error: cannot %s %s: %s", what, c->dst, errstr(errno));
	}
	return -1;
}

/* Copy the extended attributes of c->src to c->dst (both by full path). */
static int copy_xattrs(struct copy *c)
{
	static char val[65536];
	ssize_t len, vlen;
	char *name;

	len = llistxattr(c->src, c->xbuf, 65536);
	if (len <= 0)
		return 0;
	for (name = c->xbuf; name < c->xbuf + len; name += strlen(name) + 1) {
		vlen = lgetxattr(c->src, name, val, sizeof(val));
		if (vlen < 0)
			continue;
		if (lsetxattr(c->dst, name, val, vlen, 0) == 0)
			continue;
		if (errno == ENOSPC || errno == EDQUOT)
			return fail(c, "set an extended attribute on");
		/* e.g. user.* on tmpfs before Linux 6.6 */
		if (!c->xattr_lost++)
			err("warning: extended attribute %s of %s not kept: %s",
			    name, c->dst, errstr(errno));
	}
	return 0;
}

static int copy_data(struct copy *c, int sfd, const char *name, const struct stat *st,
		     int ddir)
{
	int in, out, r = 0;
	off_t left = st->st_size;
	ssize_t n;

	in = openat(sfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (in < 0) {
		err("error: cannot open %s: %s", c->src, errstr(errno));
		return -1;
	}
	out = openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		     0600);
	if (out < 0) {
		close(in);
		return fail(c, "create");
	}
	while (left > 0) {
		n = sendfile(out, in, NULL, left > (1 << 30) ? (1 << 30) : left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;	/* the source shrank */
			r = fail(c, "write");
			break;
		}
		left -= n;
	}
	close(in);
	close(out);
	return r;
}

/* Owner, mode, xattrs, times of c->dst (name in ddir) from st. */
static int set_meta(struct copy *c, int ddir, const char *name, const struct stat *st)
{
	struct timespec ts[2] = { st->st_atim, st->st_mtim };

	if (fchownat(ddir, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0)
		return fail(c, "set the owner of");
	if (!S_ISLNK(st->st_mode) && fchmodat(ddir, name, st->st_mode & 07777, 0) < 0)
		return fail(c, "set the mode of");
	if (copy_xattrs(c) < 0)
		return -1;
	if (utimensat(ddir, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return fail(c, "set the times of");
	return 0;
}

/* Append "/name" to both paths at rel; -1 if too long. */
static int push(struct copy *c, size_t rel, const char *name)
{
	size_t n = strlen(name);

	if (c->slen + rel + n + 2 > sizeof(c->src) || c->dlen + rel + n + 2 > sizeof(c->dst)) {
		err("error: path too long in the root image: %.*s/%s", (int)rel,
		    c->src + c->slen, name);
		return -1;
	}
	c->src[c->slen + rel] = c->dst[c->dlen + rel] = '/';
	memcpy(c->src + c->slen + rel + 1, name, n + 1);
	memcpy(c->dst + c->dlen + rel + 1, name, n + 1);
	return 0;
}

/* A hard link to an entry copied before, or -1 (and remember this one). */
static int hard_link(struct copy *c, const struct stat *st, int ddir, const char *name)
{
	struct link *l;
	size_t i;

	for (i = 0; i < c->nlinks; i++)
		if (c->links[i].ino == st->st_ino) {
			if (linkat(c->dstroot, c->links[i].path, ddir, name, 0) < 0)
				return fail(c, "hard-link");
			return 1;
		}
	if (c->nlinks == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 64;
		l = realloc(c->links, c->cap * sizeof(*l));
		if (!l)
			return 0;	/* copied as a separate file: still correct data */
		c->links = l;
	}
	c->links[c->nlinks].ino = st->st_ino;
	c->links[c->nlinks].path = strdup(c->dst + c->dlen + 1);
	if (c->links[c->nlinks].path)
		c->nlinks++;
	return 0;
}

/* Copy the contents of directory sfd (at relative path length rel) into ddir. */
static int copy_dir(struct copy *c, int sfd, int ddir, size_t rel, int depth)
{
	char target[PATH_MAX];
	struct dirent *e;
	struct stat st;
	ssize_t n;
	int s2, d2, r = 0;
	DIR *d;

	if (depth > MAX_DEPTH) {
		err("error: the root image is nested deeper than %d directories "
		    "at %s", MAX_DEPTH, c->src);
		close(sfd);
		close(ddir);
		return -1;
	}
	d = fdopendir(sfd);
	if (!d) {
		err("error: cannot read directory %s: %s", c->src, errstr(errno));
		close(sfd);
		close(ddir);
		return -1;
	}
	while (!r && (errno = 0, e = readdir(d))) {
		const char *name = e->d_name;

		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		if (push(c, rel, name) < 0) {
			r = -1;
			break;
		}
		if (fstatat(sfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			err("error: cannot stat %s: %s", c->src, errstr(errno));
			r = -1;
			break;
		}
		c->entries++;
		if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
			r = hard_link(c, &st, ddir, name);
			if (r) {
				r = r < 0 ? -1 : 0;
				continue;
			}
		}
		switch (st.st_mode & S_IFMT) {
		case S_IFDIR:
			if (mkdirat(ddir, name, 0700) < 0) {
				r = fail(c, "create directory");
				break;
			}
			s2 = openat(sfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			d2 = openat(ddir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (s2 < 0 || d2 < 0) {
				err("error: cannot open directory %s: %s", c->src,
				    errstr(errno));
				if (s2 >= 0)
					close(s2);
				if (d2 >= 0)
					close(d2);
				r = -1;
				break;
			}
			r = copy_dir(c, s2, d2, rel + 1 + strlen(name), depth + 1);
			/* the paths are this directory's again */
			c->src[c->slen + rel + 1 + strlen(name)] = 0;
			c->dst[c->dlen + rel + 1 + strlen(name)] = 0;
			break;
		case S_IFREG:
			r = copy_data(c, sfd, name, &st, ddir);
			break;
		case S_IFLNK:
			n = readlinkat(sfd, name, target, sizeof(target) - 1);
			if (n < 0) {
				err("error: cannot read link %s: %s", c->src, errstr(errno));
				r = -1;
				break;
			}
			target[n] = 0;
			if (symlinkat(target, ddir, name) < 0)
				r = fail(c, "create link");
			break;
		default:	/* devices, fifos, sockets */
			if (mknodat(ddir, name, st.st_mode & S_IFMT, st.st_rdev) < 0)
				r = fail(c, "create node");
		}
		if (!r)
			r = set_meta(c, ddir, name, &st);
	}
	if (!r && errno && !e) {
		err("error: cannot read directory %s: %s", c->src, errstr(errno));
		r = -1;
	}
	closedir(d);
	close(ddir);
	return r;
}

/*
 * Copy the tree at src into dst (an existing, empty directory), and the
 * root directory's own metadata.  Returns the number of entries copied, or
 * -1 after saying what failed.
 */
long copy_tree(const char *src, const char *dst)
{
	struct copy *c = calloc(1, sizeof(*c));
	struct stat st;
	int sfd, dfd, r = -1;
	long n;
	size_t i;

	if (c)
		c->xbuf = malloc(65536);
	if (!c || !c->xbuf) {
		err("error: out of memory copying %s", src);
		if (c)
			free(c);
		return -1;
	}
	c->slen = sfmt(c->src, sizeof(c->src), "%s", src);
	c->dlen = sfmt(c->dst, sizeof(c->dst), "%s", dst);
	sfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dfd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	c->dstroot = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sfd < 0 || dfd < 0 || c->dstroot < 0 || fstat(sfd, &st) < 0) {
		err("error: cannot open %s or %s: %s", src, dst, errstr(errno));
		if (sfd >= 0)
			close(sfd);
		if (dfd >= 0)
			close(dfd);
	} else {
		r = copy_dir(c, sfd, dfd, 0, 1);
		c->src[c->slen] = c->dst[c->dlen] = 0;
		if (!r)
			r = set_meta(c, AT_FDCWD, dst, &st);
	}
	if (c->xattr_lost > 1)
		err("warning: %lu extended attributes not kept in the tmpfs root",
		    c->xattr_lost);
	if (c->dstroot >= 0)
		close(c->dstroot);
	n = r < 0 ? -1 : (long)c->entries;
	for (i = 0; i < c->nlinks; i++)
		free(c->links[i].path);
	free(c->links);
	free(c->xbuf);
	free(c);
	return n;
}
