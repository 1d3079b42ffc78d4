/* mmdebstrap's command line for a recipe, and the string helpers it and
 * recipe.c share (recipe_argv.c). Internal to src/source/. */
#ifndef MKLIVE_SOURCE_RECIPE_ARGV_H
#define MKLIVE_SOURCE_RECIPE_ARGV_H

#include <stddef.h>

#include "source/recipe.h"

/* The line the setup hook of recipe_make_argv prints on standard error:
 * the directory mmdebstrap installs into, the same path outside its
 * namespaces (recipe.c reads it). */
#define TREE_MARK "mklive: installing into "

/* The next word of *s (separated by spaces, tabs, newlines or commas):
 * its length, with *word at it and *s past it; 0 at the end. */
size_t recipe_next_word(const char **s, const char **word);
/* A formatted string (malloc'ed), or NULL when out of memory. */
char *recipe_fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
/* What argv prints (standard output and error), NUL-terminated, or NULL. */
char *recipe_capture(const char *const argv[]);
void recipe_argv_free(char **argv);
/* mmdebstrap's command line (NULL-terminated, for recipe_argv_free), and
 * the recipe's package cache directory in *dir_out (NULL when it has
 * none); NULL with err set on failure. */
char **recipe_make_argv(const struct mkl_recipe *r, char **dir_out, struct mkl_err *err);

#endif
