/* mklive ext2: an ext2 image from a directory, a tar archive, or nothing
 * (an empty filesystem, e.g. a persistence image), with the library's own
 * writer on libext2fs (src/fmt/ext2.c). No root, no mounts, no mke2fs.
 * The image goes to an unnamed file beside the output that gets its name
 * only when complete: an error leaves no output file behind. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "fmt/ext2.h"
#include "source/source.h"
#include "tree/outfile.h"

static void ext2_usage(FILE *f)
{
	fprintf(f,
"Usage: mklive ext2 [OPTIONS] SOURCE -o IMAGE\n"
"       mklive ext2 [OPTIONS] --size BYTES [--empty] -o IMAGE\n"
"\n"
"Make an ext2 filesystem image holding SOURCE: a directory, or a tar archive\n"
"(.tar, .tar.gz, .tar.zst, .tar.xz, ...; '-' for standard input). Owners,\n"
"modes (setuid too), times, symbolic links, device nodes, fifos, hard links\n"
"and xattrs (security.*, trusted.*, user.*) come from SOURCE, so no root is\n"
"needed. Without SOURCE (or with --empty) the filesystem is empty but for\n"
"lost+found, e.g. for a persistence image.\n"
"\n"
"  -o, --output IMAGE     write the image here (required)\n"
"  -s, --size BYTES       the image's size (suffix K, M, G or KiB, MiB, GiB);\n"
"                         default: the content plus 5%% and 64 blocks, and\n"
"                         10%% + 16 spare inodes; required for an empty image\n"
"  -L, --label NAME       volume label, up to 16 bytes; default: none\n"
"  -b, --block-size N     1024, 2048 or 4096; default: 1024 below 512 MiB,\n"
"                         else 4096\n"
"  -N, --inodes N         at least this many inodes; default: one per 4 KiB\n"
"                         (1 KiB blocks) or 16 KiB of a given size, or the\n"
"                         content's count plus slack\n"
"      --empty            no SOURCE: an empty filesystem\n"
"  -v, --verbose          print a summary\n"
"  -h, --help             show this help\n"
"\n"
"The image is ext2 revision 1 with 256-byte inodes (ext_attr, dir_index,\n"
"filetype, sparse_super, large_file), no reserved blocks and no periodic\n"
"checks; all-zero blocks of files are left as holes. The same input gives\n"
"the same bytes: entries are laid out in sorted order, the UUID and hash\n"
"seed are derived from the input, the label and the size, and the\n"
"filesystem's times are SOURCE_DATE_EPOCH, or when unset the newest mtime\n"
"in SOURCE (1970-01-01 for an empty image). IMAGE is replaced only when\n"
"complete: on an error or Ctrl-C nothing is left.\n");
}

enum { OPT_EMPTY = 256 };

static const struct option ext2_opts[] = {
	{ "output", required_argument, NULL, 'o' },
	{ "size", required_argument, NULL, 's' },
	{ "label", required_argument, NULL, 'L' },
	{ "block-size", required_argument, NULL, 'b' },
	{ "inodes", required_argument, NULL, 'N' },
	{ "empty", no_argument, NULL, OPT_EMPTY },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cmd_ext2(int argc, char **argv)
{
	struct mkl_ext2_opts o = { .time = -1 };
	struct mkl_ext2_stats st;
	struct mkl_err err = { 0 };
	struct mkl_outfile out = { .fd = -1 };
	struct mkl_source *src = NULL;
	const char *output = NULL, *source = NULL;
	int c, empty = 0, verbose = 0, rc = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:s:L:b:N:vh", ext2_opts, NULL)) != -1) {
		switch (c) {
		case 'o': output = optarg; break;
		case 's':
			o.size = cli_size("--size", optarg, 0, 0, NULL);
			break;
		case 'L':
			if (mkl_ext2_check_label(optarg, &err))
				die_usage("--label: %s", err.msg);
			o.label = optarg;
			break;
		case 'b':
			o.block_size = (uint32_t)cli_number("--block-size", optarg, 1024, 4096);
			if (o.block_size != 1024 && o.block_size != 2048 && o.block_size != 4096)
				die_usage("--block-size: '%s' is not 1024, 2048 or 4096", optarg);
			break;
		case 'N': o.inodes = (uint32_t)cli_number("--inodes", optarg, 16, 0x7fffffff); break;
		case OPT_EMPTY: empty = 1; break;
		case 'v': verbose = 1; break;
		case 'h': ext2_usage(stdout); return 0;
		default: fprintf(stderr, "Try '%s --help' for more information.\n", prog); return 2;
		}
	}
	if (argc - optind > 1)
		die_usage("more than one SOURCE given");
	if (optind < argc)
		source = argv[optind];
	if (empty && source)
		die_usage("--empty and a SOURCE do not go together");
	if (!output)
		die_usage("no output given (-o IMAGE)");
	if (!source && !o.size)
		die_usage("an empty image needs --size");

	/* Unset: the newest mtime of the input. */
	if (cli_source_date(&o.time) < 0)
		return 2;
	o.scratch_near = output;

	cli_catch_signals();
	if (source && mkl_source_open(source, &src, &err))
		goto out;
	if (mkl_outfile_not_input(output, source, &err) ||
	    mkl_outfile_open(&out, output, false, &err))
		goto out;
	if (mkl_ext2_write(out.fd, &o, src, &st, &err)) {
		mkl_err_prefix(&err, "'%s'", output);
		goto out;
	}
	if (mkl_outfile_commit(&out, &err))
		goto out;
	if (verbose) {
		fprintf(stderr, "%s: %s: %" PRIu64 " bytes, %" PRIu64 " blocks of %" PRIu32 " (%" PRIu64
			" free), %" PRIu32 " inodes (%" PRIu32 " free), %" PRIu64 " names\n", prog, output,
			st.bytes, st.blocks, st.block_size, st.free_blocks, st.inodes, st.free_inodes,
			st.files);
	}
	rc = 0;
out:
	mkl_outfile_close(&out);
	mkl_source_close(src);
	return rc ? cli_report(&err) : 0;
}
