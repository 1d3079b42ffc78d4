/* What the two libisofs writers (iso.c: the boot ISO; isotree.c: a tree as
 * ISO 9660 to a stream) share: setting the library up once per process,
 * and its message queue, which is global to the process. Internal to
 * src/fmt. Include <stdint.h>, <sys/types.h> and <libisofs.h> first. */
#ifndef MKL_ISOLIB_H
#define MKL_ISOLIB_H

#include <stddef.h>

#include "tree/err.h"

/* iso_init() once, messages queued and never printed, UTF-8 names.
 * Also empties the queue of what earlier writes left. */
int mkl_isolib_setup(struct mkl_err *err);

/* Empty the message queue; keep the last SORRY-or-worse text in last
 * (may be NULL). */
void mkl_isolib_drain(char *last, size_t size);

/* err from a libisofs return code: "<what>: <libisofs text>"; returns -1. */
int mkl_isolib_fail(struct mkl_err *err, int ret, const char *what);

#endif
