/* The tar reader: entries in archive order, through libarchive.
 *
 * Tar formats only (ustar, GNU, pax, and the old v7 form), plain or with
 * any compression that libarchive decodes in-process (detected by content,
 * not by name); other data fails with "not a tar archive". Owners are the numbers in the headers, never looked up by name
 * on the host. Paths are normalised (mkl_path_normalise: "./usr" -> "usr",
 * "./" -> "" for the root). A hard link entry comes with hardlink = the
 * normalised target and st.size 0. Xattrs (SCHILY.xattr.* and
 * LIBARCHIVE.xattr.* records) are filtered as the directory walker does:
 * security.*, trusted.* and user.*.
 */
#include "source/internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

struct tar_source {
	struct mkl_source base;
	struct archive *a;
	struct archive_entry *entry;	/* the current one; NULL before the first */
	char *name;			/* the archive, for messages */
	int fd, own_fd;
	int pending;			/* the first header was read at open */
	int eof;
	uint64_t size;			/* the archive's size; 0 if unknown */
	uint64_t pos;			/* bytes of the current file read */
	uint64_t file_size;
	int is_file;			/* the current entry has content */
	char path[PATH_MAX];
	char link[PATH_MAX];
	char shown[PATH_MAX];		/* the current entry as the archive names it */
	struct mkl_xattr *xattrs;
	unsigned char buf[64 * 1024];	/* what libarchive reads from the fd */
};

/* libarchive's read callback. Our own (not archive_read_open_fd) so that
 * SIGINT/SIGTERM ends the build even when the input is a pipe whose writer
 * has stalled: read() is entered only when mkl_wait_fd() says it will not
 * block, and that wait ends on cancellation. */
static la_ssize_t tar_fd_read(struct archive *a, void *ctx, const void **out)
{
	struct tar_source *t = ctx;
	ssize_t r;

	*out = t->buf;
	for (;;) {
		if (mkl_wait_fd(t->fd, 0) < 0) {
			archive_set_error(a, ECANCELED, "cancelled");
			return -1;
		}
		r = read(t->fd, t->buf, sizeof(t->buf));
		if (r >= 0)
			return r;
		if (errno != EINTR)
			break;	/* on EINTR, the wait above says whether it was a cancel */
	}
	archive_set_error(a, errno, "read error");
	return -1;
}

/* Skipping file contents of a seekable archive seeks instead of reading. */
static la_int64_t tar_fd_skip(struct archive *a, void *ctx, la_int64_t request)
{
	struct tar_source *t = ctx;
	off_t here, there;

	(void)a;
	if (request <= 0 || (here = lseek(t->fd, 0, SEEK_CUR)) < 0)
		return 0;
	/* lseek goes past the end without complaint: never skip beyond the
	 * file, so a truncated archive is seen as one. */
	if (t->size && (uint64_t)here + (uint64_t)request > t->size)
		request = (la_int64_t)(t->size - (uint64_t)here);
	if (request <= 0)
		return 0;
	there = lseek(t->fd, request, SEEK_CUR);
	return there < 0 ? 0 : there - here;
}

static int tar_fail(struct tar_source *t, struct mkl_err *err)
{
	const char *msg = archive_error_string(t->a);
	int code = archive_errno(t->a);

	if (!msg)
		msg = "unknown error";
	if (code < 0)
		code = 0;
	/* The message comes from libarchive; strerror is already in it when
	 * it applies, so code is kept without appending it again. */
	if (t->shown[0])
		mkl_error(err, 0, "cannot read tar '%s' at '%s': %s", t->name, t->shown, msg);
	else
		mkl_error(err, 0, "cannot read tar '%s': %s", t->name, msg);
	if (err)
		err->code = code;
	return -1;
}

/* Read the next header; 1: got one; 0: end; -1: error. */
static int read_header(struct tar_source *t, struct mkl_err *err)
{
	int r;

	r = archive_read_next_header(t->a, &t->entry);
	if (r == ARCHIVE_EOF)
		return 0;
	if (r == ARCHIVE_OK || r == ARCHIVE_WARN)
		return 1;
	return tar_fail(t, err);
}

static const char *entry_path(struct archive_entry *e)
{
	const char *p = archive_entry_pathname(e);

	return p ? p : archive_entry_pathname_utf8(e);
}

static int fill_entry(struct tar_source *t, struct mkl_source_entry *out, struct mkl_err *err)
{
	struct archive_entry *e = t->entry;
	struct mkl_stat *st = &out->st;
	const char *p, *name;
	const void *value;
	size_t size;
	mode_t type;

	p = entry_path(e);
	if (!p)
		return mkl_error(err, 0, "cannot read tar '%s': an entry without a name", t->name);
	snprintf(t->shown, sizeof(t->shown), "%s", p);
	if (mkl_path_normalise(p, t->path, sizeof(t->path), err) < 0)
		return mkl_err_prefix(err, "tar '%s'", t->name);
	memset(out, 0, sizeof(*out));
	out->path = t->path;
	st->mode = archive_entry_mode(e);
	st->uid = (uint32_t)archive_entry_uid(e);
	st->gid = (uint32_t)archive_entry_gid(e);
	st->mtime = archive_entry_mtime(e);
	type = archive_entry_filetype(e);
	if (type == AE_IFCHR || type == AE_IFBLK)
		st->rdev = makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));

	p = archive_entry_hardlink(e);
	if (!p)
		p = archive_entry_hardlink_utf8(e);
	if (p) {
		if (mkl_path_normalise(p, t->link, sizeof(t->link), err) < 0)
			return mkl_err_prefix(err, "tar '%s' at '%s'", t->name, t->shown);
		out->hardlink = t->link;
		/* A hard link names no type of its own in some dialects. */
		if (type == 0)
			st->mode |= AE_IFREG;
		return 1;
	}
	if (type == AE_IFLNK) {
		p = archive_entry_symlink(e);
		if (!p)
			p = archive_entry_symlink_utf8(e);
		st->target = p ? p : "";
	} else if (type == AE_IFREG) {
		st->size = archive_entry_size_is_set(e) ? (uint64_t)archive_entry_size(e) : 0;
		t->is_file = 1;
		t->file_size = st->size;
	}
	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
		if (!mkl_source_xattr_wanted(name))
			continue;
		if (mkl_source_xattr_add(&t->xattrs, name, value, size, err) < 0)
			return -1;
	}
	st->xattrs = t->xattrs;
	return 1;
}

static int tar_next(struct mkl_source *src, struct mkl_source_entry *out, struct mkl_err *err)
{
	struct tar_source *t = (struct tar_source *)src;
	int r;

	mkl_source_xattr_free(t->xattrs);
	t->xattrs = NULL;
	t->is_file = 0;
	t->pos = 0;
	t->file_size = 0;
	if (t->eof)
		return 0;
	if (mkl_cancelled())
		return mkl_error(err, ECANCELED, "reading tar '%s'", t->name);
	if (t->pending) {
		t->pending = 0;
	} else {
		r = read_header(t, err);	/* skips unread content */
		if (r <= 0) {
			t->eof = r == 0;
			return r;
		}
	}
	return fill_entry(t, out, err);
}

static long tar_read(struct mkl_source *src, void *buf, size_t len, struct mkl_err *err)
{
	struct tar_source *t = (struct tar_source *)src;
	la_ssize_t n;

	if (!t->is_file)
		return 0;
	n = archive_read_data(t->a, buf, len);
	if (n < 0)
		return tar_fail(t, err);
	if (n == 0 && t->pos != t->file_size)
		return mkl_error(err, 0, "cannot read tar '%s' at '%s': %llu of %llu bytes",
				 t->name, t->shown, (unsigned long long)t->pos,
				 (unsigned long long)t->file_size);
	t->pos += (uint64_t)n;
	return (long)n;
}

static void tar_progress(struct mkl_source *src, uint64_t *done, uint64_t *total)
{
	const struct tar_source *t = (const struct tar_source *)src;
	la_int64_t n = archive_filter_bytes(t->a, -1);

	*done = n > 0 ? (uint64_t)n : 0;
	*total = t->size;
}

static void tar_close(struct mkl_source *src)
{
	struct tar_source *t = (struct tar_source *)src;

	if (t->a)
		archive_read_free(t->a);
	if (t->own_fd && t->fd >= 0)
		close(t->fd);
	mkl_source_xattr_free(t->xattrs);
	free(t->name);
	free(t);
}

static const struct mkl_source_ops tar_ops = {
	.next = tar_next,
	.read = tar_read,
	.progress = tar_progress,
	.close = tar_close,
};

int mkl_source_tar_open(int fd, int own_fd, const char *name, uint64_t size,
			struct mkl_source **out, struct mkl_err *err)
{
	struct tar_source *t;
	int r;

	*out = NULL;
	t = mkl_calloc(1, sizeof(*t), err);
	if (!t) {
		if (own_fd)
			close(fd);
		return -1;
	}
	t->base.ops = &tar_ops;
	t->fd = fd;
	t->own_fd = own_fd;
	t->size = size;
	t->name = mkl_strdup(name, err);
	if (!t->name)
		goto fail;
	t->a = archive_read_new();
	if (!t->a) {
		mkl_error(err, ENOMEM, "cannot read tar '%s': out of memory", name);
		goto fail;
	}
	/* The compressions libarchive decodes itself: not _all, which would
	 * run lzop, lrzip or grzip as programs for those formats. */
	if (archive_read_support_filter_gzip(t->a) != ARCHIVE_OK ||
	    archive_read_support_filter_bzip2(t->a) != ARCHIVE_OK ||
	    archive_read_support_filter_xz(t->a) != ARCHIVE_OK ||
	    archive_read_support_filter_lzma(t->a) != ARCHIVE_OK ||
	    archive_read_support_filter_lzip(t->a) != ARCHIVE_OK ||
	    archive_read_support_filter_zstd(t->a) != ARCHIVE_OK ||
	    archive_read_support_filter_lz4(t->a) != ARCHIVE_OK ||
	    archive_read_support_filter_compress(t->a) != ARCHIVE_OK ||
	    archive_read_support_format_tar(t->a) != ARCHIVE_OK ||
	    archive_read_support_format_cpio(t->a) != ARCHIVE_OK) {
		tar_fail(t, err);
		goto fail;
	}
	/* Opening reads the start and bids for the format: data that no tar
	 * reader takes (an empty file too, as GNU tar says) fails here with
	 * no format chosen. The first header is read now as well, so that
	 * every failure to recognise the input comes from open. */
	r = archive_read_set_callback_data(t->a, t);
	if (r == ARCHIVE_OK)
		r = archive_read_set_read_callback(t->a, tar_fd_read);
	if (r == ARCHIVE_OK)
		r = archive_read_set_skip_callback(t->a, tar_fd_skip);
	if (r == ARCHIVE_OK)
		r = archive_read_open1(t->a);
	if (r == ARCHIVE_OK)
		r = archive_read_next_header(t->a, &t->entry);
	if (r == ARCHIVE_EOF) {
		t->eof = 1;
	} else if (r == ARCHIVE_OK || r == ARCHIVE_WARN) {
		t->pending = 1;
	} else {
		if (archive_format(t->a) == 0 && archive_errno(t->a) == EILSEQ)
			mkl_error(err, 0, "cannot read tar '%s': not a tar archive (plain, or gzip, "
				  "bzip2, xz, lzma, lzip, zstd, lz4, compress)", name);
		else
			tar_fail(t, err);
		goto fail;
	}
	*out = &t->base;
	return 0;
fail:
	tar_close(&t->base);
	return -1;
}
