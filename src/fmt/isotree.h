/* ISO 9660 + Rock Ridge image of a whole tree (libisofs), written to a
 * sink: the payload of a cloop image, as the article's Knoppix built it.
 *
 * Every node of the finished tree goes in with its own type, mode
 * (setuid/setgid/sticky included), owner, device number, link target and
 * mtime (also used as atime and ctime). ISO level 3 (files of 4 GiB and
 * more become multi-extent), Rock Ridge 1.10, no Joliet, relaxed ISO 9660
 * names (only fallbacks: Rock Ridge carries the real names), no directory
 * relocation (deep trees stay where they are). Hard links share one data
 * extent and carry their link count; xattrs are kept as AAIP (Linux's isofs
 * ignores them, xorriso restores them).
 *
 * The output is never seeked: it is handed to sink() in order, in pieces
 * of at most 64 KiB. Two writes of the same tree with the same opts give
 * the same bytes.
 */
#ifndef MKL_ISOTREE_H
#define MKL_ISOTREE_H

#include <stddef.h>
#include <stdint.h>

#include "tree/err.h"
#include "tree/tree.h"

/* Contents come through an mkl_content_fn (tree/tree.h). Offsets need not
 * be sequential: libisofs may read a file more than once. It is called
 * from libisofs's writer thread, one call at a time, never after
 * mkl_isotree_write() returned. */

struct mkl_isotree_opts {
	const char *volume_id;	/* label, checked like mkl_iso_check_label() */
	int64_t time;		/* volume descriptor times; node times come from the tree */
};

/* Write the image of tree (finished: mkl_tree_finish()) to sink. The
 * image size goes to *size_out (may be NULL). Cancellation (mkl_cancelled())
 * fails with ECANCELED; errors of content() and sink() are passed on. */
int mkl_isotree_write(struct mkl_tree *tree, const struct mkl_isotree_opts *opts,
		      mkl_content_fn content, void *content_ctx, mkl_sink_fn sink, void *sink_ctx,
		      uint64_t *size_out, struct mkl_err *err);

#endif
