/* mklive: the command. Parses options and the config file, calls the
 * library, reports progress and errors (once). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pipeline/build.h"
#include "cli/cli.h"
#include "cli/config.h"
#include "codec/codec.h"
#include "fmt/iso.h"
#include "fmt/squashfs.h"
#include "tree/outfile.h"

#ifndef MKLIVE_VERSION
#define MKLIVE_VERSION "0.1"
#endif
#ifndef MKLIVE_LIBEXECDIR
#define MKLIVE_LIBEXECDIR "/usr/local/lib/mklive"
#endif

static int verbosity = 1;	/* 0 -q, 1 normal, 2 -v */


static void usage(FILE *f)
{
	fprintf(f,
"Usage: mklive build [OPTIONS] SOURCE -o OUTPUT.iso\n"
"       mklive cloop create|extract|info ...   (see mklive cloop --help)\n"
"       mklive ext2 [SOURCE] -o IMAGE          ext2 image, e.g. for persistence\n"
"       mklive fat DIR -o ESP.img              (see mklive fat --help)\n"
"       mklive floppy KERNEL -o FLOPPY.img     legacy 1.44 MB boot floppy\n"
"       mklive test IMAGE.iso                  boot it in QEMU: BIOS/UEFI/Secure Boot,\n"
"                                              CD and USB (see mklive test --help)\n"
"       mklive verify IMAGE                    check a medium against its checksums\n"
"       mklive --help | --version\n"
"\n"
"Turn a Linux root tree into a bootable live CD/USB image. SOURCE is a\n"
"directory or a tar archive (.tar, .tar.gz, .tar.zst, .tar.xz, ...); owners,\n"
"modes, device nodes, links and xattrs come from it, so no root is needed.\n"
"The ISO boots from a CD and, written to a USB stick (dd), from the stick.\n"
"\n"
"Options for build:\n"
"  -o, --output FILE          the ISO to write (replaced only when complete)\n"
"  -c, --config FILE          read settings from FILE (see mklive.conf(5));\n"
"                             options given here override it\n"
"      --label NAME           volume label, 1-32 of A-Z 0-9 _ - (default MKLIVE)\n"
"      --append ARGS          extra kernel arguments for every boot entry,\n"
"                             e.g. --append 'console=ttyS0'\n"
"      --timeout SECONDS      boot menu waits this long, then boots (default 5)\n"
"      --compressor NAME      squashfs: zstd (default), xz, gzip, lz4\n"
"      --level N              compression level (default: the compressor's)\n"
"      --block-size BYTES     squashfs block size, 4K..1M (default 128K)\n"
"  -j, --threads N            compression threads (default: all cores)\n"
"      --initrd-compressor NAME  initramfs: zstd (default), gzip, xz, lz4, none\n"
"      --initrd-level N       initramfs compression level (zstd default 9)\n"
"      --initrd-format FORMAT cpio (default): an initramfs; ext2: the article's\n"
"                             initrd, a gzip'd ext2 image with /linuxrc, booted\n"
"                             with root=/dev/ram0; needs a kernel with the RAM\n"
"                             disk driver built in (Debian's has it as a module)\n"
"      --root-mode MODE       overlay (default): the image under a tmpfs overlay;\n"
"                             symlink: a tmpfs root with links to the read-only\n"
"                             directories in the image on /ro (the article's)\n"
"      --read-only DIRS       symlink mode: the read-only directories\n"
"                             (default '/usr /bin /sbin /lib /lib32 /lib64 /libx32 /opt')\n"
"      --image-format FORMAT  squashfs (default) or cloop (ISO 9660 payload in\n"
"                             cloop blocks; --compressor gzip (V2.0), xz, lz4, none)\n"
"      --uefi auto|yes|no     UEFI boot (and Secure Boot) with Debian's signed shim\n"
"                             and GRUB; auto (default): when they are installed\n"
"      --efi-root DIR         look for them under DIR (default /): DIR/usr/lib/shim/\n"
"                             shimx64.efi.signed, DIR/usr/lib/grub/x86_64-efi-signed/\n"
"                             gcdx64.efi.signed\n"
"      --media auto|yes|no    /media/list: install mklive-media (the autofs map,\n"
"                             a udev rule) into the image; auto (default): when\n"
"                             the tree has autofs\n"
"      --floppy               legacy: the BIOS boots a 1.44 MB floppy image (El\n"
"                             Torito floppy emulation) holding the kernel and\n"
"                             initramfs, as live CDs of old did; both must fit\n"
"                             in 1.45 MB; the image then boots from CD only\n"
"      --kernel FILE          kernel to boot (default: the tree's /boot/vmlinuz-*)\n"
"      --modules DIR          its modules, DIR = .../lib/modules/VERSION\n"
"                             (default: the tree's /lib/modules/VERSION)\n"
"      --init FILE            the mklive-init program (default: installed one)\n"
"      --isolinux-dir DIR     isolinux.bin, isohdpfx.bin (default /usr/lib/ISOLINUX)\n"
"      --syslinux-modules DIR ldlinux.c32, menu.c32, ... (default\n"
"                             /usr/lib/syslinux/modules/bios)\n"
"  -q, --quiet                print errors only\n"
"  -v, --verbose              explain each step\n"
"\n"
"With SOURCE_DATE_EPOCH set, two builds of the same input are byte-identical.\n"
"Try an image in QEMU before writing it to a stick:\n"
"  mklive test live.iso\n"
"Boot options of the live system are in mklive-init(7).\n");
}


/* Progress bar on a terminal: phase, bytes, rate, ETA; at most 10 updates/s. */
struct progress {
	struct timespec t0;	/* start of the build, for -v timings */
	int tty;
	struct timespec start, last;
	enum mkl_phase phase;
	int shown;
};

static double since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

static void human(char *out, size_t size, double bytes)
{
	const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int i = 0;

	while (bytes >= 1024 && i < 4) {
		bytes /= 1024;
		i++;
	}
	snprintf(out, size, i ? "%.1f %s" : "%.0f %s", bytes, unit[i]);
}

static void on_progress(void *ctx, enum mkl_phase phase, uint64_t done, uint64_t total)
{
	static const char *names[] = { "squashfs", "initramfs", "iso" };
	struct progress *p = ctx;
	char d[32], t[32], r[32], eta[32] = "";
	double el, rate;
	int width = 24, fill;

	if (!p->tty || verbosity == 0)
		return;
	if (phase != p->phase || !p->shown) {
		if (p->shown)
			fputc('\n', stderr);
		p->phase = phase;
		p->shown = 1;
		clock_gettime(CLOCK_MONOTONIC, &p->start);
		p->last.tv_sec = 0;
	} else if (since(&p->last) < 0.1 && done < total) {
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &p->last);
	el = since(&p->start);
	rate = el > 0 ? (double)done / el : 0;
	human(d, sizeof(d), (double)done);
	human(t, sizeof(t), (double)total);
	human(r, sizeof(r), rate);
	fill = total ? (int)((double)width * (double)done / (double)total) : 0;
	if (fill > width)
		fill = width;
	if (total && rate > 0 && done < total) {
		double left = (double)(total - done) / rate;

		snprintf(eta, sizeof(eta), "  ETA %d:%02d", (int)left / 60, (int)left % 60);
	}
	fprintf(stderr, "\r%-9s [%.*s%*s] %s / %s  %s/s%s\033[K", names[phase], fill,
		"########################", width - fill, "", d, t, r, eta);
}

static void on_note(void *ctx, const char *msg)
{
	struct progress *p = ctx;

	if (verbosity < 2)
		return;
	if (p->shown) {
		fputs("\r\033[K", stderr);
	}
	fprintf(stderr, "%s: [%6.2fs] %s\n", prog, since(&p->t0), msg);
}


/* Where a program of ours that goes into the image is (mklive-init,
 * mklive-media): beside this program (the build tree), then
 * BINDIR/../lib/mklive (an installed, possibly relocated, PREFIX), then the
 * LIBEXECDIR this was built for. */
static char *default_helper(const char *name)
{
	const char *const rel[] = { "", "../lib/mklive/" };
	char self[PATH_MAX], *slash, *p = NULL;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
				if (asprintf(&p, "%s/%s%s", self, rel[i], name) < 0)
					return NULL;
				if (access(p, R_OK) == 0)
					return p;
				free(p);
			}
		}
	}
	if (asprintf(&p, "%s/%s", MKLIVE_LIBEXECDIR, name) < 0)
		return NULL;
	return p;
}

enum {
	OPT_LABEL = 256, OPT_APPEND, OPT_TIMEOUT, OPT_COMPRESSOR, OPT_LEVEL, OPT_BLOCK_SIZE,
	OPT_INITRD_COMPRESSOR, OPT_INITRD_LEVEL, OPT_KERNEL, OPT_MODULES, OPT_INIT, OPT_ISOLINUX,
	OPT_SYSLINUX, OPT_VERSION, OPT_ROOT_MODE, OPT_IMAGE_FORMAT, OPT_READ_ONLY, OPT_UEFI,
	OPT_EFI_ROOT, OPT_FLOPPY, OPT_INITRD_FORMAT, OPT_MEDIA,
};

static const struct option build_opts[] = {
	{ "output", required_argument, NULL, 'o' },
	{ "config", required_argument, NULL, 'c' },
	{ "label", required_argument, NULL, OPT_LABEL },
	{ "append", required_argument, NULL, OPT_APPEND },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "compressor", required_argument, NULL, OPT_COMPRESSOR },
	{ "level", required_argument, NULL, OPT_LEVEL },
	{ "block-size", required_argument, NULL, OPT_BLOCK_SIZE },
	{ "threads", required_argument, NULL, 'j' },
	{ "initrd-compressor", required_argument, NULL, OPT_INITRD_COMPRESSOR },
	{ "initrd-level", required_argument, NULL, OPT_INITRD_LEVEL },
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "modules", required_argument, NULL, OPT_MODULES },
	{ "init", required_argument, NULL, OPT_INIT },
	{ "isolinux-dir", required_argument, NULL, OPT_ISOLINUX },
	{ "syslinux-modules", required_argument, NULL, OPT_SYSLINUX },
	{ "uefi", required_argument, NULL, OPT_UEFI },
	{ "efi-root", required_argument, NULL, OPT_EFI_ROOT },
	{ "floppy", no_argument, NULL, OPT_FLOPPY },
	{ "initrd-format", required_argument, NULL, OPT_INITRD_FORMAT },
	{ "media", required_argument, NULL, OPT_MEDIA },
	{ "root-mode", required_argument, NULL, OPT_ROOT_MODE },
	{ "image-format", required_argument, NULL, OPT_IMAGE_FORMAT },
	{ "read-only", required_argument, NULL, OPT_READ_ONLY },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cmd_build(int argc, char **argv)
{
	struct mkl_config cfg;
	struct mkl_build_opts o = { 0 };
	struct mkl_build_result res;
	struct mkl_err err = { 0 };
	struct progress prog_state = { 0 };
	const char *config = NULL;
	/* Command-line values; NULL / -1 means "not given". */
	const char *label = NULL, *append = NULL, *comp = NULL, *icomp = NULL;
	const char *root_mode = NULL, *image_format = NULL, *read_only = NULL;
	int level = -1, ilevel = -1, timeout = -1, threads = 0, floppy = 0, c;
	const char *iformat = NULL, *media = NULL, *uefi = NULL;
	char *media_default = NULL;
	uint64_t bs = 0;
	char *init_default = NULL;
	struct timespec t0;

	o.isolinux_dir = "/usr/lib/ISOLINUX";
	o.syslinux_modules = "/usr/lib/syslinux/modules/bios";
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:c:j:qvh", build_opts, NULL)) != -1) {
		switch (c) {
		case 'o': o.output = optarg; break;
		case 'c': config = optarg; break;
		case 'j': threads = (int)cli_number("--threads", optarg, 1, 1024); break;
		case 'q': verbosity = 0; break;
		case 'v': verbosity = 2; break;
		case 'h': usage(stdout); return 0;
		case OPT_LABEL: label = optarg; break;
		case OPT_APPEND: append = optarg; break;
		case OPT_TIMEOUT: timeout = (int)cli_number("--timeout", optarg, 0, 600); break;
		case OPT_COMPRESSOR: comp = optarg; break;
		case OPT_LEVEL: level = (int)cli_number("--level", optarg, 1, 22); break;
		case OPT_BLOCK_SIZE:
			if (mkl_parse_size(optarg, &bs, &err))
				die_usage("--block-size: %s", err.msg);
			break;
		case OPT_INITRD_COMPRESSOR: icomp = optarg; break;
		case OPT_INITRD_LEVEL: ilevel = (int)cli_number("--initrd-level", optarg, 0, 22); break;
		case OPT_KERNEL: o.kernel = optarg; break;
		case OPT_MODULES: o.modules = optarg; break;
		case OPT_INIT: o.init = optarg; break;
		case OPT_ISOLINUX: o.isolinux_dir = optarg; break;
		case OPT_SYSLINUX: o.syslinux_modules = optarg; break;
		case OPT_ROOT_MODE: root_mode = optarg; break;
		case OPT_FLOPPY: floppy = 1; break;
		case OPT_MEDIA:
			if (strcmp(optarg, "auto") && strcmp(optarg, "yes") && strcmp(optarg, "no"))
				die_usage("--media: unknown '%s' (auto, yes or no)", optarg);
			media = optarg;
			break;
		case OPT_INITRD_FORMAT:
			if (strcmp(optarg, "cpio") && strcmp(optarg, "ext2"))
				die_usage("--initrd-format: unknown '%s' (cpio or ext2)", optarg);
			iformat = optarg;
			break;
		case OPT_UEFI:
			if (strcmp(optarg, "auto") && strcmp(optarg, "yes") && strcmp(optarg, "no"))
				die_usage("--uefi: unknown '%s' (auto, yes or no)", optarg);
			uefi = optarg;
			break;
		case OPT_EFI_ROOT: o.efi_root = optarg; break;
		case OPT_IMAGE_FORMAT: image_format = optarg; break;
		case OPT_READ_ONLY: read_only = optarg; break;
		default: fprintf(stderr, "Try '%s --help' for more information.\n", prog); return 2;
		}
	}
	if (optind + 1 != argc)
		die_usage(optind >= argc ? "build: no SOURCE given" : "build: more than one SOURCE given");
	if (!o.output)
		die_usage("build: no output given (-o FILE.iso)");
	o.source = argv[optind];

	mkl_config_init(&cfg);
	if (config && mkl_config_load(&cfg, config, &err)) {
		fprintf(stderr, "%s: %s\n", prog, err.msg);
		mkl_config_free(&cfg);
		return 1;
	}
	o.label = label ? label : cfg.label;
	o.append = append ? append : cfg.append;
	o.timeout = timeout >= 0 ? timeout : cfg.timeout >= 0 ? cfg.timeout : 5;
	o.floppy = floppy || (cfg.floppy && !strcmp(cfg.floppy, "yes"));
	if (!uefi)
		uefi = cfg.uefi ? cfg.uefi : "auto";
	o.uefi = !strcmp(uefi, "yes") ? 1 : !strcmp(uefi, "no") ? 0 : -1;
	if (!media)
		media = cfg.media ? cfg.media : "auto";
	o.media = !strcmp(media, "yes") ? 1 : !strcmp(media, "no") ? 0 : -1;
	if (o.media)
		o.media_program = media_default = default_helper("mklive-media");
	o.sqfs.compressor = comp ? comp : cfg.compressor ? cfg.compressor : "zstd";
	o.sqfs.level = level > 0 ? level : cfg.level;
	o.sqfs.block_size = bs ? (uint32_t)bs : cfg.block_size;
	o.sqfs.threads = (unsigned)threads;
	if (bs > UINT32_MAX)
		die_usage("--block-size: %" PRIu64 " is too large", bs);
	if (!iformat)
		iformat = cfg.initrd_format ? cfg.initrd_format : "cpio";
	o.initrd_format = !strcmp(iformat, "ext2") ? MKL_INITRD_EXT2 : MKL_INITRD_CPIO;
	/* The article's initrd was gzip'd; an initramfs defaults to zstd. */
	if (mkl_codec_parse(icomp ? icomp : cfg.initrd_compressor ? cfg.initrd_compressor :
			    o.initrd_format == MKL_INITRD_EXT2 ? "gzip" : "zstd",
			    &o.initrd_codec, &err) ||
	    ((ilevel > 0 || cfg.initrd_level > 0) &&
	     mkl_codec_check_level(o.initrd_codec, ilevel > 0 ? ilevel : cfg.initrd_level, &err))) {
		fprintf(stderr, "%s: initramfs: %s\n", prog, err.msg);
		mkl_config_free(&cfg);
		free(media_default);
		return 2;
	}
	o.initrd_level = ilevel > 0 ? ilevel : cfg.initrd_level > 0 ? cfg.initrd_level : 0;
	if (!root_mode)
		root_mode = cfg.root_mode ? cfg.root_mode : "overlay";
	if (!strcmp(root_mode, "overlay"))
		o.root_mode = MKL_ROOT_OVERLAY;
	else if (!strcmp(root_mode, "symlink"))
		o.root_mode = MKL_ROOT_SYMLINK;
	else
		die_usage("--root-mode: unknown '%s' (overlay or symlink)", root_mode);
	if (!image_format)
		image_format = cfg.image_format ? cfg.image_format : "squashfs";
	if (!strcmp(image_format, "squashfs"))
		o.image_format = MKL_IMAGE_SQUASHFS;
	else if (!strcmp(image_format, "cloop"))
		o.image_format = MKL_IMAGE_CLOOP;
	else
		die_usage("--image-format: unknown '%s' (squashfs or cloop)", image_format);
	o.read_only = read_only ? read_only : cfg.read_only;
	if (o.image_format == MKL_IMAGE_CLOOP) {
		/* cloop: zlib (V2.0) unless another codec is asked for (V4.0) */
		const char *cc = comp ? comp : cfg.compressor ? cfg.compressor : "gzip";

		if (mkl_codec_parse(!strcmp(cc, "zstd") && !comp && !cfg.compressor ? "gzip" : cc,
				    &o.cloop_codec, &err))
			die_usage("--compressor: %s", err.msg);
		o.cloop_level = o.sqfs.level;
		o.cloop_block_size = o.sqfs.block_size ? o.sqfs.block_size : 0;
		o.sqfs.compressor = "zstd";	/* the writable root, if any */
		o.sqfs.level = 0;
		o.sqfs.block_size = 0;
	}
	if (!o.init)
		o.init = init_default = default_helper("mklive-init");

	if (cli_time(&o.time)) {
		mkl_config_free(&cfg);
		free(init_default);
		free(media_default);
		return 2;
	}
	o.sqfs.mkfs_time = o.time;

	prog_state.tty = isatty(2);
	clock_gettime(CLOCK_MONOTONIC, &prog_state.t0);
	o.progress = on_progress;
	o.note = on_note;
	o.ctx = &prog_state;

	if (mkl_outfile_not_input(o.output, o.source, &err)) {
		fprintf(stderr, "%s: %s\n", prog, err.msg);
		mkl_config_free(&cfg);
		free(init_default);
		free(media_default);
		return 1;
	}
	cli_catch_signals();

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (mkl_build(&o, &res, &err)) {
		if (prog_state.shown)
			fputs("\r\033[K", stderr);
		mkl_config_free(&cfg);
		free(init_default);
		free(media_default);
		return cli_report(&err);
	}
	if (prog_state.shown)
		fputs("\r\033[K", stderr);
	if (verbosity > 0) {
		char iso[32], sq[32], in[32], ird[32];

		human(iso, sizeof(iso), (double)res.iso_bytes);
		human(sq, sizeof(sq), (double)res.squashfs_bytes);
		human(in, sizeof(in), (double)res.input_bytes);
		human(ird, sizeof(ird), (double)res.initrd_bytes);
		fprintf(stderr, "%s: wrote %s (%s, boots BIOS%s) in %.1f s: image %s from %s in %zu "
			"entries, initramfs %s with %zu modules, kernel %s\n", prog, o.output, iso,
			res.uefi ? " and UEFI" : "", since(&t0), sq, in, res.entries, ird, res.modules,
			res.kernel_version);
	}
	mkl_config_free(&cfg);
	free(init_default);
	free(media_default);
	return 0;
}

static const struct {
	const char *name, *prog;
	int (*run)(int argc, char **argv);
} commands[] = {
	{ "build", "mklive build", cmd_build },
	{ "cloop", "mklive cloop", cmd_cloop },
	{ "ext2", "mklive ext2", cmd_ext2 },
	{ "fat", "mklive fat", cmd_fat },
	{ "floppy", "mklive floppy", cmd_floppy },
	{ "test", "mklive test", cmd_test },
	{ "verify", "mklive verify", cmd_verify },
};

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("mklive %s\n", MKLIVE_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(argv[1], commands[i].name)) {
			prog = commands[i].prog;
			return commands[i].run(argc - 1, argv + 1);
		}
	}
	die_usage("unknown command '%s' (expected: build, cloop, ext2, fat, floppy, test, verify)", argv[1]);
}
