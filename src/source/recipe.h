/* A recipe: a Debian system described by a suite and a package list,
 * made by mmdebstrap (Debian's tool, run as a child process) and read as
 * the tar it writes to a pipe. Nothing is unpacked on the host and no tar
 * is stored: the build compresses files while packages are still being
 * installed.
 *
 * Downloaded packages and the package lists are kept in a cache (one
 * directory per suite, architecture and mirror set), so a second build
 * of the same recipe downloads nothing and, with the same lists, installs
 * the same versions; refresh fetches the lists again.
 *
 * The source's end is mmdebstrap's: mkl_source_next() reports the end of
 * the input only once the child has exited with status 0; when it fails,
 * the error is its own last lines of output (apt's "Unable to locate
 * package", a hook's output, ...), also when the tar stream broke first.
 */
#ifndef MKL_RECIPE_H
#define MKL_RECIPE_H

#include "source/source.h"

struct mkl_recipe {
	const char *suite;		/* "bookworm" (required) */
	const char *packages;		/* names separated by spaces or commas */
	const char *components;		/* "main contrib"; NULL: main */
	const char *mirror;		/* archive URIs separated by spaces or commas, each
					 * used as "deb URI SUITE COMPONENTS"; NULL: the
					 * host's apt sources, with SUITE for the host's */
	const char *architecture;	/* NULL: the host's */
	const char *variant;		/* mmdebstrap's --variant; NULL: minbase */
	const char *include;		/* a directory copied over the tree, or NULL */
	const char *hooks;		/* executable files, separated by spaces; NULL: none */
	const char *cache;		/* the cache's root directory (made if missing) */
	int refresh;			/* fetch the package lists again */
	const char *program;		/* NULL: mmdebstrap from PATH */
	/* mmdebstrap's progress, one line at a time, from another thread
	 * (may be NULL). */
	void (*note)(void *ctx, const char *line);
	void *ctx;
	/* The directory mmdebstrap installs the tree into, once it is made
	 * (from the same thread; may be NULL): its files change until the tar
	 * begins, and a writer may compress ahead there (squashfs.h). */
	void (*tree)(void *ctx, const char *dir);
	void *tree_ctx;
};

/* Check the recipe (suite given, include a directory, hooks executable
 * files, root or a subordinate ID range for mmdebstrap's unshare mode)
 * and start mmdebstrap. */
int mkl_source_recipe_open(const struct mkl_recipe *r, struct mkl_source **out, struct mkl_err *err);

#endif
