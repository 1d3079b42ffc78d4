/* The tree model: what every source produces and every writer consumes.
 *
 * A tree holds metadata only (never file contents). Sources hand entries to
 * mkl_tree_add() in any order; a tar may name a file before its directory,
 * in which case the directory is made implicitly and takes its real
 * metadata when (if) its own entry arrives. A later entry for the same
 * path replaces the earlier one, as tar extraction would.
 *
 * Paths are relative to the tree root: "usr/bin/env", "" for the root. The
 * mode is a full st_mode (type bits and the 07777 permission bits).
 */
#ifndef MKL_TREE_H
#define MKL_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tree/err.h"

struct mkl_xattr {
	struct mkl_xattr *next;	/* sorted by name after mkl_tree_finish() */
	char *name;		/* full name: "security.capability" */
	size_t size;
	unsigned char *value;
};

/* What a source says about one entry. */
struct mkl_stat {
	uint32_t mode;		/* st_mode: S_IFREG|0644, ... */
	uint32_t uid, gid;
	uint64_t rdev;		/* makedev(major, minor) for device nodes */
	int64_t mtime;		/* seconds since the epoch */
	uint64_t size;		/* regular files: content length */
	const char *target;	/* symlinks: the link text */
	const struct mkl_xattr *xattrs;	/* copied by mkl_tree_add() */
};

struct mkl_node {
	struct mkl_node *parent;
	struct mkl_node *children;	/* sorted by name (strcmp) after finish */
	struct mkl_node *next;		/* next sibling */
	char *name;			/* "" for the root */
	uint32_t mode, uid, gid;
	uint64_t rdev;
	int64_t mtime;
	uint64_t size;
	char *target;			/* symlink text */
	struct mkl_xattr *xattrs;
	/* Hard links: every name of one inode points at the same leader
	 * (the first name added); leader->link == NULL. nlink is set on the
	 * leader by mkl_tree_finish() (directories: 2 + subdirectories). */
	struct mkl_node *link;
	uint32_t nlink;
	bool implicit;			/* made for a missing parent, not seen */
	/* Scratch for writers: an inode number and a pointer to the
	 * writer's per-file record (e.g. where squashfs put the data). */
	uint32_t inode;
	void *data;
};

struct mkl_tree;

struct mkl_tree *mkl_tree_create(struct mkl_err *err);
void mkl_tree_destroy(struct mkl_tree *tree);	/* accepts NULL */
struct mkl_node *mkl_tree_root(struct mkl_tree *tree);

/* Normalise a path from a source: strips leading "/" and "./", trailing
 * "/", collapses "//" and "/./". Fails on ".." components and on names
 * longer than 255 bytes. Result written into out (size PATH_MAX). */
int mkl_path_normalise(const char *in, char *out, size_t outsize, struct mkl_err *err);

/* Add (or replace) the entry at path; path is normalised first. */
int mkl_tree_add(struct mkl_tree *tree, const char *path, const struct mkl_stat *st,
		 struct mkl_node **out, struct mkl_err *err);

/* Add a hard link at path to the existing non-directory at target. */
int mkl_tree_add_hardlink(struct mkl_tree *tree, const char *path, const char *target,
			  struct mkl_node **out, struct mkl_err *err);

/* Remove the node at path (and what is under it). Returns 0 when absent. */
int mkl_tree_remove(struct mkl_tree *tree, const char *path, struct mkl_err *err);

/* Look a path up without following symlinks; NULL when absent. */
struct mkl_node *mkl_tree_lookup(struct mkl_tree *tree, const char *path);

/* Look a path up following symlinks in every component, the way the booted
 * system will see it (absolute link targets start at the tree root; ".."
 * at the root stays at the root). NULL when absent or on a loop. */
struct mkl_node *mkl_tree_resolve(struct mkl_tree *tree, const char *path);

/* The same, with the root of another tree mounted on the top-level
 * directory `mount` of this one (the image on /ro in symlink mode). */
struct mkl_node *mkl_tree_resolve_mounted(struct mkl_tree *tree, const char *path,
					  const char *mount, struct mkl_tree *mounted);

/* Sort children, fill nlink, free the path index. After this the tree is
 * read-only for writers. */
int mkl_tree_finish(struct mkl_tree *tree, struct mkl_err *err);

/* Number of nodes (including the root). */
size_t mkl_tree_count(const struct mkl_tree *tree);

/* The node's path relative to the root ("" for the root); malloc'd. */
char *mkl_node_path(const struct mkl_node *node);

/* Pre-order walk (a directory before its children, children in order).
 * The callback returns 0 to go on, -1 to stop with an error. */
typedef int (*mkl_walk_fn)(void *ctx, struct mkl_node *node, struct mkl_err *err);
int mkl_tree_walk(struct mkl_tree *tree, mkl_walk_fn fn, void *ctx, struct mkl_err *err);

static inline bool mkl_is_dir(const struct mkl_node *n) { return (n->mode & 0170000) == 0040000; }
static inline bool mkl_is_reg(const struct mkl_node *n) { return (n->mode & 0170000) == 0100000; }
static inline bool mkl_is_lnk(const struct mkl_node *n) { return (n->mode & 0170000) == 0120000; }

/* Content of a regular file kept outside the tree (a scratch store): copy
 * exactly len bytes from offset off of node's content into buf; 0 or -1
 * (err set). node is the hard-link leader (mkl_node_inode()). */
typedef int (*mkl_content_fn)(void *ctx, const struct mkl_node *node, uint64_t off, void *buf,
			      size_t len, struct mkl_err *err);

/* The inode a node's name refers to: its hard-link leader, or itself. */
static inline struct mkl_node *mkl_node_inode(struct mkl_node *n) { return n->link ? n->link : n; }

#endif
