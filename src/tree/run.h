/* Child processes, run with their output captured.
 *
 * The library never prints, so what a program it runs says (apt-get,
 * dpkg) is kept: nothing reaches the terminal, and when the program fails
 * its last words go into the error ("'apt-get download x' failed (exit
 * status 100): E: Unable to locate package x"). Standard input is
 * /dev/null. A cancelled run (mkl_cancel) stops the child with SIGTERM.
 */
#ifndef MKL_RUN_H
#define MKL_RUN_H

#include "tree/err.h"
#include "tree/io.h"

/* Run argv[0] (looked up in PATH) with argv, in directory cwd (NULL: ours).
 * Its standard output and error, together, are appended to out when out is
 * not NULL (at most MKL_RUN_KEEP bytes of them; the rest is read and
 * dropped). 0 when it exits with status 0; -1 otherwise, with err naming
 * the command, how it ended and the end of what it said. */
int mkl_run(const char *const argv[], const char *cwd, struct mkl_buf *out, struct mkl_err *err);

#define MKL_RUN_KEEP (1u << 20)

#endif
