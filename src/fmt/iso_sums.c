/* The medium's checksums, made as libisofs reads each file (iso_int.h). */
#include "fmt/iso_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/random.h>
#include <unistd.h>

#include "fmt/iso.h"
#include "tree/io.h"

int mkl_isosum_start(struct sums *s, const struct mkl_iso_file *files, size_t nfiles,
		     struct mkl_err *err)
{
	s->recs = mkl_calloc(nfiles ? nfiles : 1, sizeof(*s->recs), err);
	if (!s->recs)
		return -1;
	if (getrandom(s->nonce, NONCE_LEN, 0) != NONCE_LEN)
		return mkl_error(err, errno, "cannot get random bytes for the ISO image");
	for (size_t i = 0; files && i < nfiles; i++) {
		struct sumrec *r;

		if (files[i].nosum)
			continue;
		r = &s->recs[s->n++];
		r->file = i;
		r->path = files[i].path;
		r->fd = -1;
		if (files[i].sha256) {	/* made by the caller */
			memcpy(r->sum, files[i].sha256, MKL_SHA256_LEN);
			r->done = 1;
		}
		r->d = mkl_digest_new(err);
		if (!r->d)
			return -1;
		s->text_size += 2 * MKL_SHA256_LEN + 5 + strlen(files[i].path);
	}
	return 0;
}

int mkl_isosum_write(struct sums *s, int out_fd, struct mkl_err *err)
{
	char *text;
	int rc;

	if (s->found != 1)
		return mkl_error(err, EIO, "writing the ISO image: the checksum list's place was "
				 "found %u times", s->found);
	text = mkl_isosum_text(s, err);
	if (!text)
		return -1;
	rc = mkl_pwrite_all(out_fd, text, (size_t)s->text_size, s->at,
			    "the checksum list into the ISO image", err);
	free(text);
	return rc;
}

void mkl_isosum_free(struct sums *s)
{
	for (size_t i = 0; i < s->n; i++)
		mkl_digest_free(s->recs[i].d);
	free(s->recs);
}

void mkl_isosum_feed(struct sumrec *r, uint64_t pos, const void *buf, size_t len)
{
	if (r->broken)
		return;
	if (pos == 0 && r->hashed) {	/* read again from the start */
		r->done = 0;
		r->hashed = 0;
		if (mkl_digest_reset(r->d)) {
			r->broken = 1;
			return;
		}
	}
	if (pos != r->hashed || r->done)
		return;		/* out of order: the fallback hashes it */
	if (mkl_digest_update(r->d, buf, len)) {
		r->broken = 1;
		return;
	}
	r->hashed += len;
	if (r->hashed == r->size) {
		if (mkl_digest_final(r->d, r->sum))
			r->broken = 1;
		else
			r->done = 1;
	}
}

/* A file that was not streamed through in order: hash it now. */
static int sum_late(struct sums *s, struct sumrec *r)
{
	struct mkl_err ignored;	/* the caller names the file */

	if (r->mem) {
		if (mkl_digest_reset(r->d) || mkl_digest_update(r->d, r->mem, (size_t)r->size) ||
		    mkl_digest_final(r->d, r->sum))
			return -1;
	} else if (mkl_digest_fd(r->fd, r->at, r->size, r->path, r->sum, &ignored)) {
		return -1;
	}
	s->late += r->size;
	r->done = 1;
	r->broken = 0;
	return 0;
}

/* The placeholder: the nonce, then newlines. */
static int sums_read(void *data, uint64_t pos, void *buf, size_t count)
{
	struct sums *s = data;
	unsigned char *p = buf;

	for (size_t i = 0; i < count; i++)
		p[i] = pos + i < NONCE_LEN ? s->nonce[pos + i] : '\n';
	return (int)count;
}

char *mkl_isosum_text(struct sums *s, struct mkl_err *err)
{
	char hex[2 * MKL_SHA256_LEN + 1], *text = mkl_malloc((size_t)s->text_size + 1, err);
	size_t len = 0;

	if (!text)
		return NULL;
	for (size_t i = 0; i < s->n; i++) {
		struct sumrec *r = &s->recs[i];

		if (!r->done && sum_late(s, r)) {
			free(text);
			mkl_error(err, EIO, "cannot read '%s' for its checksum", r->path);
			return NULL;
		}
		mkl_sha256_hex(r->sum, hex);
		len += (size_t)snprintf(text + len, (size_t)s->text_size + 1 - len, "%s  ./%s\n",
					hex, r->path);
	}
	if (len != s->text_size) {
		free(text);
		mkl_error(err, EINVAL, "checksum list of %zu bytes, not %llu", len,
			  (unsigned long long)s->text_size);
		return NULL;
	}
	return text;
}

const struct mkl_isolib_source mkl_isosum_source = {
	.read = sums_read,
};

/* The placed file while its place is looked for: the nonce inverted,
 * then zeros. */
static int probe_read(void *data, uint64_t pos, void *buf, size_t count)
{
	struct sums *s = data;
	unsigned char *p = buf;

	for (size_t i = 0; i < count; i++)
		p[i] = pos + i < NONCE_LEN ? (unsigned char)~s->nonce[pos + i] : 0;
	return (int)count;
}

const struct mkl_isolib_source mkl_isosum_probe_source = {
	.read = probe_read,
};

