/* What the init's files take from util.c and modules.c, for the unit tests
 * and fuzz harnesses that compile parts of the init (src/init) with the
 * host's compiler: messages to stderr unless stub_quiet (the default: fuzz
 * harnesses stay quiet), a plain sfmt, no sysfs and no modules. Include
 * once, after the init's files. */
#ifndef MKL_TESTS_INIT_STUBS_H
#define MKL_TESTS_INIT_STUBS_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int log_level = MKL_ERR;
static int stub_quiet = 1;

void msg(int level, const char *fmt, ...)
{
	va_list ap;

	(void)level;
	if (stub_quiet)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "init: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

size_t sfmt(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n < 0 ? 0 : (size_t)n;
}

const char *errstr(int e)
{
	return strerror(e);
}

int read_attr(int dfd, const char *name, char *buf, size_t size)
{
	(void)dfd;
	(void)name;
	(void)buf;
	(void)size;
	return -1;
}

/* util.c's: the whole of an open file (closed here), NUL terminated */
char *read_fd(int fd)
{
	size_t len = 0, cap = 1 << 20;
	char *buf = fd < 0 ? NULL : malloc(cap + 1);
	ssize_t r = 0;

	while (buf && len < cap && (r = read(fd, buf + len, cap - len)) > 0)
		len += (size_t)r;
	if (buf && (r < 0 || len == cap)) {	/* a test's files are small */
		free(buf);
		buf = NULL;
	}
	if (buf)
		buf[len] = 0;
	if (fd >= 0)
		close(fd);
	return buf;
}

void mod_load_name(const char *name)
{
	(void)name;
}

#endif
