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
#include "cli/options.h"
#include "cli/recipe.h"
#include "codec/codec.h"
#include "fmt/iso.h"
#include "pipeline/cache.h"
#include "pipeline/image.h"
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
"       mklive fetch-efi                       Debian's signed shim and GRUB into\n"
"                                              mklive's cache, for UEFI boot\n"
"       mklive floppy KERNEL -o FLOPPY.img     legacy 1.44 MB boot floppy\n"
"       mklive test IMAGE.iso                  boot it in QEMU: BIOS/UEFI/Secure Boot,\n"
"                                              CD and USB (see mklive test --help)\n"
"       mklive verify IMAGE                    check a medium against its checksums\n"
"       mklive options                         the build's options, their mklive.conf\n"
"                                              keys, kinds, choices and defaults\n"
"       mklive --help | --version\n"
"\n"
"Turn a Linux root tree into a bootable live CD/USB image. SOURCE is a\n"
"directory or a tar archive (.tar, .tar.gz, .tar.zst, .tar.xz, ...); owners,\n"
"modes, device nodes, links and xattrs come from it, so no root is needed.\n"
"The ISO boots from a CD and, written to a USB stick (dd), from the stick.\n"
"\n"
"Options for build (mklive options lists them with their mklive.conf keys):\n");
	mkl_options_help(f);
	fprintf(f,
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

/* What the image will not carry: said unless -q. */
static void on_warn(void *ctx, const char *msg)
{
	struct progress *p = ctx;

	if (verbosity < 1)
		return;
	if (p->shown)
		fputs("\r\033[K", stderr);
	fprintf(stderr, "%s: warning: %s\n", prog, msg);
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

/* The command line's options, from the table: long options get 256 + the
 * row's index, short ones their letter. */
static void getopt_tables(struct option *longopts, char *shortopts)
{
	size_t n = 0;

	for (size_t i = 0; i < mkl_noptions; i++) {
		const struct mkl_option *o = &mkl_options[i];
		int arg = o->kind == MKL_OPT_VERBOSITY || o->kind == MKL_OPT_HELP || o->set ?
			no_argument : required_argument;

		if (!o->name)
			continue;
		longopts[n++] = (struct option){ o->name, arg, NULL, 256 + (int)i };
		if (o->short_name) {
			*shortopts++ = o->short_name;
			if (arg == required_argument)
				*shortopts++ = ':';
		}
	}
	longopts[n] = (struct option){ NULL, 0, NULL, 0 };
	*shortopts = '\0';
}

static const struct mkl_option *option_of(int c)
{
	if (c >= 256 && (size_t)(c - 256) < mkl_noptions)
		return &mkl_options[c - 256];
	for (size_t i = 0; c > 0 && c < 256 && i < mkl_noptions; i++)
		if (mkl_options[i].short_name == c)
			return &mkl_options[i];
	return NULL;
}

/* The settings (command line over mklive.conf over the defaults) as the
 * build's options; helpers found here are left in *init, *media for the
 * caller to free. 0, or an exit status with the message printed. */
static int build_opts(const struct mkl_config *s, struct mkl_build_opts *o, char **init,
		      char **media, char **persist, char **cache, struct mkl_err *err)
{
	bool ext2 = !strcmp(s->initrd_format, "ext2");

	o->output = s->output;
	o->label = s->label;
	o->append = s->append;
	o->timeout = s->timeout;
	o->floppy = !strcmp(s->floppy, "yes");
	o->uefi = !strcmp(s->uefi, "yes") ? 1 : !strcmp(s->uefi, "no") ? 0 : -1;
	o->findiso = strcmp(s->findiso, "no") != 0;
	o->media = !strcmp(s->media, "yes") ? 1 : !strcmp(s->media, "no") ? 0 : -1;
	o->image_format = mkl_image_format_find(s->image_format);
	o->image = (struct mkl_image_opts){ .compressor = s->compressor, .level = s->level,
					    .block_size = s->block_size,
					    .threads = (unsigned)s->threads };
	o->image.verity = !strcmp(s->verity, "yes");
	o->root_mode = !strcmp(s->root_mode, "symlink") ? MKL_ROOT_SYMLINK : MKL_ROOT_OVERLAY;
	o->read_only = s->read_only;
	o->live = (struct mkl_live_opts){ .user = s->live_user, .hostname = s->hostname,
					  .locale = s->locale, .keyboard = s->keyboard,
					  .timezone = s->timezone,
					  .autologin = !strcmp(s->autologin, "yes") };
	o->initrd_format = ext2 ? MKL_INITRD_EXT2 : MKL_INITRD_CPIO;
	/* The article's initrd was gzip'd; an initramfs defaults to zstd. */
	if (mkl_codec_parse(s->initrd_compressor ? s->initrd_compressor : ext2 ? "gzip" : "zstd",
			    &o->initrd_codec, err) ||
	    (s->initrd_level > 0 && mkl_codec_check_level(o->initrd_codec, s->initrd_level, err))) {
		fprintf(stderr, "%s: initramfs: %s\n", prog, err->msg);
		return 2;
	}
	o->initrd_level = s->initrd_level;
	o->kernel = s->kernel;
	o->modules = s->modules;
	o->isolinux_dir = s->isolinux_dir;
	o->syslinux_modules = s->syslinux_modules;
	o->efi_root = s->efi_root;
	o->sign_key = s->sign_key;
	o->sign_cert = s->sign_cert;
	/* a signed image verifies its image too: the root hash is then in
	 * the signed command line of every UKI (ARCHITECTURE, "Verified reads") */
	if (o->sign_key)
		o->image.verity = true;
	/* No cache (no HOME): the build says so if it needs one. */
	o->cache = *cache = mkl_cache_dir(err);
	o->init = s->init ? s->init : (*init = default_helper("mklive-init"));
	if (o->media)
		o->media_program = *media = default_helper("mklive-media");
	o->helper_program = *persist = default_helper("mklive-helper");
	if (cli_time(&o->time))
		return 2;
	return 0;
}

/* What the image boots, plainly: the closing line's words. */
static const char *boots(const struct mkl_build_result *res)
{
	if (!res->uefi)
		return "boots BIOS only (--uefi no)";
	if (res->signed_uki)
		return "boots BIOS and UEFI with Secure Boot through a signed unified kernel image (your key: "
		       "enrol mklive.cer as a MOK, or in db)";
	if (!res->kernel_signed)
		return "boots BIOS and UEFI, but not with Secure Boot on: the kernel is not signed";
	return "boots BIOS and UEFI with Secure Boot (Debian's signed shim)";
}

static void report_done(const struct mkl_build_opts *o, const struct mkl_build_result *res,
			double seconds)
{
	char iso[32], sq[32], in[32], ird[32];

	human(iso, sizeof(iso), (double)res->iso_bytes);
	human(sq, sizeof(sq), (double)res->squashfs_bytes);
	human(in, sizeof(in), (double)res->input_bytes);
	human(ird, sizeof(ird), (double)res->initrd_bytes);
	fprintf(stderr, "%s: wrote %s (%s), which %s; in %.1f s: image %s from %s in %zu entries, "
		"initramfs %s with %zu modules, kernel %s\n", prog, o->output, iso, boots(res), seconds,
		sq, in, res->entries, ird, res->modules, res->kernel_version);
}

int cmd_build(int argc, char **argv)
{
	struct mkl_config cli, file;
	struct mkl_build_opts o = { 0 };
	struct mkl_build_result res;
	struct mkl_err err = { 0 };
	struct progress prog_state = { 0 };
	struct option longopts[64];
	char shortopts[64], *init = NULL, *media = NULL, *persist = NULL, *cache = NULL, what[PATH_MAX + 64];
	struct cli_recipe recipe = { 0 };
	struct timespec t0;
	int c, rc = 2;

	mkl_config_init(&cli);
	mkl_config_init(&file);
	getopt_tables(longopts, shortopts);
	optind = 1;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		const struct mkl_option *opt = option_of(c);

		if (!opt) {
			fprintf(stderr, "Try '%s --help' for more information.\n", prog);
			goto out;
		}
		if (mkl_option_set(&cli, opt, optarg ? optarg : opt->set ? opt->set : "", 1, &err))
			die_usage("%s", err.msg);
	}
	verbosity = cli.verbosity;
	if (cli.help) {
		usage(stdout);
		rc = 0;
		goto out;
	}
	if (optind + 1 < argc)
		die_usage("build: more than one SOURCE given");
	if (!cli.output)
		die_usage("build: no output given (-o FILE.iso)");
	rc = 1;
	if ((cli.config && (mkl_config_load(&file, cli.config, &err) ||
			    mkl_options_paths(&file, cli.config, &err))) ||
	    mkl_options_merge(&cli, &file, &err)) {
		fprintf(stderr, "%s: %s\n", prog, err.msg);
		goto out;
	}
	/* The tree: a SOURCE, or the [recipe] of the file; never both. */
	if (cli_recipe_given(&cli)) {
		if (optind < argc) {
			fprintf(stderr, "%s: %s has a [recipe] and a SOURCE was given too: the recipe makes "
				"the tree, so give one or the other\n", prog, cli.config);
			goto out;
		}
		if (cli_recipe_opts(&cli, !strcmp(cli.refresh, "yes"), &recipe, &err)) {
			rc = cli_report(&err);
			goto out;
		}
		recipe.r.note = on_note;
		recipe.r.ctx = &prog_state;
		o.recipe = &recipe.r;
		snprintf(what, sizeof(what), "the recipe of %s (mmdebstrap, %s)", cli.config,
			 cli.recipe.suite ? cli.recipe.suite : "no suite");
		o.source = what;
	} else if (optind >= argc) {
		die_usage("build: no SOURCE given (a directory or a tar, or -c FILE with a [recipe])");
	} else {
		o.source = argv[optind];
	}
	if ((rc = build_opts(&cli, &o, &init, &media, &persist, &cache, &err)))
		goto out;
	/* mmdebstrap stamps the tree with the image's time: equal recipes and
	 * SOURCE_DATE_EPOCH give equal images. */
	if (o.recipe) {
		char t[32];

		snprintf(t, sizeof(t), "%lld", (long long)o.time);
		setenv("SOURCE_DATE_EPOCH", t, 1);
	}

	prog_state.tty = isatty(2);
	clock_gettime(CLOCK_MONOTONIC, &prog_state.t0);
	/* No bar to draw, no callback: the source then need not count its
	 * total before the first byte is compressed. */
	if (prog_state.tty && verbosity > 0)
		o.progress = on_progress;
	o.note = on_note;
	o.warn = on_warn;
	o.ctx = &prog_state;
	if (!o.recipe && mkl_outfile_not_input(o.output, o.source, &err)) {
		rc = cli_report(&err);
		goto out;
	}
	cli_catch_signals();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = mkl_build(&o, &res, &err) ? -1 : 0;
	if (prog_state.shown)
		fputs("\r\033[K", stderr);
	if (rc)
		rc = cli_report(&err);
	else if (verbosity > 0)
		report_done(&o, &res, since(&t0));
out:
	cli_recipe_free(&recipe);
	mkl_config_free(&cli);
	mkl_config_free(&file);
	free(init);
	free(media);
	free(persist);
	free(cache);
	return rc;
}

static int cmd_options(int argc, char **argv)
{
	if (argc > 1)
		die_usage("options: takes no arguments");
	mkl_options_print(stdout);
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
	{ "fetch-efi", "mklive fetch-efi", cmd_fetch_efi },
	{ "floppy", "mklive floppy", cmd_floppy },
	{ "options", "mklive options", cmd_options },
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
	die_usage("unknown command '%s' (expected: build, cloop, ext2, fat, fetch-efi, floppy, options, "
		  "test, verify)", argv[1]);
}
