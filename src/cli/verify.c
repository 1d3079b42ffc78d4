/* mklive verify: check a medium (an ISO image, or the device it was
 * written to) against the checksums its build recorded; see
 * src/pipeline/verify.h. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "pipeline/verify.h"
#include "cli/cli.h"

static void verify_usage(FILE *f)
{
	fprintf(f,
"Usage: mklive verify [-v] IMAGE\n"
"\n"
"Check a live medium made by mklive build: read every file its build listed\n"
"in /sha256sum.txt and compare its SHA-256. IMAGE is the ISO file, or the\n"
"CD or USB stick it was written to (e.g. /dev/sr0, /dev/sdb).\n"
"\n"
"  -v, --verbose   name every file checked, not only the damaged ones\n"
"  -h, --help      show this help\n"
"\n"
"Exit status: 0 every file matches, 1 damaged or unreadable (each such file\n"
"is named), 2 usage. On the booted system the boot option mklive.verify\n"
"does the same check before the medium is used.\n");
}

static const struct option verify_opts[] = {
	{ "verbose", no_argument, NULL, 'v' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
};

struct report {
	const char *image;
	int verbose;
};

static void on_file(void *ctx, const char *path, enum mkl_verify_status st)
{
	const struct report *r = ctx;

	if (st != MKL_VERIFY_OK || r->verbose)
		printf("%s: ./%s: %s\n", r->image, path, mkl_verify_status_text(st));
}

int cmd_verify(int argc, char **argv)
{
	struct report r = { 0 };
	struct mkl_verify_result res;
	struct mkl_err err = { 0 };
	int c;

	while ((c = getopt_long(argc, argv, "vh", verify_opts, NULL)) != -1) {
		switch (c) {
		case 'v': r.verbose = 1; break;
		case 'h': verify_usage(stdout); return 0;
		default: fprintf(stderr, "Try '%s --help' for more information.\n", prog); return 2;
		}
	}
	if (optind + 1 != argc)
		die_usage(optind >= argc ? "no IMAGE given" : "more than one IMAGE given");
	r.image = argv[optind];
	cli_catch_signals();
	if (mkl_verify_iso(r.image, on_file, &r, &res, &err))
		return cli_report(&err);
	if (res.bad) {
		printf("%s: %zu of %zu files damaged or unreadable: the medium is not whole; write the "
		       "image again (or use another medium)\n", r.image, res.bad, res.files);
		return 1;
	}
	printf("%s: all %zu files match their checksums (%.1f MB read)\n", r.image, res.files,
	       (double)res.bytes / 1e6);
	return 0;
}
