/* The pipeline: a source tree becomes a bootable ISO.
 *
 *   source ──► tree + squashfs (one pass, contents streamed, never held)
 *          ──► kernel + modules read back from the squashfs
 *          ──► initramfs (cpio newc: mklive-init, modules, their index)
 *          ──► boot menu ──► ISO (libisofs, El Torito + isohybrid)
 *
 * Output is written to an unnamed temporary file in the output's directory
 * and given its name only when complete: a failed or cancelled build leaves
 * no partial file behind.
 */
#ifndef MKL_BUILD_H
#define MKL_BUILD_H

#include <stdbool.h>
#include <stdint.h>

#include "codec/codec.h"
#include "pipeline/efi.h"
#include "pipeline/image.h"
#include "tree/err.h"

struct mkl_recipe;

enum mkl_phase {
	MKL_PHASE_SQUASHFS,	/* reading the source, compressing */
	MKL_PHASE_INITRAMFS,
	MKL_PHASE_ISO,		/* writing the ISO */
};

enum mkl_root_mode {
	MKL_ROOT_OVERLAY,	/* the whole tree in the image, tmpfs overlay on top */
	MKL_ROOT_SYMLINK,	/* tmpfs root with links to the image on /ro (the article's) */
};

struct mkl_build_opts {
	const char *source;		/* directory or tar; with a recipe, what to call it */
	const struct mkl_recipe *recipe;	/* non-NULL: the tree is made by mmdebstrap
						 * (source/recipe.h) instead */
	const char *output;		/* the ISO */
	const char *label;		/* volume label; NULL: "MKLIVE" */
	/* The image: its format (a row of mkl_image_formats; NULL: the first,
	 * squashfs) and compressor, level, block size, threads (the build sets
	 * the rest). The writable root of symlink mode is squashfs, with these
	 * settings when the image is squashfs too. */
	const struct mkl_image_format *image_format;
	struct mkl_image_opts image;
	enum mkl_root_mode root_mode;
	const char *read_only;		/* symlink mode: "/usr /bin ..."; NULL: the default list */
	enum mkl_initrd_format {
		MKL_INITRD_CPIO,	/* an initramfs (newc), unpacked into rootfs */
		MKL_INITRD_EXT2,	/* the article's: an ext2 image with /linuxrc,
					 * for kernels with the RAM disk driver built in */
	} initrd_format;
	enum mkl_codec_id initrd_codec;
	int initrd_level;		/* 0: default (zstd 9, others the codec's) */
	const char *append;		/* extra kernel arguments for every entry */
	int timeout;			/* menu timeout, seconds */
	const char *kernel;		/* host path; NULL: from the tree */
	const char *modules;		/* host dir lib/modules/<version>; NULL: from the tree */
	const char *init;		/* host path of mklive-init */
	const char *isolinux_dir;	/* isolinux.bin, isohdpfx.bin */
	const char *syslinux_modules;	/* ldlinux.c32, menu.c32, libutil.c32, libcom32.c32 */
	/* UEFI: Debian's signed shim and GRUB (the CD image, gcdx64), found
	 * under efi_root (NULL: the host's /), else in mklive's cache
	 * (pipeline/efi.h says where and why). The same chain boots with
	 * Secure Boot on and off. Not found, the build fails before it
	 * writes anything; only uefi 0 makes a BIOS-only image. */
	const char *efi_root;		/* NULL: "/" */
	const char *cache;		/* mklive's cache (mkl_cache_dir); NULL: none */
	int uefi;			/* 0 no (BIOS only); else yes (-1, "auto", is the same) */
	/* Signed UEFI boot (both or neither; PEM; needs uefi): shim, then
	 * systemd-boot and one UKI per menu entry, signed with this key
	 * (pipeline/uki.c). Loaded and checked before anything is written. */
	const char *sign_key, *sign_cert;
	/* Legacy: the BIOS boots a 1.44 MB floppy image (El Torito floppy
	 * emulation, fmt/floppy.h) with the kernel and initramfs on it; isolinux
	 * stays as a second entry; no isohybrid MBR (CD only). Needs a kernel
	 * and initramfs that fit, about 1.4 MB together. */
	bool floppy;
	/* The ISO as a file on a disk (findiso=): the disks' filesystems
	 * (mkl_findiso_modules) in the initramfs and /boot/grub/loopback.cfg
	 * on the medium. */
	bool findiso;
	/* /media/list: mklive-media (media_program, a host path) installed as
	 * /usr/lib/mklive/mklive-media with an auto.master.d entry, a udev
	 * rule and the /media/list link. -1: when the tree has autofs. */
	int media;
	const char *media_program;
	/* mklive-helper (a host path), in the initramfs as /mklive-helper:
	 * the init runs it at first boot with `persistence` to make the
	 * persistence partition beside the image (src/helper/). NULL: left
	 * out, and the init says it cannot make one. */
	const char *helper_program;
	/* [live]: the live user and the system's settings, written into the
	 * init's /mklive.conf; the init writes them into the root at boot
	 * (mklive-init(7)). NULL: the tree's (user: none made). */
	struct mkl_live_opts {
		const char *user, *hostname, *locale, *keyboard, *timezone;
		bool autologin;
	} live;
	int64_t time;			/* SOURCE_DATE_EPOCH, or now */

	/* Reporting (optional). progress: bytes done/total of a phase.
	 * note: one line of explanation for -v. warn: something the image
	 * will not carry as the input has it (the format's limits, when the
	 * tree has what they name); the build goes on. */
	void (*progress)(void *ctx, enum mkl_phase phase, uint64_t done, uint64_t total);
	void (*note)(void *ctx, const char *msg);
	void (*warn)(void *ctx, const char *msg);
	void *ctx;
};

struct mkl_build_result {
	char medium_id[64];
	char kernel_version[128];
	uint64_t squashfs_bytes;	/* the compressed image (squashfs or cloop) */
	uint64_t rw_bytes;		/* the writable root (symlink mode) */
	uint64_t initrd_bytes, iso_bytes, input_bytes;
	size_t ro_dirs;			/* symlink mode: directories in the image */
	bool uefi;			/* the image boots with UEFI too */
	bool kernel_signed;		/* the kernel carries a signature (Secure Boot) */
	bool signed_uki;		/* UEFI boots a signed UKI (sign_key) */
	uint64_t uki_bytes;		/* its size */
	char efi_root[4096];		/* where shim and GRUB came from, when uefi */
	enum mkl_efi_from efi_from;
	bool floppy;			/* the BIOS boots the floppy entry */
	bool media;			/* /media/list is set up in the image */
	uint64_t esp_bytes;
	size_t entries, modules;
	size_t hardlinks;		/* names that are hard links to an earlier one, in the image */
};

int mkl_build(const struct mkl_build_opts *opts, struct mkl_build_result *res, struct mkl_err *err);

/* Pieces, exposed for tests. */


/* The isolinux configuration for the boot menu; malloc'd. */
char *mkl_isolinux_cfg(const char *label, const char *append, int timeout);
/* GRUB's (UEFI), with the same entries; finds the medium by its ID. */
char *mkl_grub_cfg(const char *label, const char *append, int timeout, const char *id);
char *mkl_grub_esp_cfg(const char *id);
char *mkl_grub_loopback_cfg(const char *label, const char *append, int timeout);
/* The boot floppy's kernel command line: the default entry's. */
char *mkl_floppy_cmdline(const char *append);
/* The menu's entries (every menu has them all, in this order): how many,
 * and entry i's id ("live", "toram", ...), title suffix and whole kernel
 * command line (malloc'd; NULL past the last or out of memory). */
size_t mkl_menu_count(void);
char *mkl_menu_entry(size_t i, const char *append, const char **id, const char **title);
/* The signed image's systemd-boot menu (see bootmenu.c): entry i's file
 * name in loader/entries (its id; -1 past the last), its text (booting
 * the UKI at path uki on the ESP), the table of every entry's arguments
 * for the initramfs's /mklive.conf, and loader.conf. malloc'd. */
int mkl_sdboot_entry_name(size_t i, char *buf, size_t size);
char *mkl_sdboot_entry(size_t i, const char *label, const char *uki);
char *mkl_sdboot_choices(void);
char *mkl_sdboot_loader_conf(int timeout, const char *default_entry);

#endif
