/* The command line's side of a recipe (source/recipe.h): [recipe] from
 * mklive.conf into struct mkl_recipe, its paths taken relative to the
 * file's directory, the package cache under mklive's cache directory. */
#include "cli/recipe.h"
#include "cli/cli.h"
#include "cli/options.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/cache.h"
#include "tree/outfile.h"

int cli_recipe_given(const struct mkl_config *s)
{
	for (size_t i = 0; i < mkl_noptions; i++)
		if (mkl_options[i].section && !strcmp(mkl_options[i].section, "recipe") &&
		    (s->set & (1ull << i)))
			return 1;
	return 0;
}

/* PATH relative to dir (absolute paths stay). */
static int relative_to(const char *dir, const char *path, size_t len, char **out, size_t *out_len)
{
	int n;
	char *grown;

	if (!dir || path[0] == '/')
		n = snprintf(NULL, 0, "%.*s", (int)len, path);
	else
		n = snprintf(NULL, 0, "%s/%.*s", dir, (int)len, path);
	grown = realloc(*out, *out_len + (size_t)n + 2);
	if (!grown)
		return -1;
	*out = grown;
	if (*out_len)
		grown[(*out_len)++] = ' ';
	if (!dir || path[0] == '/')
		snprintf(grown + *out_len, (size_t)n + 1, "%.*s", (int)len, path);
	else
		snprintf(grown + *out_len, (size_t)n + 1, "%s/%.*s", dir, (int)len, path);
	*out_len += (size_t)n;
	return 0;
}

int cli_recipe_opts(const struct mkl_config *s, int refresh, struct cli_recipe *cr, struct mkl_err *err)
{
	char *dir = s->config ? mkl_dir_of(s->config) : NULL;
	const char *p = s->recipe.hooks;
	size_t len = 0;
	int rc = -1;

	memset(cr, 0, sizeof(*cr));
	if (s->config && !dir)
		goto oom;
	if (s->recipe.include) {
		size_t n = 0;

		if (relative_to(dir, s->recipe.include, strlen(s->recipe.include), &cr->include, &n))
			goto oom;
	}
	/* hooks: words separated by spaces or commas, each relative to dir */
	while (p && *p) {
		size_t n;

		p += strspn(p, " \t,");
		n = strcspn(p, " \t,");
		if (n && relative_to(dir, p, n, &cr->hooks, &len))
			goto oom;
		p += n;
	}
	{	/* the package cache: CACHE/packages (pipeline/cache.h) */
		char *cache = mkl_cache_dir(err);

		cr->cache = cache ? mkl_cache_path(cache, MKL_CACHE_PACKAGES, err) : NULL;
		free(cache);
		if (!cr->cache)
			goto out;
	}
	cr->r = (struct mkl_recipe){
		.suite = s->recipe.suite, .packages = s->recipe.packages,
		.components = s->recipe.components, .mirror = s->recipe.mirror,
		.architecture = s->recipe.architecture, .variant = s->recipe.variant,
		.include = cr->include, .hooks = cr->hooks, .cache = cr->cache, .refresh = refresh,
		.program = getenv("MKLIVE_MMDEBSTRAP"),
	};
	rc = 0;
	goto out;
oom:
	mkl_error(err, ENOMEM, "out of memory");
out:
	free(dir);
	return rc;
}

void cli_recipe_free(struct cli_recipe *cr)
{
	free(cr->include);
	free(cr->hooks);
	free(cr->cache);
	memset(cr, 0, sizeof(*cr));
}
