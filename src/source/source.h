/* Readers of input: a directory walk or a tar archive (or a cpio archive,
 * newc or odc, which is read the same way), behind one interface.
 *
 * A source yields entries one at a time, in a stable order (the directory
 * walk is sorted by name; a tar is read in archive order). For a regular
 * file that is not a hard link, the content may be read with
 * mkl_source_read() before the next call to mkl_source_next(); unread
 * content is skipped. All metadata comes from the input itself (tar
 * headers, or lstat of the walk), never from the host's permission system.
 */
#ifndef MKL_SOURCE_H
#define MKL_SOURCE_H

#include <stdint.h>

#include "tree/err.h"
#include "tree/tree.h"

struct mkl_source;

struct mkl_source_entry {
	const char *path;	/* normalised, relative: "etc/passwd", "" = root */
	struct mkl_stat st;	/* xattrs/target valid until the next call */
	const char *hardlink;	/* non-NULL: normalised path of the earlier entry
				 * this one is a hard link to (no content) */
};

/* Open a directory or a tar archive (.tar, .tar.gz, .tar.zst, .tar.xz, ...;
 * detected by content, not by name). */
int mkl_source_open(const char *path, struct mkl_source **out, struct mkl_err *err);

/* 1: *entry filled; 0: end of input; -1: error. */
int mkl_source_next(struct mkl_source *src, struct mkl_source_entry *entry, struct mkl_err *err);

/* Read content of the current regular file: bytes read, 0 at its end, -1 on
 * error. A file whose length differs from st.size (changed while we read
 * it) is an error naming the path. Usable as an mkl_read_fn. */
long mkl_source_read(void *src, void *buf, size_t len, struct mkl_err *err);

/* Progress: bytes of input consumed so far, and the total when known
 * (directory: sum of regular file sizes, found by a stat pass on the
 * first call; tar: the archive's size on disk; 0 when unknown, e.g. a
 * pipe). */
void mkl_source_progress(struct mkl_source *src, uint64_t *done, uint64_t *total);

/* A directory source's root (as given, without trailing '/'): a writer that
 * needs a file's bytes twice may open ROOT/PATH again (and must check that
 * the file is still what the entry said) instead of keeping a copy. NULL
 * for an archive, which is read once. */
const char *mkl_source_dir_root(const struct mkl_source *src);

void mkl_source_close(struct mkl_source *src);	/* accepts NULL */

/* A finished tree read back as a source (treesrc.c): pre-order, the root
 * "" first; the first name of an inode met carries it, later names are
 * hard links to that path; regular files' bytes come from content(ctx,
 * leader, ...); nodes a tar only implied get implicit_time as mtime. The
 * tree must outlive the source and stay unchanged. */
int mkl_source_tree_open(struct mkl_tree *tree, mkl_content_fn content, void *ctx,
			 int64_t implicit_time, struct mkl_source **out, struct mkl_err *err);

#endif
