/* UEFI boot files: Debian's signed shim and CD GRUB, where a build finds
 * them and how mklive's cache gets them.
 *
 * A build that boots UEFI (the default) takes both files from one place,
 * the first that has both:
 *   1. efi_root (--efi-root DIR), or the host's / when none is given
 *      (the packages shim-signed and grub-efi-amd64-signed installed);
 *   2. mklive's cache, CACHE/efi (src/pipeline/cache.h), which
 *      mkl_efi_fetch fills (mklive fetch-efi; scripts/fetch-boot.sh for
 *      make check and make demo) without installing anything; a recipe
 *      build, which downloads its packages anyway, fills it itself when
 *      neither place has them (build_find_uefi in medium.c).
 * Found nowhere, the build fails before it writes anything, saying where it
 * looked, which packages hold the files, how to fill the cache and that
 * --uefi no makes a BIOS-only image: never a silent BIOS-only image.
 *
 * Only the two files are used: shim (removable-media loader, signed by
 * Microsoft's UEFI CA) runs GRUB (signed by Debian), which checks the
 * kernel through shim. shim-signed's dependencies (shim-helpers-amd64-signed
 * with MokManager and fallback, mokutil, grub-efi-amd64-bin, ...) are for
 * installing a boot loader on a disk, not for a live medium, and are not
 * downloaded.
 */
#ifndef MKL_EFI_H
#define MKL_EFI_H

#include <stdbool.h>
#include <stddef.h>

#include "tree/err.h"

#define MKL_EFI_SHIM "usr/lib/shim/shimx64.efi.signed"
#define MKL_EFI_GRUB "usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed"
#define MKL_EFI_SHIM_PKG "shim-signed"
#define MKL_EFI_GRUB_PKG "grub-efi-amd64-signed"
/* For signed images (--sign-key, --sign-cert): systemd's EFI stub and
 * systemd-boot (Debian 12 ships both unsigned: we sign them) and shim's
 * MokManager (signed by Debian), from the same root as shim. */
#define MKL_EFI_STUB "usr/lib/systemd/boot/efi/linuxx64.efi.stub"
#define MKL_EFI_SDBOOT "usr/lib/systemd/boot/efi/systemd-bootx64.efi"
#define MKL_EFI_MOKMANAGER "usr/lib/shim/mmx64.efi.signed"
#define MKL_EFI_SDBOOT_PKG "systemd-boot-efi"
#define MKL_EFI_MOKMANAGER_PKG "shim-helpers-amd64-signed"

enum mkl_efi_from {
	MKL_EFI_FROM_HOST,	/* "/": no efi_root given */
	MKL_EFI_FROM_ROOT,	/* the efi_root given */
	MKL_EFI_FROM_CACHE,	/* mklive's cache */
};

/* Where both files are: efi_root (NULL: the host's /), then the cache's
 * efi/ (cache NULL: mklive has no cache, see mkl_cache_dir). 0 with *root
 * (malloc'd: the directory the two paths above are under) and *from; -1
 * with err: found nowhere (err->code ENOENT; the message is the one a user
 * reads, see above), or out of memory. */
int mkl_efi_find(const char *efi_root, const char *cache, char **root, enum mkl_efi_from *from,
		 struct mkl_err *err);
/* The same for a signed image, which needs the three files above besides
 * shim (GRUB is not used): the first place with all of them. */
int mkl_efi_find_signing(const char *efi_root, const char *cache, char **root, enum mkl_efi_from *from,
			 struct mkl_err *err);

/* What mkl_efi_fetch did. */
struct mkl_efi_fetched {
	char *dir;		/* CACHE/efi, an efi_root */
	bool downloaded;	/* false: the cache held both files already */
	/* "shim-signed 1.51~1+deb12u1+16.1-2~deb12u1", from the package
	 * files kept in DIR/debs ("" when they are not there). */
	char shim[160], grub[160];
};

/* Fill mklive's cache (cache: mkl_cache_dir's) with the files, unless
 * it holds them all already and refresh is false: `apt-get download` of
 * shim-signed and grub-efi-amd64-signed, and for signed images
 * systemd-boot-efi and shim-helpers-amd64-signed (amd64, from the host's apt
 * sources and package lists) and `dpkg -x` of each, as child processes,
 * into a new directory beside CACHE/efi that then takes its place. No root
 * needed, nothing installed, nothing printed: a failing step's own words
 * are in the error, and nothing is left of a failed or cancelled fetch.
 * 0, or -1 with err. res->dir is malloc'd even on failure (or NULL). */
int mkl_efi_fetch(const char *cache, bool refresh, struct mkl_efi_fetched *res, struct mkl_err *err);
void mkl_efi_fetched_free(struct mkl_efi_fetched *res);

/* Does this PE image (an EFI program, an x86 Linux kernel with its EFI
 * stub) carry an Authenticode signature (a PKCS#7 entry in its certificate
 * table)? Whether a key the firmware or shim trusts made it is not
 * checked. */
bool mkl_pe_signed(const void *data, size_t len);

#endif
