/* Where mklive's cache is (see cache.h). */
#include "pipeline/cache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

char *mkl_cache_dir(struct mkl_err *err)
{
	const char *v;
	char *dir = NULL;
	int n;

	if ((v = env("MKLIVE_CACHE")))
		n = asprintf(&dir, "%s", v);
	else if ((v = env("XDG_CACHE_HOME")))
		n = asprintf(&dir, "%s/mklive", v);
	else if ((v = env("HOME")))
		n = asprintf(&dir, "%s/.cache/mklive", v);
	else {
		mkl_error(err, 0, "mklive has no cache: none of MKLIVE_CACHE, XDG_CACHE_HOME and HOME is set");
		return NULL;
	}
	if (n < 0) {
		mkl_error(err, ENOMEM, "out of memory");
		return NULL;
	}
	return dir;
}

char *mkl_cache_path(const char *cache, const char *name, struct mkl_err *err)
{
	char *p;

	if (asprintf(&p, "%s/%s", cache, name) < 0) {
		mkl_error(err, ENOMEM, "out of memory");
		return NULL;
	}
	return p;
}
