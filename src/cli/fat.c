/* mklive fat: a FAT12/16 image (an EFI system partition, or a 1.44 MB
 * floppy) from a directory, with the library's own writer (src/fmt/fat.c).
 * The image goes to an unnamed file beside the output that gets its name
 * only when complete: an error leaves no output file behind. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "tree/outfile.h"
#include "fmt/fat.h"

static void fat_usage(FILE *f)
{
	fprintf(f,
"Usage: mklive fat DIR -o IMAGE [--label NAME] [--size BYTES] [--floppy]\n"
"\n"
"Make a FAT12/FAT16 image (with long file names) holding the files under DIR,\n"
"as an EFI system partition for a live image. No root, no mtools, no mkfs.fat.\n"
"\n"
"  -o, --output IMAGE   write the image here (required)\n"
"  -L, --label NAME     volume label: up to 11 characters (made upper case);\n"
"                       default: none\n"
"  -s, --size BYTES     make the image at least this big (suffix K or M for\n"
"                       KiB or MiB; at most 32M); default: the content plus a\n"
"                       small margin\n"
"      --floppy         a 1.44 MB FAT12 floppy image (2880 sectors), for an\n"
"                       El Torito floppy-emulation boot entry (legacy)\n"
"  -h, --help           show this help\n"
"\n"
"The FAT type follows from the number of clusters (FAT12 below 4085, else\n"
"FAT16); the image is at most 32 MiB. Entries are sorted by name; every time\n"
"stamp is SOURCE_DATE_EPOCH (UTC; the current time when unset) and the volume\n"
"serial is derived from it, so the same DIR gives the same image. Names that\n"
"are upper-case 8.3 are stored as short names, lower-case 8.3 names with the\n"
"NT case bits, all others as long names. FAT ignores case: two names that\n"
"differ only in case are an error, as are names with \" * : < > ? \\ | or\n"
"control characters, and symbolic links to directories.\n");
}

static const struct option fat_opts[] = {
	{ "output", required_argument, NULL, 'o' },
	{ "label", required_argument, NULL, 'L' },
	{ "size", required_argument, NULL, 's' },
	{ "floppy", no_argument, NULL, 'F' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void fat_on_signal(int sig)
{
	/* mkl_cancel() only stores to a volatile sig_atomic_t (src/tree/err.c). */
	mkl_cancel();	/* NOLINT(bugprone-signal-handler) */
}

static uint64_t parse_size(const char *text)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno || end == text || text[0] == '-')
		die_usage("--size: '%s' is not a size in bytes", text);
	if (!strcmp(end, "K") || !strcmp(end, "k") || !strcmp(end, "KiB"))
		mul = 1024;
	else if (!strcmp(end, "M") || !strcmp(end, "MiB"))
		mul = 1024 * 1024;
	else if (*end)
		die_usage("--size: '%s' is not a size in bytes (suffix K or M allowed)", text);
	if (v > (uint64_t)MKL_FAT_MAX_SIZE / mul)
		die_usage("--size: %s is larger than 32 MiB", text);
	return v * mul;
}

int cmd_fat(int argc, char **argv)
{
	struct mkl_fat_opts o = { 0 };
	struct mkl_fat_file *files = NULL;
	struct mkl_err err = { 0 };
	const char *output = NULL, *dir;
	char label[12];
	struct mkl_outfile out = { .fd = -1 };
	size_t n = 0;
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "o:L:s:h", fat_opts, NULL)) != -1) {
		switch (c) {
		case 'o': output = optarg; break;
		case 'L':
			o.label = cli_fat_label("--label", optarg, label);
			break;
		case 's': o.min_size = parse_size(optarg); break;
		case 'F': o.floppy = 1; break;
		case 'h': fat_usage(stdout); return 0;
		default: fprintf(stderr, "Try '%s --help' for more information.\n", prog); return 2;
		}
	}
	if (optind + 1 != argc)
		die_usage(optind >= argc ? "no DIR given" : "more than one DIR given");
	if (!output)
		die_usage("no output given (-o IMAGE)");
	if (o.floppy && o.min_size)
		die_usage("--size and --floppy do not go together (a floppy is 1474560 bytes)");
	dir = argv[optind];
	if (o.label && mkl_fat_check_label(o.label, &err)) {
		fprintf(stderr, "%s: %s\n", prog, err.msg);
		return 1;
	}

	if (cli_time(&o.time))
		return 2;
	o.serial = cli_serial(o.time);

	if (mkl_fat_files_from_dir(dir, &files, &n, &err)) {
		fprintf(stderr, "%s: %s\n", prog, err.msg);
		return 1;
	}
	if (mkl_outfile_open(&out, output, false, &err)) {
		fprintf(stderr, "%s: %s\n", prog, err.msg);
		goto out;
	}
	signal(SIGINT, fat_on_signal);
	signal(SIGTERM, fat_on_signal);
	if (mkl_fat_write(out.fd, &o, files, n, &err))
		fprintf(stderr, "%s: %s: %s\n", prog, output, err.msg);
	else if (mkl_outfile_commit(&out, &err))
		fprintf(stderr, "%s: %s\n", prog, err.msg);
	else
		rc = 0;
out:
	mkl_outfile_close(&out);
	mkl_fat_files_free(files, n);
	return rc;
}
