/* The article's layout: one list of read-only directories splits the tree
 * into a writable root (everything else, each read-only directory replaced
 * by a link to /ro/DIR) and a read-only image (exactly those directories),
 * and the split is checked both ways (see layout.c). */
#ifndef MKL_LAYOUT_H
#define MKL_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>

#include "tree/err.h"
#include "tree/tree.h"

#define MKL_LAYOUT_DEFAULT "/usr /bin /sbin /lib /lib32 /lib64 /libx32 /opt"
#define MKL_LAYOUT_MOUNT "ro"	/* where the read-only image is mounted */

struct mkl_layout {
	char **dirs;		/* relative, normalised: "usr", "var/lib/apt" */
	size_t ndirs;
	bool strict;		/* a list the user gave: missing or linked entries are errors */
};

/* Parse "/usr /bin ..." (NULL: the default list). Overlapping entries are an error. */
int mkl_layout_parse(const char *list, struct mkl_layout *l, struct mkl_err *err);
void mkl_layout_free(struct mkl_layout *l);

/* Does path (normalised, relative) lie inside a listed directory ("usr/bin",
 * not "usr" itself)? The build routes file contents by this while it reads
 * the source, before it knows whether "usr" is a directory. */
bool mkl_layout_inside(const struct mkl_layout *l, const char *path);

struct mkl_layout_split {
	struct mkl_tree *rw, *ro;	/* finished trees; node->data copied from the input */
	size_t ro_dirs;			/* listed directories that went to the image */
	char notes[512];		/* entries of the default list left as they were */
};

/* Split a finished input tree. Then check both ways: every input path is
 * in exactly one part, and every symbolic link that resolved in the input
 * resolves to the same file in the split view (rw root, image on /ro). */
int mkl_layout_split(const struct mkl_layout *l, struct mkl_tree *in,
		     struct mkl_layout_split *out, struct mkl_err *err);
void mkl_layout_split_free(struct mkl_layout_split *s);

#endif
