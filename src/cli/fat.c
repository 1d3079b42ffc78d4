/* mklive fat: a FAT12/16 image (an EFI system partition, or a 1.44 MB
 * floppy) from a directory or a tar (src/source), with the library's own
 * writer (src/fmt/fat.c).
 * The image goes to an unnamed file beside the output that gets its name
 * only when complete: an error leaves no output file behind. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "tree/outfile.h"
#include "fmt/fat.h"
#include "source/source.h"

static void fat_usage(FILE *f)
{
	fprintf(f,
"Usage: mklive fat DIR -o IMAGE [--label NAME] [--size BYTES] [--floppy]\n"
"\n"
"Make a FAT12/FAT16 image (with long file names) holding the files under DIR,\n"
"as an EFI system partition for a live image. DIR is a directory or a tar\n"
"archive (.tar, .tar.gz, .tar.zst, ...; '-' for standard input). No root, no\n"
"mtools, no mkfs.fat.\n"
"\n"
"  -o, --output IMAGE   write the image here (required)\n"
"  -L, --label NAME     volume label: up to 11 characters (made upper case);\n"
"                       default: none\n"
"  -s, --size BYTES     make the image at least this big (suffix K, M, G or\n"
"                       KiB, MiB, GiB; at most 32M); default: the content\n"
"                       plus a small margin\n"
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
"control characters, symbolic links to directories or to nothing (links are\n"
"resolved in the tree: a link to a file is stored as that file), devices,\n"
"fifos and sockets.\n");
}

static const struct option fat_opts[] = {
	{ "output", required_argument, NULL, 'o' },
	{ "label", required_argument, NULL, 'L' },
	{ "size", required_argument, NULL, 's' },
	{ "floppy", no_argument, NULL, 'F' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cmd_fat(int argc, char **argv)
{
	struct mkl_fat_opts o = { 0 };
	struct mkl_fat_input in = { 0 };
	struct mkl_err err = { 0 };
	struct mkl_source *src = NULL;
	const char *output = NULL, *source;
	char label[12];
	struct mkl_outfile out = { .fd = -1 };
	int c, rc = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:L:s:h", fat_opts, NULL)) != -1) {
		switch (c) {
		case 'o': output = optarg; break;
		case 'L':
			o.label = cli_fat_label("--label", optarg, label);
			break;
		case 's': o.min_size = cli_size("--size", optarg, 1, MKL_FAT_MAX_SIZE, "32 MiB"); break;
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
	source = argv[optind];
	if (o.label && mkl_fat_check_label(o.label, &err))
		return cli_report(&err);
	if (cli_time(&o.time))
		return 2;
	o.serial = cli_serial(o.time);

	cli_catch_signals();
	if (mkl_source_open(source, &src, &err) ||
	    mkl_fat_input_read(&in, src, source, output, &err) ||
	    mkl_outfile_not_input(output, source, &err) ||
	    mkl_outfile_open(&out, output, false, &err))
		goto out;
	if (mkl_fat_write(out.fd, &o, in.files, in.n, &err)) {
		mkl_err_prefix(&err, "%s", output);
		goto out;
	}
	if (mkl_outfile_commit(&out, &err))
		goto out;
	rc = 0;
out:
	mkl_outfile_close(&out);
	mkl_fat_input_free(&in);
	mkl_source_close(src);
	return rc ? cli_report(&err) : 0;
}
