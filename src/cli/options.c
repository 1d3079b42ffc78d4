/* The build's option table (see options.h) and what reads it: setting a
 * value with its checks, merging the command line over mklive.conf over
 * the defaults, --help and `mklive options`. */
#include "cli/options.h"
#include "cli/cli.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt/live.h"
#include "pipeline/image.h"
#include "tree/outfile.h"

const char *const mkl_sections[] = { "recipe", "image", "initramfs", "boot", "layout", "media",
				     "live", NULL };

#define F(field) offsetof(struct mkl_config, field)
#define LABEL_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"

/* The order is --help's. The level range 1..22 spans every codec; each
 * one's own range is checked by the code that uses it. */
const struct mkl_option mkl_options[] = {
	{ "output", 'o', NULL, NULL, MKL_OPT_STR, .arg = "FILE", .off = F(output),
	  .help = "the ISO to write (replaced only when complete)" },
	{ "config", 'c', NULL, NULL, MKL_OPT_STR, .arg = "FILE", .off = F(config),
	  .help = "read settings from FILE (see mklive.conf(5));\noptions given here override it" },
	/* [recipe]: the tree made by mmdebstrap (source/recipe.h); file only */
	{ NULL, 0, "recipe", "suite", MKL_OPT_STR, .arg = "SUITE", .off = F(recipe.suite),
	  .help = "the Debian release to install (bookworm, trixie, ...)" },
	{ NULL, 0, "recipe", "packages", MKL_OPT_STR, .arg = "NAMES", .off = F(recipe.packages),
	  .help = "packages to install, separated by spaces or commas;\nlinux-image-ARCH is added without a kernel" },
	{ NULL, 0, "recipe", "components", MKL_OPT_STR, .arg = "NAMES", .def = "main",
	  .off = F(recipe.components), .help = "archive components (default main)" },
	{ NULL, 0, "recipe", "mirror", MKL_OPT_STR, .arg = "URIS", .off = F(recipe.mirror),
	  .help = "archive URIs (default: the host's apt sources)" },
	{ NULL, 0, "recipe", "architecture", MKL_OPT_STR, .arg = "ARCH", .off = F(recipe.architecture),
	  .help = "Debian architecture (default: the host's)" },
	{ NULL, 0, "recipe", "variant", MKL_OPT_CHOICE, .def = "minbase",
	  .choices = "essential, apt, required, minbase, buildd, important, debootstrap, standard",
	  .off = F(recipe.variant), .help = "mmdebstrap's package set under the packages (default minbase)" },
	{ NULL, 0, "recipe", "include", MKL_OPT_STR, .arg = "DIR", .off = F(recipe.include),
	  .help = "a directory copied over the tree after the packages\n(relative to the file)" },
	{ NULL, 0, "recipe", "hooks", MKL_OPT_STR, .arg = "FILES", .off = F(recipe.hooks),
	  .help = "executables run with the tree's path as $1 after\nthe include (relative to the file)" },
	{ "refresh", 0, NULL, NULL, MKL_OPT_CHOICE, .choices = "yes, no", .set = "yes", .def = "no",
	  .off = F(refresh),
	  .help = "a recipe: fetch the package lists again instead of\nthe cached ones (newer package versions)" },
	{ "label", 0, "image", "label", MKL_OPT_LABEL, .arg = "NAME", .off = F(label),
	  .flags = MKL_OPT_LATE, .def = "MKLIVE",
	  .help = "volume label, 1-32 of A-Z 0-9 _ - (default MKLIVE)" },
	{ "append", 0, "boot", "append", MKL_OPT_STR, .arg = "ARGS", .off = F(append),
	  .help = "extra kernel arguments for every boot entry,\ne.g. --append 'console=ttyS0'" },
	{ "timeout", 0, "boot", "timeout", MKL_OPT_NUM, .min = 0, .max = 600, .def = "5",
	  .arg = "SECONDS", .off = F(timeout),
	  .help = "boot menu waits this long, then boots (default 5)" },
	{ "compressor", 0, "image", "compressor", MKL_OPT_CHOICE, .choices = "zstd, xz, gzip, lz4",
	  .flags = MKL_OPT_LATE, .arg = "NAME", .off = F(compressor),
	  .help = "the image's: squashfs zstd (default), xz, gzip, lz4;\n"
		  "cloop gzip (default, V2.0), lz4, none (V4.0)" },
	{ "level", 0, "image", "level", MKL_OPT_NUM, .min = 1, .max = 22, .arg = "N",
	  .off = F(level), .help = "compression level (default: the compressor's)" },
	{ "block-size", 0, "image", "block-size", MKL_OPT_SIZE, .arg = "BYTES",
	  .flags = MKL_OPT_LATE | MKL_OPT_BLOCK, .off = F(block_size),
	  .help = "image block size: squashfs 4K..1M (default 128K),\n"
		  "cloop a multiple of 512 (default 64K)" },
	{ "image-format", 0, "image", "format", MKL_OPT_FORMAT, .arg = "FORMAT",
	  .off = F(image_format), .def = "squashfs",
	  .help = "how the tree is packed (default squashfs):" },
	{ "verity", 0, "image", "verity", MKL_OPT_CHOICE, .choices = "yes, no", .set = "yes",
	  .def = "no", .off = F(verity),
	  .help = "a dm-verity hash tree after the squashfs image (in\n"
		  "its file); every boot entry gets its root hash\n"
		  "(mklive.verity=) and the init reads the image only\n"
		  "through dm-verity: a damaged or changed block is an\n"
		  "I/O error, never wrong data" },
	{ "threads", 'j', NULL, NULL, MKL_OPT_NUM, .min = 1, .max = 1024, .arg = "N",
	  .off = F(threads), .help = "compression threads (default: all cores)" },
	{ "initrd-compressor", 0, "initramfs", "compressor", MKL_OPT_CHOICE,
	  .choices = "zstd, gzip, xz, lz4, none", .arg = "NAME", .off = F(initrd_compressor),
	  .help = "initramfs: zstd (default; gzip for an ext2 initrd),\ngzip, xz, lz4, none" },
	{ "initrd-level", 0, "initramfs", "level", MKL_OPT_NUM, .min = 1, .max = 22, .arg = "N",
	  .off = F(initrd_level), .help = "initramfs compression level (zstd default 9)" },
	{ "initrd-format", 0, "initramfs", "format", MKL_OPT_CHOICE, .choices = "cpio, ext2",
	  .def = "cpio", .arg = "FORMAT", .off = F(initrd_format),
	  .help = "cpio (default): an initramfs; ext2: the article's\n"
		  "initrd, a gzip'd ext2 image with /linuxrc, booted\n"
		  "with root=/dev/ram0; needs a kernel with the RAM\n"
		  "disk driver built in (Debian's has it as a module)" },
	{ "root-mode", 0, "layout", "root-mode", MKL_OPT_CHOICE, .choices = "overlay, symlink",
	  .def = "overlay", .arg = "MODE", .off = F(root_mode),
	  .help = "overlay (default): the image under a tmpfs overlay;\n"
		  "symlink: a tmpfs root with links to the read-only\n"
		  "directories in the image on /ro (the article's)" },
	{ "read-only", 0, "layout", "read-only", MKL_OPT_STR, .arg = "DIRS", .off = F(read_only),
	  .help = "symlink mode: the read-only directories\n"
		  "(default '/usr /bin /sbin /lib /lib32 /lib64 /libx32 /opt')" },
	{ "floppy", 0, "boot", "floppy", MKL_OPT_CHOICE, .choices = "yes, no", .set = "yes",
	  .def = "no", .off = F(floppy),
	  .help = "legacy: the BIOS boots a 1.44 MB floppy image (El\n"
		  "Torito floppy emulation) holding the kernel and\n"
		  "initramfs, as live CDs of old did; both must fit\n"
		  "in 1.45 MB; the image then boots from CD only" },
	{ "uefi", 0, "boot", "uefi", MKL_OPT_CHOICE, .choices = "yes, no, auto", .def = "yes",
	  .arg = "yes|no", .off = F(uefi),
	  .help = "yes (default): the image boots UEFI too, Secure\n"
		  "Boot included, with Debian's signed shim and GRUB\n"
		  "from the host or from mklive's cache (mklive\n"
		  "fetch-efi fills it); found in neither, the build\n"
		  "fails. no: BIOS only. auto: the same as yes" },
	{ "findiso", 0, "boot", "findiso", MKL_OPT_CHOICE, .choices = "yes, no", .def = "yes",
	  .arg = "yes|no", .off = F(findiso),
	  .help = "yes (default): the ISO boots as a file on a disk\n"
		  "too (boot option findiso=, GRUB's loopback.cfg):\n"
		  "the disks' filesystems in the initramfs (0.6 MB).\n"
		  "no: neither" },
	{ "efi-root", 0, NULL, NULL, MKL_OPT_STR, .arg = "DIR", .off = F(efi_root),
	  .help = "look for shim and GRUB under DIR instead of the\n"
		  "host's /, then in the cache: DIR/usr/lib/shim/\n"
		  "shimx64.efi.signed, DIR/usr/lib/grub/\n"
		  "x86_64-efi-signed/gcdx64.efi.signed" },
	{ "sign-key", 0, "boot", "sign-key", MKL_OPT_STR, .arg = "KEY.pem", .off = F(sign_key),
	  .flags = MKL_OPT_PATH,
	  .help = "sign the UEFI boot with this RSA key (PEM, with\n"
		  "--sign-cert): shim, then systemd-boot and one\n"
		  "signed unified kernel image per menu entry; no\n"
		  "GRUB. Enrol the certificate as a MOK (README)" },
	{ "sign-cert", 0, "boot", "sign-cert", MKL_OPT_STR, .arg = "CERT.pem", .off = F(sign_cert),
	  .flags = MKL_OPT_PATH,
	  .help = "the key's X.509 certificate (PEM); it goes on the\n"
		  "medium in DER as mklive.cer, for enrolment" },
	{ "media", 0, "media", "automount", MKL_OPT_CHOICE, .choices = "auto, yes, no",
	  .def = "auto", .arg = "auto|yes|no", .off = F(media),
	  .help = "/media/list: install mklive-media (the autofs map,\n"
		  "a udev rule) into the image; auto (default): when\nthe tree has autofs" },
	/* [live]: written into the root by the init at boot (init/live.c);
	 * mklive.NAME= on the kernel command line overrides each */
	{ "user", 0, "live", "user", MKL_OPT_LIVE, .min = MKL_LIVE_USER, .def = "user",
	  .arg = "NAME", .off = F(live_user),
	  .help = "the live user (default user), made at boot when\nthe tree lacks it: "
		  "no password, home from\n/etc/skel, desktop groups, sudo" },
	{ "autologin", 0, "live", "autologin", MKL_OPT_CHOICE, .choices = "yes, no", .def = "yes",
	  .arg = "yes|no", .off = F(autologin),
	  .help = "log the user in on tty1, the serial console and\nthe display manager "
		  "(default yes)" },
	{ "hostname", 0, "live", "hostname", MKL_OPT_LIVE, .min = MKL_LIVE_HOST, .arg = "NAME",
	  .off = F(hostname), .help = "the live system's host name (default: the tree's)" },
	{ "locale", 0, "live", "locale", MKL_OPT_LIVE, .min = MKL_LIVE_LOCALE, .arg = "LOCALE",
	  .off = F(locale), .help = "LANG, e.g. de_DE.UTF-8 (default: the tree's)" },
	{ "keyboard", 0, "live", "keyboard", MKL_OPT_LIVE, .min = MKL_LIVE_KEYBOARD,
	  .arg = "LAYOUT", .off = F(keyboard),
	  .help = "XKB layout, e.g. de or de(nodeadkeys), for X and\nthe console "
		  "(default: the tree's)" },
	{ "timezone", 0, "live", "timezone", MKL_OPT_LIVE, .min = MKL_LIVE_TZ, .arg = "ZONE",
	  .off = F(timezone), .help = "e.g. Europe/Berlin (default: the tree's)" },
	{ "kernel", 0, NULL, NULL, MKL_OPT_STR, .arg = "FILE", .off = F(kernel),
	  .help = "kernel to boot (default: the tree's /boot/vmlinuz-*)" },
	{ "modules", 0, NULL, NULL, MKL_OPT_STR, .arg = "DIR", .off = F(modules),
	  .help = "its modules, DIR = .../lib/modules/VERSION\n(default: the tree's /lib/modules/VERSION)" },
	{ "init", 0, NULL, NULL, MKL_OPT_STR, .arg = "FILE", .off = F(init),
	  .help = "the mklive-init program (default: installed one)" },
	{ "isolinux-dir", 0, NULL, NULL, MKL_OPT_STR, .arg = "DIR", .off = F(isolinux_dir),
	  .def = "/usr/lib/ISOLINUX",
	  .help = "isolinux.bin, isohdpfx.bin (default /usr/lib/ISOLINUX)" },
	{ "syslinux-modules", 0, NULL, NULL, MKL_OPT_STR, .arg = "DIR", .off = F(syslinux_modules),
	  .def = "/usr/lib/syslinux/modules/bios",
	  .help = "ldlinux.c32, menu.c32, ... (default\n/usr/lib/syslinux/modules/bios)" },
	{ "quiet", 'q', NULL, NULL, MKL_OPT_VERBOSITY, .min = 0, .off = F(verbosity),
	  .help = "print errors only" },
	{ "verbose", 'v', NULL, NULL, MKL_OPT_VERBOSITY, .min = 2, .off = F(verbosity),
	  .help = "explain each step" },
	{ "help", 'h', NULL, NULL, MKL_OPT_HELP, .off = F(help), .help = "this help" },
	{ NULL, 0, NULL, NULL, 0, .off = 0 },
};
const size_t mkl_noptions = sizeof(mkl_options) / sizeof(mkl_options[0]) - 1;

_Static_assert(sizeof(mkl_options) / sizeof(mkl_options[0]) - 1 <= 64,
	       "struct mkl_config's set mask has 64 bits");

static const char *kind_name(const struct mkl_option *o)
{
	static const char *const names[] = { "text", "number", "size", "label", "choice",
					     "format", "flag", "flag", "text" };

	return o->set ? "flag" : names[o->kind];
}

/* "a, b, c" as said on the command line: "a, b or c" (in place). */
static char *spoken(char *list)
{
	char *last = strrchr(list, ',');

	if (last) {
		memmove(last + 3, last + 1, strlen(last + 1) + 1);
		memcpy(last, " or", 3);
	}
	return list;
}

/* NULL when v is a good value of [live] kind k (fmt/live.h: its
 * characters; here the rest of each rule), else what it must be. */
static const char *live_bad(enum mkl_live_kind k, const char *v)
{
	static const char *const what[] = {
		[MKL_LIVE_USER] = "a user name: 1 to 32 of a-z 0-9 _ -, starting with a-z or _",
		[MKL_LIVE_HOST] = "a host name: labels of 1 to 63 of a-z A-Z 0-9 - (not first or "
				  "last) joined by dots, 64 bytes at most",
		[MKL_LIVE_LOCALE] = "a locale such as de_DE.UTF-8 or C.UTF-8",
		[MKL_LIVE_KEYBOARD] = "an XKB layout such as de, or layout(variant) such as "
				      "de(nodeadkeys)",
		[MKL_LIVE_TZ] = "a time zone such as Europe/Berlin or UTC",
	};
	size_t n = strlen(v), i, len;
	bool ok = mkl_live_ok(k, v);

	if (ok && k == MKL_LIVE_HOST)
		for (i = 0; ok && i < n; i += len + 1) {
			len = strcspn(v + i, ".");
			ok = len && len <= 63 && v[i] != '-' && v[i + len - 1] != '-' &&
			     !(v[i + len] == '.' && !v[i + len + 1]);
		}
	if (ok && k == MKL_LIVE_KEYBOARD) {
		len = strcspn(v, "(");
		ok = len <= 32 && strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789_-") == len &&
		     (!v[len] || (n - len > 2 && n - len <= 34 && v[n - 1] == ')' &&
				  strcspn(v + len + 1, "()") == n - len - 2));
	}
	if (ok && k == MKL_LIVE_TZ)
		ok = !strstr(v, "//") && v[n - 1] != '/';
	return ok ? NULL : what[k];
}

/* The name errors give: "--name" on the command line, "key" in a file. */
#define OPTNAME(o, cli) ((cli) ? "--" : ""), ((cli) ? (o)->name : (o)->key)

static int set_num(struct mkl_config *cfg, const struct mkl_option *o, const char *v, int cli,
		   struct mkl_err *err)
{
	char *end;
	long num;

	errno = 0;
	num = strtol(v, &end, 10);
	if (cli && (!*v || *end || isspace((unsigned char)*v) || errno || num < o->min || num > o->max))
		return mkl_error(err, 0, "--%s: '%s' is not a number from %d to %d", o->name, v,
				 o->min, o->max);
	if (!*v || *end || isspace((unsigned char)*v))
		return mkl_error(err, 0, "%s: '%s' is not a number", o->key, v);
	if (errno || num < o->min || num > o->max)
		return mkl_error(err, 0, "%s: %s is out of range (%d..%d)", o->key, v, o->min, o->max);
	*(int *)((char *)cfg + o->off) = (int)num;
	return 0;
}

static int set_size(struct mkl_config *cfg, const struct mkl_option *o, const char *v, int cli,
		    struct mkl_err *err)
{
	uint64_t size;

	if (mkl_parse_size(v, &size, err) < 0)
		return mkl_err_prefix(err, "%s%s", OPTNAME(o, cli));
	if ((o->flags & MKL_OPT_BLOCK) && !cli &&
	    (size < 4096 || size > 1048576 || (size & (size - 1))))
		return mkl_error(err, 0, "%s: %s is not a power of two from 4K to 1M", o->key, v);
	if (size > UINT32_MAX)
		return mkl_error(err, 0, "%s%s: %" PRIu64 " is too large", OPTNAME(o, cli), size);
	*(uint32_t *)((char *)cfg + o->off) = (uint32_t)size;
	return 0;
}

int mkl_option_set(struct mkl_config *cfg, const struct mkl_option *o, const char *v, int cli,
		   struct mkl_err *err)
{
	bool check = !cli || !(o->flags & MKL_OPT_LATE);
	size_t n = strlen(v);
	char **field = (char **)((char *)cfg + o->off), *s, names[256];

	switch (o->kind) {
	case MKL_OPT_NUM:
		if (set_num(cfg, o, v, cli, err))
			return -1;
		goto done;
	case MKL_OPT_SIZE:
		if (set_size(cfg, o, v, cli, err))
			return -1;
		goto done;
	case MKL_OPT_VERBOSITY:
	case MKL_OPT_HELP:
		*(int *)((char *)cfg + o->off) = o->kind == MKL_OPT_HELP ? 1 : o->min;
		goto done;
	case MKL_OPT_LABEL:
		if (check && (n < 1 || n > 32 || strspn(v, LABEL_CHARS) != n))
			return mkl_error(err, 0, "%s%s: '%s' is not 1 to 32 of A-Z 0-9 _ -",
					 OPTNAME(o, cli), v);
		break;
	case MKL_OPT_CHOICE:
	case MKL_OPT_FORMAT:
		if (o->kind == MKL_OPT_FORMAT)
			mkl_image_format_names(names, sizeof(names));
		else
			snprintf(names, sizeof(names), "%s", o->choices);
		if (check && (o->kind == MKL_OPT_FORMAT ? !mkl_image_format_find(v)
							: !mkl_in_list(v, o->choices)))
			return mkl_error(err, 0, "%s%s: unknown '%s' (%s)", OPTNAME(o, cli), v,
					 cli ? spoken(names) : names);
		break;
	case MKL_OPT_LIVE:
		if ((s = (char *)live_bad((enum mkl_live_kind)o->min, v)))
			return mkl_error(err, 0, "%s%s: '%s' is not %s", OPTNAME(o, cli), v, s);
		break;
	case MKL_OPT_STR:
		break;
	}
	if (!(s = mkl_strdup(v, err)))
		return -1;
	free(*field);
	*field = s;
done:
	cfg->set |= 1ull << (o - mkl_options);
	return 0;
}

int mkl_options_merge(struct mkl_config *cli, struct mkl_config *file, struct mkl_err *err)
{
	for (size_t i = 0; i < mkl_noptions; i++) {
		const struct mkl_option *o = &mkl_options[i];
		uint64_t bit = 1ull << i;
		char *to = (char *)cli + o->off;

		if (cli->set & bit)
			continue;
		if (file && (file->set & bit)) {
			switch (o->kind) {
			case MKL_OPT_NUM:
			case MKL_OPT_VERBOSITY:
			case MKL_OPT_HELP:
				*(int *)to = *(int *)((char *)file + o->off);
				break;
			case MKL_OPT_SIZE:
				*(uint32_t *)to = *(uint32_t *)((char *)file + o->off);
				break;
			default:
				free(*(char **)to);
				*(char **)to = *(char **)((char *)file + o->off);
				*(char **)((char *)file + o->off) = NULL;
			}
			cli->set |= bit;
		} else if (o->def) {
			if (mkl_option_set(cli, o, o->def, 0, err))
				return mkl_err_prefix(err, "the default of %s%s", o->name ? "--" : "",
						      o->name ? o->name : o->key);
			cli->set &= ~bit;	/* a default, not given */
		}
	}
	return 0;
}

int mkl_options_paths(struct mkl_config *file, const char *config, struct mkl_err *err)
{
	char *dir = mkl_dir_of(config);
	int rc = 0;

	if (!dir)
		return mkl_error(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < mkl_noptions && !rc; i++) {
		char **v = (char **)((char *)file + mkl_options[i].off), *p;

		if (!(mkl_options[i].flags & MKL_OPT_PATH) || !(file->set & (1ull << i)) || !*v ||
		    (*v)[0] == '/')
			continue;
		if (asprintf(&p, "%s/%s", dir, *v) < 0) {
			rc = mkl_error(err, ENOMEM, "out of memory");
			break;
		}
		free(*v);
		*v = p;
	}
	free(dir);
	return rc;
}

/* One option's --help: "  -o, --output FILE", its help from column 29. */
static void help_row(FILE *f, const struct mkl_option *o)
{
	const char *h = o->help;
	int n;

	if (!o->name)
		return;
	if (o->short_name)
		n = fprintf(f, "  -%c, --%s", o->short_name, o->name);
	else
		n = fprintf(f, "      --%s", o->name);
	if (o->arg && !o->set)
		n += fprintf(f, " %s", o->arg);
	n = n < 27 ? 29 - n : 2;
	do {
		size_t len = strcspn(h, "\n");

		fprintf(f, "%*s%.*s\n", n, "", (int)len, h);
		n = 29;
		h += len;
	} while (*h++ == '\n');
	if (o->kind == MKL_OPT_FORMAT)
		for (const struct mkl_image_format *fm = mkl_image_formats; fm->name; fm++)
			fprintf(f, "%29s%s: %s\n", "", fm->name, fm->help);
}

void mkl_options_help(FILE *f)
{
	for (size_t i = 0; i < mkl_noptions; i++)
		help_row(f, &mkl_options[i]);
}

void mkl_options_print(FILE *f)
{
	char names[256];

	mkl_image_format_names(names, sizeof(names));
	fputs("# long\tshort\tsection\tkey\tkind\tchoices\tdefault\n", f);
	for (size_t i = 0; i < mkl_noptions; i++) {
		const struct mkl_option *o = &mkl_options[i];

		char shortopt[3] = { '-', o->short_name, '\0' };

		fprintf(f, "%s%s\t%s\t%s\t%s\t%s\t%s\t%s\n", o->name ? "--" : "-",
			o->name ? o->name : "", o->short_name ? shortopt : "-",
			o->section ? o->section : "-",
			o->key ? o->key : "-", kind_name(o),
			o->kind == MKL_OPT_FORMAT ? names : o->choices ? o->choices : "-",
			o->def ? o->def : "-");
	}
}
