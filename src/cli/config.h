/* mklive.conf: an INI-style file (see docs/mklive.conf.5). Its sections and
 * keys are the rows of the option table (cli/options.h) that name one; the
 * same struct holds the command line's settings.
 *
 *   # comment            ; comment
 *   [recipe]             (the tree made by mmdebstrap instead of a SOURCE)
 *   suite = bookworm
 *   packages = systemd-sysv, udev,
 *     xfce4 lightdm      (a line starting with white space continues a value)
 *   include = files      hooks = hooks/one.sh    (relative to the file)
 *   [image]
 *   label = MKLIVE
 *   compressor = zstd    (zstd, xz, gzip, lz4)
 *   level = 15
 *   block-size = 128K    (bytes; K, M, G or KiB, MiB, GiB)
 *   format = squashfs    (a format of the registry: squashfs, cloop)
 *   verity = no          (yes: a dm-verity hash tree after the image)
 *   [initramfs]
 *   compressor = zstd    (zstd, gzip, xz, lz4, none)
 *   level = 19
 *   format = cpio        (cpio, ext2)
 *   [boot]
 *   append = console=ttyS0
 *   timeout = 5          (seconds the menu waits before booting the default)
 *   floppy = no          uefi = yes 
 *   sign-key = key.pem   sign-cert = cert.pem   (relative to the file)
 *   [layout]
 *   root-mode = overlay  (overlay, symlink)
 *   read-only = /usr /bin /sbin /lib /lib32 /lib64 /libx32 /opt
 *   [media]
 *   automount = auto
 *   [live]
 *   user = user          autologin = yes
 *   hostname = live      locale = de_DE.UTF-8
 *   keyboard = de(nodeadkeys)   timezone = Europe/Berlin
 *
 * Unknown sections or keys and bad values are errors "FILE:LINE: ...".
 * Command-line options override the file: the CLI parses the file and its
 * options each into a struct mkl_config and merges them (options.c).
 */
#ifndef MKL_CONFIG_H
#define MKL_CONFIG_H

#include <stdint.h>

#include "tree/err.h"

struct mkl_config {
	uint64_t set;			/* bit i: mkl_options[i] was given (not defaulted) */
	struct {			/* [recipe] (source/recipe.h); NULL: not given */
		char *suite, *packages, *components, *mirror, *architecture, *variant,
		     *include, *hooks;
	} recipe;
	char *refresh;			/* --refresh: yes, no */
	char *label;			/* NULL: default "MKLIVE" */
	char *compressor;		/* the image's compressor; NULL: the format's default */
	int level;			/* 0: default */
	uint32_t block_size;		/* 0: default */
	char *initrd_compressor;	/* NULL: zstd (gzip for an ext2 initrd) */
	int initrd_level;		/* 0: default */
	char *append;			/* extra kernel command line; NULL: none */
	char *floppy;			/* [boot] floppy: yes, no; NULL: no */
	char *verity;			/* [image] verity: yes, no; NULL: no */
	char *uefi;			/* [boot] uefi: yes, no, auto (= yes) */
	char *sign_key, *sign_cert;	/* [boot] sign-key, sign-cert: PEM files; NULL: unsigned */
	char *findiso;			/* [boot] findiso: yes, no */
	char *initrd_format;		/* [initramfs] format: cpio, ext2; NULL: cpio */
	char *media;			/* [media] automount: auto, yes, no; NULL: auto */
	int timeout;			/* seconds; -1: default (5) */
	char *image_format;		/* [image] format: a registry row's name; NULL: squashfs */
	char *root_mode;		/* [layout] root-mode: overlay, symlink; NULL: overlay */
	char *read_only;		/* [layout] read-only: "/usr /bin ..."; NULL: default */
	/* [live]: the live user and system settings; NULL: the tree's */
	char *live_user;		/* user: default "user" */
	char *autologin;		/* yes, no; default yes */
	char *hostname, *locale, *keyboard, *timezone;
	/* The command line's only. */
	char *output, *config, *kernel, *modules, *init, *isolinux_dir, *syslinux_modules, *efi_root;
	int threads;			/* 0: all cores */
	int verbosity;			/* 0 -q, 1 normal, 2 -v */
	int help;
};

void mkl_config_init(struct mkl_config *cfg);
/* Parse a file into cfg (values found override what cfg holds). */
int mkl_config_load(struct mkl_config *cfg, const char *path, struct mkl_err *err);
/* Parse from memory; name is used in messages ("name:line: ..."). */
int mkl_config_parse(struct mkl_config *cfg, const char *name, const char *text, size_t len,
		     struct mkl_err *err);
void mkl_config_free(struct mkl_config *cfg);

#endif
