/* What the two libisofs writers (iso.c: the boot ISO; isotree.c: a tree as
 * ISO 9660 to a stream) share: setting the library up once per process,
 * its message queue, which is global to the process, the IsoStream class
 * that file content comes through, and the loop that reads the image out.
 * Internal to src/fmt. */
#ifndef MKL_ISOLIB_H
#define MKL_ISOLIB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The copy of struct burn_source in libisofs.h (we do not use libburn). */
#define LIBISOFS_WITHOUT_LIBBURN 1
#include <libisofs/libisofs.h>

#include "tree/err.h"

/* iso_init() once, messages queued and never printed, UTF-8 names.
 * Also empties the queue of what earlier writes left. */
int mkl_isolib_setup(struct mkl_err *err);

/* Empty the message queue; keep the last SORRY-or-worse text in last
 * (may be NULL). */
void mkl_isolib_drain(char *last, size_t size);

/* err from a libisofs return code: "<what>: <libisofs text>"; returns -1. */
int mkl_isolib_fail(struct mkl_err *err, int ret, const char *what);

/* --- streams: file content that libisofs pulls through callbacks --- */

/* What a stream reads. read() runs on libisofs's writer thread, from pos 0
 * up, in pieces of at most count bytes; it returns how many it put in buf
 * (fewer only when the source ended early: libisofs pads with zeros), or a
 * negative libisofs error code. open(), if set, is called before each pass
 * and returns 1, or 2 / 3 when the source grew / shrank since (libisofs
 * pads or truncates), or an error code. release(), if set, frees data with
 * the stream. */
struct mkl_isolib_source {
	int (*open)(void *data);
	int (*read)(void *data, uint64_t pos, void *buf, size_t count);
	void (*release)(void *data);
};

/* A stream of size bytes from src over data, with the id (fs_id, 0, ino):
 * ids are ours, fixed, so images are reproducible (libisofs's own come from
 * a process-wide counter). One reference is the caller's. data is taken
 * over: on failure it is released. */
IsoStream *mkl_isolib_stream(const struct mkl_isolib_source *src, void *data, uint64_t size,
			     unsigned int fs_id, ino_t ino, struct mkl_err *err);

/* --- writing an image out --- */

/* Start libisofs's writer thread on image: *bs and the image size. */
int mkl_isolib_start(IsoImage *image, IsoWriteOpts *opts, struct burn_source **bs,
		     uint64_t *total, struct mkl_err *err);

/* Called with each piece of the image in order (at most 64 KiB; done is
 * how much came before it). The last call may have len 0, and a call with
 * what was read so far comes before a libisofs error is reported, so that
 * a source's own error can be reported instead. */
typedef int (*mkl_isolib_chunk_fn)(void *ctx, unsigned char *buf, size_t len, uint64_t done,
				   struct mkl_err *err);

/* Read the image from bs to its end, handing it to chunk. Fails when
 * cancelled, when libisofs fails, or when it gave other than total bytes. */
int mkl_isolib_pump(struct burn_source *bs, uint64_t total, mkl_isolib_chunk_fn chunk,
		    void *ctx, struct mkl_err *err);

/* Free bs (NULL is fine), first stopping and joining the writer thread
 * when the write failed. */
void mkl_isolib_stop(struct burn_source *bs, int failed);

#endif
