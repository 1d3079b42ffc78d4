#include "tree/err.h"

#undef mkl_error
#undef mkl_err_prefix

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int mkl_error(struct mkl_err *err, int errnum, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	err->code = errnum;
	n = strlen(err->msg);
	if (errnum && n + 3 < sizeof(err->msg)) {
		const char *e = strerror(errnum);

		size_t l = strlen(e);

		err->msg[n++] = ':';
		err->msg[n++] = ' ';
		if (l > sizeof(err->msg) - n - 1)
			l = sizeof(err->msg) - n - 1;
		memcpy(err->msg + n, e, l);
		err->msg[n + l] = '\0';
	}
	return -1;
}

int mkl_err_prefix(struct mkl_err *err, const char *fmt, ...)
{
	char buf[MKL_ERR_MAX];
	size_t n;
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	n = strlen(buf);
	if (n + 2 < sizeof(buf)) {
		size_t old = strnlen(err->msg, sizeof(err->msg) - 1);

		buf[n++] = ':';
		buf[n++] = ' ';
		if (old > sizeof(buf) - n - 1)
			old = sizeof(buf) - n - 1;
		memcpy(buf + n, err->msg, old);
		buf[n + old] = '\0';
	}
	memcpy(err->msg, buf, sizeof(buf));
	return -1;
}

void *mkl_malloc(size_t size, struct mkl_err *err)
{
	void *p = malloc(size ? size : 1);

	if (!p)
		mkl_error(err, ENOMEM, "out of memory (%zu bytes)", size);
	return p;
}

void *mkl_calloc(size_t n, size_t size, struct mkl_err *err)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		mkl_error(err, ENOMEM, "out of memory (%zu x %zu bytes)", n, size);
	return p;
}

char *mkl_strdup(const char *s, struct mkl_err *err)
{
	char *p = strdup(s);

	if (!p)
		mkl_error(err, ENOMEM, "out of memory");
	return p;
}

static volatile sig_atomic_t cancelled;
static int cancel_pipe[2] = { -1, -1 };

int mkl_in_list(const char *word, const char *list)
{
	size_t n = strlen(word);
	const char *p;

	if (!n || strpbrk(word, ", "))
		return 0;
	for (p = list; (p = strstr(p, word)); p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ',' || !p[n]))
			return 1;
	return 0;
}

int mkl_cancel_init(void)
{
	if (cancel_pipe[0] >= 0)
		return 0;
	return pipe2(cancel_pipe, O_CLOEXEC | O_NONBLOCK);
}

void mkl_cancel(void)
{
	int fd = cancel_pipe[1];

	cancelled = 1;
	if (fd >= 0) {
		/* Stays readable from now on; a full pipe is as good. */
		ssize_t r = write(fd, "x", 1);

		(void)r;
	}
}

int mkl_wait_fd(int fd, int for_write)
{
	struct pollfd p[2] = {
		{ .fd = fd, .events = for_write ? POLLOUT : POLLIN },
		{ .fd = cancel_pipe[0], .events = POLLIN },
	};

	for (;;) {
		if (cancelled) {
			errno = ECANCELED;
			return -1;
		}
		if (poll(p, cancel_pipe[0] >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 0;	/* let the read or write report */
		}
		if (p[0].revents)
			return 0;
	}
}

int mkl_cancelled(void)
{
	return cancelled != 0;
}
