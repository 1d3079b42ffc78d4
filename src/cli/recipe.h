/* mklive build -c FILE with [recipe] and no SOURCE (cli/recipe.c). */
#ifndef MKL_CLI_RECIPE_H
#define MKL_CLI_RECIPE_H

#include "cli/config.h"
#include "source/recipe.h"

struct cli_recipe {
	struct mkl_recipe r;
	char *include, *hooks, *cache;	/* r's paths, owned here */
};

/* 1 when any [recipe] key was given. */
int cli_recipe_given(const struct mkl_config *s);
/* The recipe of s (merged settings; s->config the file it came from). */
int cli_recipe_opts(const struct mkl_config *s, int refresh, struct cli_recipe *cr, struct mkl_err *err);
void cli_recipe_free(struct cli_recipe *cr);

#endif
