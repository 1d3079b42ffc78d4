/* The build's options: one table (options.c, mkl_options[]) where each row
 * is one setting — its long and short flag, its mklive.conf section and
 * key, its kind, choices and range, its default and its help. The command
 * line parser (main.c), mklive.conf (config.c), `mklive build --help` and
 * `mklive options` (which tests/cli/docs.sh checks the manual pages
 * against) all read it. A new option is a row here and a field of struct
 * mkl_config (config.h); a new mklive.conf section is a name in
 * mkl_sections[].
 */
#ifndef MKL_OPTIONS_H
#define MKL_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

#include "cli/config.h"

enum mkl_opt_kind {
	MKL_OPT_STR,		/* any text */
	MKL_OPT_NUM,		/* an integer from min to max */
	MKL_OPT_SIZE,		/* bytes, with K/M/G or KiB/MiB/GiB; uint32_t field */
	MKL_OPT_LABEL,		/* 1-32 of A-Z 0-9 _ - */
	MKL_OPT_CHOICE,		/* one of choices */
	MKL_OPT_FORMAT,		/* an image format: a row of the registry (pipeline/image.h) */
	MKL_OPT_VERBOSITY,	/* -q/-v: no argument, sets the verbosity to min */
	MKL_OPT_HELP,		/* --help */
	MKL_OPT_LIVE,		/* [live]: a value of kind min of fmt/live.h (user name, ...) */
};

/* Row flags. */
#define MKL_OPT_LATE 1u	/* on the command line the value is only read: the build
			 * checks it, as it depends on other settings (the format) */
#define MKL_OPT_BLOCK 2u	/* SIZE: in mklive.conf a power of two from 4K to 1M */
#define MKL_OPT_PATH 4u		/* STR: a file; in mklive.conf relative to the file's directory */

struct mkl_option {
	const char *name;	/* --NAME; NULL: mklive.conf only */
	char short_name;	/* -X, or 0 */
	const char *section;	/* mklive.conf: [section] ... */
	const char *key;	/* ... key = value; NULL: command line only */
	enum mkl_opt_kind kind;
	const char *choices;	/* CHOICE: "a, b, c" */
	int min, max;		/* NUM (VERBOSITY: the level it sets) */
	const char *set;	/* a flag without argument: the value it gives */
	const char *def;	/* the default, as a value; NULL: none (or the format's) */
	const char *arg;	/* --help: the argument's name */
	const char *help;	/* --help: what it is; '\n' breaks lines */
	size_t off;		/* its field in struct mkl_config */
	unsigned flags;
};

extern const struct mkl_option mkl_options[];	/* ended by a row with kind 0 and no name/key */
extern const size_t mkl_noptions;
extern const char *const mkl_sections[];	/* NULL-terminated */

/* Set option o in cfg from text: from mklive.conf (cli 0; errors "key: ...")
 * or the command line (cli 1; errors "--name: ..."). 0 or -1 (err set). */
int mkl_option_set(struct mkl_config *cfg, const struct mkl_option *o, const char *text, int cli,
		   struct mkl_err *err);
/* Every option the command line (cli) did not set: from the file's (may be
 * NULL) where it is set there, else its default. The file's values are
 * moved, not copied. */
int mkl_options_merge(struct mkl_config *cli, struct mkl_config *file, struct mkl_err *err);
/* The MKL_OPT_PATH values of a parsed mklive.conf made relative to its
 * directory (absolute ones stay). 0, or -1 (out of memory). */
int mkl_options_paths(struct mkl_config *file, const char *config, struct mkl_err *err);
/* The options part of `mklive build --help`. */
void mkl_options_help(FILE *f);
/* `mklive options`: one line per option (flags, section, key, kind,
 * choices, default), tab-separated. */
void mkl_options_print(FILE *f);

#endif
