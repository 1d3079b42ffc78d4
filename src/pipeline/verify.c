/* Checking a medium against its recorded checksums (see verify.h).
 *
 * One pass over the ISO in libarchive's order (the order of the data on
 * the medium, so a CD is read front to back once): each regular file's
 * SHA-256 is kept by path, the checksum list is kept when it comes by,
 * and the two are compared at the end. A read error inside a file marks
 * that file unreadable and ends the pass (libarchive cannot go on), so
 * files after it count as unreadable too rather than missing. */
#include "pipeline/verify.h"
#include "fmt/digest.h"
#include "fmt/sha256.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct seen {
	char *path;
	char hex[2 * MKL_SHA256_LEN + 1];
};

struct pass {
	struct seen *v;
	size_t n, cap;
	char *sums;
	int broken;	/* a read error ended the pass */
};

/* "./live/x", "/live/x" and "live/x" are one path. */
static const char *plain(const char *p)
{
	while (p[0] == '.' && p[1] == '/')
		p += 2;
	while (*p == '/')
		p++;
	return p;
}

static int keep(struct pass *ps, const char *path, const char *hex, struct mkl_err *err)
{
	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? 2 * ps->cap : 32;
		struct seen *v = realloc(ps->v, cap * sizeof(*v));

		if (!v)
			return mkl_error(err, ENOMEM, "out of memory");
		ps->v = v;
		ps->cap = cap;
	}
	ps->v[ps->n].path = strdup(plain(path));
	if (!ps->v[ps->n].path)
		return mkl_error(err, ENOMEM, "out of memory");
	memcpy(ps->v[ps->n].hex, hex, sizeof(ps->v[ps->n].hex));
	ps->n++;
	return 0;
}

static const struct seen *find(const struct pass *ps, const char *path)
{
	for (size_t i = 0; i < ps->n; i++)
		if (!strcmp(ps->v[i].path, path))
			return &ps->v[i];
	return NULL;
}

/* Read the whole ISO once. -1 only when it is not an ISO at all. */
static int read_all(const char *iso, struct pass *ps, uint64_t *bytes, struct mkl_err *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	size_t bufsize = 1 << 16;
	unsigned char *buf = malloc(bufsize);
	struct mkl_digest *s = NULL;
	int r, rc = -1;

	if (!a || !buf || !(s = mkl_digest_new(err))) {
		archive_read_free(a);
		free(buf);
		return a && buf ? -1 : mkl_error(err, ENOMEM, "out of memory");
	}
	archive_read_support_format_iso9660(a);
	if (archive_read_open_filename(a, iso, bufsize) != ARCHIVE_OK) {
		if (archive_errno(a) > 0 && archive_errno(a) != EILSEQ)	/* libarchive: "not this format" */
			mkl_error(err, archive_errno(a), "cannot open '%s'", iso);
		else
			mkl_error(err, 0, "'%s' is not an ISO 9660 image", iso);
		goto out;
	}
	for (int first = 1;; first = 0) {
		unsigned char sum[MKL_SHA256_LEN];
		char hex[2 * MKL_SHA256_LEN + 1];
		const char *name;
		int is_sums;
		size_t len = 0, cap = 0;
		char *text = NULL;

		r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			if (first) {
				mkl_error(err, 0, "'%s' is not an ISO 9660 image: %s", iso,
					  archive_error_string(a));
				goto out;
			}
			ps->broken = 1;
			break;
		}
		if (archive_entry_filetype(e) != AE_IFREG)
			continue;
		name = plain(archive_entry_pathname(e));
		is_sums = !strcmp(name, MKL_SUMS_PATH);
		if (mkl_digest_reset(s)) {
			mkl_error(err, 0, "SHA-256 (libcrypto) failed");
			goto out;
		}
		for (;;) {
			la_ssize_t n = archive_read_data(a, buf, bufsize);

			if (n == 0)
				break;
			if (n < 0) {
				ps->broken = 1;
				free(text);
				goto done;
			}
			if (mkl_cancelled()) {
				free(text);
				mkl_error(err, ECANCELED, "checking '%s'", iso);
				goto out;
			}
			if (mkl_digest_update(s, buf, (size_t)n)) {
				free(text);
				mkl_error(err, 0, "SHA-256 (libcrypto) failed");
				goto out;
			}
			*bytes += (uint64_t)n;
			if (is_sums && len + (size_t)n < (1 << 20)) {
				if (len + (size_t)n + 1 > cap) {
					char *t = realloc(text, cap = 2 * (len + (size_t)n + 1));

					if (!t) {
						free(text);
						mkl_error(err, ENOMEM, "out of memory");
						goto out;
					}
					text = t;
				}
				memcpy(text + len, buf, (size_t)n);
				text[len += (size_t)n] = 0;
			}
		}
		if (is_sums) {
			free(ps->sums);
			ps->sums = text ? text : strdup("");
			if (!ps->sums) {
				mkl_error(err, ENOMEM, "out of memory");
				goto out;
			}
			continue;
		}
		if (mkl_digest_final(s, sum)) {
			mkl_error(err, 0, "SHA-256 (libcrypto) failed");
			goto out;
		}
		mkl_sha256_hex(sum, hex);
		if (keep(ps, name, hex, err))
			goto out;
	}
done:
	rc = 0;
out:
	archive_read_free(a);
	free(buf);
	mkl_digest_free(s);
	return rc;
}

int mkl_verify_iso(const char *iso, mkl_verify_fn fn, void *ctx, struct mkl_verify_result *res,
		   struct mkl_err *err)
{
	struct pass ps = { 0 };
	int rc = -1;
	char *line, *next;

	memset(res, 0, sizeof(*res));
	if (read_all(iso, &ps, &res->bytes, err))
		goto out;
	if (!ps.sums) {
		mkl_error(err, 0, "'%s' has no /%s: not made by mklive, or by a version before "
			  "checksums%s", iso, MKL_SUMS_PATH, ps.broken ? " (or the image is damaged)" : "");
		goto out;
	}
	for (line = ps.sums; line && *line; line = next) {
		char *sp = strstr(line, "  ");
		enum mkl_verify_status st;
		const struct seen *s;

		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if (!sp || sp - line != 2 * MKL_SHA256_LEN || strspn(line, "0123456789abcdef") !=
		    2 * MKL_SHA256_LEN || !sp[2]) {
			mkl_error(err, 0, "'%s': /%s: malformed line '%.80s'", iso, MKL_SUMS_PATH, line);
			goto out;
		}
		*sp = 0;
		s = find(&ps, plain(sp + 2));
		if (s)
			st = strcmp(s->hex, line) ? MKL_VERIFY_DIFFERS : MKL_VERIFY_OK;
		else
			st = ps.broken ? MKL_VERIFY_UNREADABLE : MKL_VERIFY_MISSING;
		res->files++;
		if (st != MKL_VERIFY_OK)
			res->bad++;
		if (fn)
			fn(ctx, plain(sp + 2), st);
	}
	rc = 0;
out:
	for (size_t i = 0; i < ps.n; i++)
		free(ps.v[i].path);
	free(ps.v);
	free(ps.sums);
	return rc;
}

const char *mkl_verify_status_text(enum mkl_verify_status st)
{
	switch (st) {
	case MKL_VERIFY_OK: return "ok";
	case MKL_VERIFY_DIFFERS: return "DAMAGED (its checksum differs)";
	case MKL_VERIFY_MISSING: return "MISSING from the medium";
	case MKL_VERIFY_UNREADABLE: return "UNREADABLE (the medium could not be read there)";
	}
	return "?";
}
