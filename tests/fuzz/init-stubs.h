/* What the init's files take from util.c and modules.c, for harnesses that
 * compile parts of the init (src/init) with the host's compiler: quiet
 * messages, a plain sfmt, no sysfs and no modules. Include once, after the
 * init's files. */
#ifndef MKL_FUZZ_INIT_STUBS_H
#define MKL_FUZZ_INIT_STUBS_H

#include <stdarg.h>
#include <stdio.h>

int log_level = MKL_ERR;

void msg(int level, const char *fmt, ...)
{
	(void)level;
	(void)fmt;
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

int read_attr(int dfd, const char *name, char *buf, size_t size)
{
	(void)dfd;
	(void)name;
	(void)buf;
	(void)size;
	return -1;
}

void mod_load_name(const char *name)
{
	(void)name;
}

#endif
