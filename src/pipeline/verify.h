/* Checking a medium against the checksums its build recorded: every file
 * listed in /sha256sum.txt ("HASH  ./path", as sha256sum(1) writes) is
 * read back from the ISO (with libarchive's ISO 9660 reader, not ours) and
 * its SHA-256 compared. */
#ifndef MKL_VERIFY_H
#define MKL_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "tree/err.h"

#define MKL_SUMS_PATH "sha256sum.txt"

enum mkl_verify_status {
	MKL_VERIFY_OK,
	MKL_VERIFY_DIFFERS,	/* read, but the checksum differs: damaged */
	MKL_VERIFY_MISSING,	/* listed, not on the medium */
	MKL_VERIFY_UNREADABLE,	/* the medium could not be read there */
};

struct mkl_verify_result {
	size_t files, bad;	/* listed, and not MKL_VERIFY_OK */
	uint64_t bytes;		/* read and checked */
};

/* Called once per listed file, in the list's order. */
typedef void (*mkl_verify_fn)(void *ctx, const char *path, enum mkl_verify_status st);

/* 0 when the medium could be checked (res->bad tells whether it is whole),
 * -1 with a message when it cannot: not an ISO image, no checksum list, a
 * malformed list. */
int mkl_verify_iso(const char *path, mkl_verify_fn fn, void *ctx, struct mkl_verify_result *res,
		   struct mkl_err *err);

const char *mkl_verify_status_text(enum mkl_verify_status st);

#endif
