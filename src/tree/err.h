/* The error type every layer shares.
 *
 * Library functions never print and never exit. On failure they fill a
 * struct mkl_err with a lowercase message naming what failed and on what
 * path ("cannot open 'x': No such file or directory") and return -1 (or NULL).
 * The command prints err.msg once. Callers that add context use
 * mkl_err_prefix() so the message reads outermost-first.
 */
#ifndef MKL_ERR_H
#define MKL_ERR_H

#include <stddef.h>

#define MKL_ERR_MAX 1024

struct mkl_err {
	int code;		/* errno value when one applies, else 0 */
	char msg[MKL_ERR_MAX];
};

/* Set the error (printf-style) and return -1. errnum may be 0; when it is
 * not, ": strerror(errnum)" is appended. */
int mkl_error(struct mkl_err *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prepend context: "building squashfs: <old message>". Returns -1. */
int mkl_err_prefix(struct mkl_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#ifdef __clang_analyzer__
/* For clang-tidy's analyzer, which sees one file at a time: these two
 * always return -1 (err.c undoes this to define them). */
#define mkl_error(...) ({ mkl_error(__VA_ARGS__); -1; })
#define mkl_err_prefix(...) ({ mkl_err_prefix(__VA_ARGS__); -1; })
#endif

/* Allocation helpers that report failure through err. */
void *mkl_malloc(size_t size, struct mkl_err *err);
void *mkl_calloc(size_t n, size_t size, struct mkl_err *err);
char *mkl_strdup(const char *s, struct mkl_err *err);

/* Is word one of the names in list ("a, b, c")? Choices of options and
 * formats are written as such lists. */
int mkl_in_list(const char *word, const char *list);

/* Cancellation: set from a signal handler by the command (SIGINT/SIGTERM);
 * long-running library loops poll mkl_cancelled() and fail with ECANCELED.
 * mkl_cancel() is async-signal-safe. */
void mkl_cancel(void);
int mkl_cancelled(void);

/* Make the wake-up of mkl_wait_fd(): a pipe that mkl_cancel() writes to.
 * Call it before the handler may run; 0, or -1 with errno. Without it
 * mkl_wait_fd() waits for fd alone. */
int mkl_cancel_init(void);

/* Wait until fd can be read (for_write 0) or written (1) without blocking,
 * or until mkl_cancel(), whichever thread's signal handler calls it and
 * whenever: before the wait began too. Input that stalls (a pipe whose
 * writer stopped) can then still be cancelled; a check of mkl_cancelled()
 * followed by a blocking read() misses a signal that comes between them.
 * 0 (fd ready, or at end or in error: the read or write says which), or -1
 * with errno ECANCELED. */
int mkl_wait_fd(int fd, int for_write);

/* Byte streams shared by the formats: a reader returns the number of bytes
 * read, 0 at end, -1 on error (err set); a sink returns 0 or -1. */
typedef long (*mkl_read_fn)(void *ctx, void *buf, size_t len, struct mkl_err *err);
typedef int (*mkl_sink_fn)(void *ctx, const void *buf, size_t len, struct mkl_err *err);

#endif
