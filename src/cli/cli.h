/* The commands of mklive(1): main.c parses the command word and calls one
 * of these with argv[0] = the command word. Each returns the exit status:
 * 0 success, 1 failure (message printed once), 2 usage error. */
#ifndef MKL_CLI_H
#define MKL_CLI_H

extern const char *prog;	/* "mklive build", for messages */

/* Print "PROG: message" and a hint to --help, exit 2. */
void die_usage(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

int cmd_build(int argc, char **argv);	/* main.c */
int cmd_cloop(int argc, char **argv);	/* cloop.c */
int cmd_fat(int argc, char **argv);	/* fat.c */
int cmd_test(int argc, char **argv);	/* test.c */

#endif
