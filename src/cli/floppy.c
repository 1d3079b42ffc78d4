/* mklive floppy: the legacy boot floppy (src/fmt/floppy.h) — a 1.44 MB
 * FAT12 image that boots a small kernel and initrd with our own loader.
 * Usable alone (qemu -fda, or dd to a real floppy) and, with mklive build
 * --floppy, as an El Torito floppy-emulation entry. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "fmt/fat.h"
#include "fmt/floppy.h"
#include "tree/io.h"
#include "tree/outfile.h"

static void floppy_usage(FILE *f)
{
	fprintf(f,
"Usage: mklive floppy KERNEL -o IMAGE [--initrd FILE] [--append TEXT] [--label NAME]\n"
"\n"
"Make a 1.44 MB boot floppy image (FAT12) that starts KERNEL, an x86 Linux\n"
"bzImage, with its own small loader: the boot floppy of the live CDs of old.\n"
"Legacy: it needs a kernel of about a megabyte (Debian's are 8 MB), and BIOS.\n"
"\n"
"  -o, --output IMAGE   write the image here (required)\n"
"  -i, --initrd FILE    load FILE as the initrd\n"
"  -a, --append TEXT    kernel command line (at most %d bytes)\n"
"  -L, --label NAME     volume label (default MKLIVE)\n"
"  -h, --help           show this help\n"
"\n"
"The floppy holds the loader in its reserved sectors and the files vmlinuz\n"
"and initrd.img, which the loader finds by their sector numbers: a floppy\n"
"whose files were changed afterwards must be written again. Try it with\n"
"  qemu-system-x86_64 -fda IMAGE\n"
"Time stamps and the volume serial come from SOURCE_DATE_EPOCH (or now).\n",
		MKL_FLOPPY_CMDLINE_MAX);
}

static const struct option floppy_opts[] = {
	{ "output", required_argument, NULL, 'o' },
	{ "initrd", required_argument, NULL, 'i' },
	{ "append", required_argument, NULL, 'a' },
	{ "label", required_argument, NULL, 'L' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Read a whole file of at most max bytes. */
static int slurp(const char *path, uint64_t max, struct mkl_buf *out, struct mkl_err *err)
{
	struct stat st;

	if (stat(path, &st))
		return mkl_error(err, errno, "cannot open '%s'", path);
	if (!S_ISREG(st.st_mode))
		return mkl_error(err, 0, "'%s' is not a regular file", path);
	if ((uint64_t)st.st_size > max)
		return mkl_error(err, 0, "'%s' has %lld bytes; a 1.44 MB floppy holds %llu for the "
				 "kernel and initrd", path, (long long)st.st_size, (unsigned long long)max);
	if (mkl_read_file(path, out, false, err))
		return -1;
	if (out->len > max)	/* it grew since the stat */
		return mkl_error(err, 0, "'%s' has %zu bytes; a 1.44 MB floppy holds %llu for the "
				 "kernel and initrd", path, out->len, (unsigned long long)max);
	return 0;
}

int cmd_floppy(int argc, char **argv)
{
	struct mkl_floppy_opts o = { 0 };
	struct mkl_err err = { 0 };
	struct mkl_outfile out = { .fd = -1 };
	const char *output = NULL, *initrd = NULL;
	struct mkl_buf kdata = { 0 }, idata = { 0 };
	char label[12];
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "o:i:a:L:h", floppy_opts, NULL)) != -1) {
		switch (c) {
		case 'o': output = optarg; break;
		case 'i': initrd = optarg; break;
		case 'a':
			if (strlen(optarg) > MKL_FLOPPY_CMDLINE_MAX)
				die_usage("--append: %zu bytes; the floppy holds %d", strlen(optarg),
					  MKL_FLOPPY_CMDLINE_MAX);
			o.cmdline = optarg;
			break;
		case 'L':
			o.label = cli_fat_label("--label", optarg, label);
			break;
		case 'h': floppy_usage(stdout); return 0;
		default: fprintf(stderr, "Try '%s --help' for more information.\n", prog); return 2;
		}
	}
	if (optind + 1 != argc)
		die_usage(optind >= argc ? "no KERNEL given" : "more than one KERNEL given");
	if (!output)
		die_usage("no output given (-o IMAGE)");
	if (o.label && mkl_fat_check_label(o.label, &err))
		return cli_report(&err);
	if (cli_time(&o.time))
		return 2;
	o.serial = cli_serial(o.time);

	if (slurp(argv[optind], mkl_floppy_capacity(), &kdata, &err) ||
	    (initrd && slurp(initrd, mkl_floppy_capacity(), &idata, &err)))
		goto out;
	o.kernel = kdata.data;
	o.kernel_size = kdata.len;
	o.initrd = idata.data;
	o.initrd_size = idata.len;
	if (mkl_floppy_check_kernel(o.kernel, o.kernel_size, argv[optind], &err))
		goto out;
	cli_catch_signals();
	if (mkl_outfile_not_input(output, argv[optind], &err) ||
	    mkl_outfile_not_input(output, initrd, &err) ||
	    mkl_outfile_open(&out, output, false, &err))
		goto out;
	if (mkl_floppy_write(out.fd, &o, &err) || mkl_outfile_commit(&out, &err)) {
		mkl_err_prefix(&err, "%s", output);
		goto out;
	}
	rc = 0;
out:
	if (rc)
		rc = cli_report(&err);
	mkl_outfile_close(&out);
	mkl_buf_free(&kdata);
	mkl_buf_free(&idata);
	return rc;
}
