/* mklive fetch-efi: Debian's signed shim and GRUB into mklive's cache,
 * where mklive build finds them (src/pipeline/efi.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "pipeline/cache.h"
#include "pipeline/efi.h"

static void fetch_usage(FILE *f)
{
	fprintf(f,
"Usage: mklive fetch-efi [--refresh] [-q]\n"
"\n"
"Download Debian's signed shim and GRUB (the packages " MKL_EFI_SHIM_PKG " and\n"
MKL_EFI_GRUB_PKG ") into mklive's cache, where mklive build finds them\n"
"when the host does not have them installed: the image then boots UEFI,\n"
"Secure Boot included; and, for images signed with your key (--sign-key),\n"
"systemd's EFI stub and systemd-boot (" MKL_EFI_SDBOOT_PKG ") and shim's MokManager\n"
"(" MKL_EFI_MOKMANAGER_PKG "). Runs 'apt-get download' and 'dpkg -x': no\n"
"root needed, nothing is installed; the host's apt sources and package\n"
"lists choose the version. Only these files are used, so no other\n"
"package is fetched.\n"
"\n"
"  --refresh       download them again even when the cache holds them\n"
"                  (after a Debian point release, or 'apt-get update')\n"
"  -q, --quiet     print only the directory\n"
"  -h, --help      show this help\n"
"\n"
"The directory the files are in (an --efi-root for mklive build) is printed\n"
"on standard output; what was done, on standard error. The cache is\n"
"$MKLIVE_CACHE, else $XDG_CACHE_HOME/mklive, else ~/.cache/mklive; the\n"
"files go to its " MKL_CACHE_EFI "/ directory, the packages they came from to " MKL_CACHE_EFI "/debs/.\n"
"Exit status: 0 the cache holds them, 1 failure (what failed is said), 2 usage.\n");
}

static const struct option fetch_opts[] = {
	{ "refresh", no_argument, NULL, 'r' }, { "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
};

int cmd_fetch_efi(int argc, char **argv)
{
	struct mkl_efi_fetched res = { 0 };
	struct mkl_err err = { 0 };
	char *cache;
	int c, refresh = 0, quiet = 0, rc;

	while ((c = getopt_long(argc, argv, "qh", fetch_opts, NULL)) != -1) {
		switch (c) {
		case 'r': refresh = 1; break;
		case 'q': quiet = 1; break;
		case 'h': fetch_usage(stdout); return 0;
		default: fprintf(stderr, "Try '%s --help' for more information.\n", prog); return 2;
		}
	}
	if (optind != argc)
		die_usage("takes no arguments ('%s')", argv[optind]);
	cache = mkl_cache_dir(&err);
	if (!cache)
		return cli_report(&err);
	cli_catch_signals();
	rc = mkl_efi_fetch(cache, refresh, &res, &err);
	if (rc) {
		rc = cli_report(&err);
	} else {
		if (!quiet)
			fprintf(stderr, "%s: %s and %s %s %s\n", prog, res.shim[0] ? res.shim : MKL_EFI_SHIM_PKG,
				res.grub[0] ? res.grub : MKL_EFI_GRUB_PKG,
				res.downloaded ? "unpacked into" : "already in (--refresh downloads them again)",
				res.dir);
		printf("%s\n", res.dir);
	}
	mkl_efi_fetched_free(&res);
	free(cache);
	return rc;
}
