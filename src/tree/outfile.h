/* Output files that get their name only when complete.
 *
 * The file is made unnamed (O_TMPFILE) in the output's directory and linked
 * to its name by mkl_outfile_commit(); a build that fails, is cancelled or
 * is killed leaves nothing behind. Where the filesystem has no unnamed
 * files, a hidden "NAME.tmp-XXXXXX" beside it is used and removed on
 * failure. Every command that writes a file uses this.
 */
#ifndef MKL_OUTFILE_H
#define MKL_OUTFILE_H

#include <stdbool.h>
#include <sys/types.h>

#include "tree/err.h"

struct mkl_outfile {
	int fd;
	bool is_stdout;		/* "-" was given and allowed */
	char *path;		/* the final name */
	char *tmpname;		/* the named temporary, when O_TMPFILE is not available */
};

/* Open for writing (and reading). path "-" means standard output when
 * allow_stdout is set. An existing file at path is replaced at commit. */
int mkl_outfile_open(struct mkl_outfile *o, const char *path, bool allow_stdout,
		     struct mkl_err *err);
/* Give the complete file its name. */
int mkl_outfile_commit(struct mkl_outfile *o, struct mkl_err *err);
/* Fail when path names the same file as input (it would be replaced by
 * the output); 0 when either does not exist or is "-". */
int mkl_outfile_not_input(const char *path, const char *input, struct mkl_err *err);
/* Close; an uncommitted file disappears. Accepts a never-opened outfile. */
void mkl_outfile_close(struct mkl_outfile *o);

/* A scratch file, unnamed, in the directory of `near` (or $TMPDIR, /tmp). */
int mkl_scratch_open(const char *near, int *fd, struct mkl_err *err);
/* The same in directory dir; NULL: $TMPDIR, else /tmp. Where the directory
 * has no unnamed files, a name made and removed at once; where nothing can
 * be made in dir, $TMPDIR (or /tmp). */
int mkl_scratch_open_in(const char *dir, int *fd, struct mkl_err *err);

/* The directory part of a path ("." for a bare name); malloc'd. */
char *mkl_dir_of(const char *path);

/* Directories made whole before they get their name (mklive's cache): a
 * temporary directory is filled, then mkl_dir_commit puts it at path in
 * one step (a directory already there is swapped out and removed), so a
 * reader sees the old one or the new one, never half of either. */
/* mkdir -p: path and its missing parents, with mode. */
int mkl_mkdirs(const char *path, mode_t mode, struct mkl_err *err);
/* A new empty directory "DIR/.NAME-XXXXXX" beside path, for
 * mkl_dir_commit; malloc'd name in *tmp. */
int mkl_dir_temp(const char *path, char **tmp, struct mkl_err *err);
/* tmp takes path's place (see above). */
int mkl_dir_commit(const char *tmp, const char *path, struct mkl_err *err);
/* rm -rf path (never following symbolic links); 0 when it is not there. */
int mkl_remove_tree(const char *path, struct mkl_err *err);

#endif
