/* The commands of mklive(1): main.c parses the command word and calls one
 * of these with argv[0] = the command word. Each returns the exit status:
 * 0 success, 1 failure (message printed once), 2 usage error. */
#ifndef MKL_CLI_H
#define MKL_CLI_H

#include <stdint.h>

extern const char *prog;	/* "mklive build", for messages */

/* Print "PROG: message" and a hint to --help, exit 2. */
void die_usage(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

struct mkl_err;

/* A number option from lo to hi, else a usage error naming the option. */
long cli_number(const char *opt, const char *text, long lo, long hi);
/* The size grammar of every command and of mklive.conf: bytes, or a number
 * with K, M or G (any case), or KiB, MiB or GiB: all binary (K = KiB =
 * 1024). "131072", "128K", "1MiB" -> bytes; errors name the text. */
int mkl_parse_size(const char *text, uint64_t *out, struct mkl_err *err);
/* A size option, else a usage error naming the option: from 1 (0 when
 * zero_ok) to max bytes (0: no limit; above it, "larger than MAX_TEXT"). */
uint64_t cli_size(const char *opt, const char *text, int zero_ok, uint64_t max, const char *max_text);
/* SIGINT/SIGTERM/SIGHUP cancel the library's work (mkl_cancel); SIGPIPE ignored. */
void cli_catch_signals(void);
/* Print a failure once ("interrupted" when a signal caused it); the exit code. */
int cli_report(const struct mkl_err *err);

/* SOURCE_DATE_EPOCH, or now; -1 (message printed) when it is not a number. */
int cli_time(int64_t *t);
/* SOURCE_DATE_EPOCH: 0 and *t set, 1 when unset or empty, -1 (message
 * printed) when it is not a number. */
int cli_source_date(int64_t *t);
/* A FAT volume label option, upper-cased into out; a usage error when it
 * is longer than 11 characters (the characters are the writer's to check). */
const char *cli_fat_label(const char *opt, const char *text, char out[12]);
/* A FAT volume serial derived from a time. */
uint32_t cli_serial(int64_t t);

int cmd_build(int argc, char **argv);	/* main.c */
int cmd_cloop(int argc, char **argv);	/* cloop.c */
int cmd_ext2(int argc, char **argv);	/* ext2.c */
int cmd_fat(int argc, char **argv);	/* fat.c */
int cmd_fetch_efi(int argc, char **argv);	/* fetch.c */
int cmd_floppy(int argc, char **argv);	/* floppy.c */
int cmd_test(int argc, char **argv);	/* test.c */
int cmd_verify(int argc, char **argv);	/* verify.c */

#endif
