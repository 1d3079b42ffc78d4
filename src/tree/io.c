/* Reads and writes that finish or say why; the spool (see io.h). */
#include "tree/io.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tree/outfile.h"

static const unsigned char zeros[65536];

/* A failed call: EINTR is retried unless the work was cancelled. */
static int retry(void)
{
	return errno == EINTR && !mkl_cancelled();
}

/* A short write when the work was cancelled: the signal cut it short, and
 * the next write could block for ever (a reader that stopped). */
static int cut_short(size_t left)
{
	return left > 0 && mkl_cancelled();
}

static int write_failed(struct mkl_err *err, ssize_t n, const char *what)
{
	/* write() returning 0 for a non-empty buffer: the device is full. */
	return mkl_error(err, n < 0 ? (errno == EINTR ? ECANCELED : errno) : ENOSPC, "writing %s",
			 what);
}

/* One loop for write and pwrite: off < 0 writes at the file position. */
static int write_loop(int fd, const void *buf, size_t len, int64_t off, const char *what,
		      struct mkl_err *err)
{
	const unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = off < 0 ? write(fd, p, len) : pwrite(fd, p, len, (off_t)off);

		if (n < 0 && retry())
			continue;
		if (n <= 0)
			return write_failed(err, n, what);
		p += n;
		len -= (size_t)n;
		if (off >= 0)
			off += n;
		if (cut_short(len))
			return mkl_error(err, ECANCELED, "writing %s", what);
	}
	return 0;
}

int mkl_write_all(int fd, const void *buf, size_t len, const char *what, struct mkl_err *err)
{
	return write_loop(fd, buf, len, -1, what, err);
}

int mkl_pwrite_all(int fd, const void *buf, size_t len, uint64_t off, const char *what,
		   struct mkl_err *err)
{
	if (off > INT64_MAX)
		return mkl_error(err, EINVAL, "writing %s at %" PRIu64, what, off);
	return write_loop(fd, buf, len, (int64_t)off, what, err);
}

int mkl_write_zeros(int fd, uint64_t len, const char *what, struct mkl_err *err)
{
	while (len > 0) {
		size_t l = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);

		if (mkl_write_all(fd, zeros, l, what, err))
			return -1;
		len -= l;
	}
	return 0;
}

/* One loop for read and pread: off < 0 reads at the file position. */
static ssize_t read_loop(int fd, void *buf, size_t len, int64_t off, const char *what,
			 struct mkl_err *err)
{
	unsigned char *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t n = off < 0 ? read(fd, p + done, len - done)
				    : pread(fd, p + done, len - done, (off_t)off + (off_t)done);

		if (n < 0 && retry())
			continue;
		if (n < 0)
			return mkl_error(err, errno == EINTR ? ECANCELED : errno, "cannot read %s", what);
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

ssize_t mkl_read_full(int fd, void *buf, size_t len, const char *what, struct mkl_err *err)
{
	return read_loop(fd, buf, len, -1, what, err);
}

ssize_t mkl_pread_full(int fd, void *buf, size_t len, uint64_t off, const char *what,
		       struct mkl_err *err)
{
	if (off > INT64_MAX)
		return mkl_error(err, EINVAL, "cannot read %s at %" PRIu64, what, off);
	return read_loop(fd, buf, len, (int64_t)off, what, err);
}

long mkl_read_fn_full(mkl_read_fn read, void *ctx, void *buf, size_t len, struct mkl_err *err)
{
	unsigned char *p = buf;
	size_t done = 0;

	while (done < len) {
		long n = read(ctx, p + done, len - done, err);

		if (n < 0)
			return -1;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (long)done;
}

/* --- whole files ----------------------------------------------------------- */

int mkl_buf_sink(void *ctx, const void *data, size_t len, struct mkl_err *err)
{
	struct mkl_buf *b = ctx;

	if (len > SIZE_MAX - b->len)
		return mkl_error(err, ENOMEM, "out of memory");
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		unsigned char *nd;

		while (cap < b->len + len)
			cap = cap > SIZE_MAX / 2 ? b->len + len : cap * 2;
		nd = realloc(b->data, cap);
		if (!nd)
			return mkl_error(err, ENOMEM, "out of memory (%zu bytes)", cap);
		b->data = nd;
		b->cap = cap;
	}
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

void mkl_buf_free(struct mkl_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

int mkl_read_file(const char *path, struct mkl_buf *out, bool optional, struct mkl_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char what[64 + 4096];
	size_t asked;
	ssize_t r;

	if (fd < 0) {
		if (optional && errno == ENOENT)
			return 1;
		return mkl_error(err, errno, "cannot open '%s'", path);
	}
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		return mkl_error(err, EISDIR, "cannot read '%s'", path);
	}
	snprintf(what, sizeof(what), "'%s'", path);
	do {
		/* Room for the rest of a regular file (and one byte to see its
		 * end), or for the next 64 KiB of anything else. */
		size_t want = 65536;

		if (S_ISREG(st.st_mode) && (uint64_t)st.st_size < SIZE_MAX / 2 &&
		    (size_t)st.st_size >= out->len && (size_t)st.st_size - out->len + 1 > want)
			want = (size_t)st.st_size - out->len + 1;
		if (out->cap - out->len < want) {
			unsigned char *nd = want <= SIZE_MAX - out->len ? realloc(out->data, out->len + want) : NULL;

			if (!nd) {
				mkl_error(err, ENOMEM, "out of memory reading '%s'", path);
				goto fail;
			}
			out->data = nd;
			out->cap = out->len + want;
		}
		asked = out->cap - out->len;
		r = mkl_read_full(fd, out->data + out->len, asked, what, err);
		if (r < 0)
			goto fail;
		out->len += (size_t)r;
	} while ((size_t)r == asked);	/* fewer: the end of the file */
	close(fd);
	return 0;
fail:
	close(fd);
	return -1;
}

/* --- the spool ------------------------------------------------------------- */

int mkl_spool_open(struct mkl_spool *s, const char *near, struct mkl_err *err)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	return near ? mkl_scratch_open(near, &s->fd, err) : mkl_scratch_open_in(NULL, &s->fd, err);
}

int mkl_spool_add(struct mkl_spool *s, struct mkl_spool_rec *rec, const char *name, uint64_t size,
		  mkl_read_fn read, void *rctx, mkl_spool_filter_fn filter, void *fctx,
		  struct mkl_err *err)
{
	uint64_t pos = 0;
	long got_end;

	rec->off = s->end;
	rec->size = size;
	if (!s->buf) {
		s->buf = mkl_malloc(MKL_SPOOL_CHUNK, err);
		if (!s->buf)
			return -1;
	}
	while (pos < size) {
		size_t want = size - pos < MKL_SPOOL_CHUNK ? (size_t)(size - pos) : MKL_SPOOL_CHUNK;
		long got;
		int keep = 1;

		if (mkl_cancelled())
			return mkl_error(err, ECANCELED, "copying '%s'", name);
		got = mkl_read_fn_full(read, rctx, s->buf, want, err);
		if (got < 0)
			return -1;
		if ((size_t)got < want)
			return mkl_error(err, 0, "'%s' is shorter than its size (%" PRIu64 " of %" PRIu64
					 " bytes)", name, pos + (uint64_t)got, size);
		if (filter && (keep = filter(fctx, pos, s->buf, (size_t)got, err)) < 0)
			return -1;
		if (keep && mkl_pwrite_all(s->fd, s->buf, (size_t)got, rec->off + pos, "the scratch file", err))
			return mkl_err_prefix(err, "copying '%s'", name);
		pos += (uint64_t)got;
	}
	/* The reader must be at its end (a source checks the length there). */
	got_end = mkl_read_fn_full(read, rctx, s->buf, 1, err);
	if (got_end < 0)
		return -1;
	if (got_end > 0)
		return mkl_error(err, 0, "'%s' is longer than its size (%" PRIu64 " bytes)", name, size);
	s->end += size;
	return 0;
}

int mkl_spool_read(const struct mkl_spool *s, const struct mkl_spool_rec *rec, uint64_t off,
		   void *buf, size_t len, const char *name, struct mkl_err *err)
{
	ssize_t got;

	if (off > rec->size || len > rec->size - off)
		return mkl_error(err, EINVAL, "reading past the end of '%s' in the scratch file", name);
	got = mkl_pread_full(s->fd, buf, len, rec->off + off, "the scratch file", err);
	if (got < 0)
		return mkl_err_prefix(err, "'%s'", name);
	if ((size_t)got < len)	/* a hole at the end that finish did not cover */
		memset((unsigned char *)buf + got, 0, len - (size_t)got);
	return 0;
}

int mkl_spool_finish(struct mkl_spool *s, struct mkl_err *err)
{
	if (s->fd >= 0 && ftruncate(s->fd, (off_t)s->end))
		return mkl_error(err, errno, "cannot size the scratch file");
	return 0;
}

void mkl_spool_close(struct mkl_spool *s)
{
	while (s->recs) {
		struct mkl_spool_rec *r = s->recs->next;

		free(s->recs);
		s->recs = r;
	}
	if (s->fd >= 0)
		close(s->fd);
	free(s->buf);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}

int mkl_spool_add_node(struct mkl_spool *s, struct mkl_node *n, mkl_read_fn read, void *ctx,
		       struct mkl_err *err)
{
	struct mkl_spool_rec *r = mkl_calloc(1, sizeof(*r), err);

	if (!r)
		return -1;
	r->next = s->recs;
	s->recs = r;
	if (mkl_spool_add(s, r, n->name, n->size, read, ctx, NULL, NULL, err))
		return -1;
	n->data = r;
	return 0;
}

int mkl_spool_read_node(const struct mkl_spool *s, const struct mkl_node *n, uint64_t off, void *buf,
			size_t len, struct mkl_err *err)
{
	const struct mkl_spool_rec *r = mkl_node_inode((struct mkl_node *)n)->data;

	if (!r && n->size == 0 && len == 0)
		return 0;
	if (!r)
		return mkl_error(err, 0, "no content stored for '%s'", n->name);
	return mkl_spool_read(s, r, off, buf, len, n->name, err);
}
