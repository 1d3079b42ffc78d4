/* mklive's cache: the one place that says where it is.
 *
 *   $MKLIVE_CACHE, else $XDG_CACHE_HOME/mklive, else $HOME/.cache/mklive
 *
 * What mklive downloads and keeps there, each in a directory of its own
 * (efi/ is filled beside it and renamed into place when whole:
 * mkl_dir_temp, mkl_dir_commit in tree/outfile.h):
 *
 *   efi/       Debian's signed shim and GRUB, as `dpkg -x` unpacks them
 *              (usr/lib/shim/..., usr/lib/grub/...), and the packages they
 *              came from in efi/debs/ (src/pipeline/efi.h, mklive fetch-efi)
 *   packages/  a recipe's downloaded packages and package lists, per suite,
 *              architecture and sources (src/source/recipe.h)
 *
 * scripts/fetch-boot.sh asks `mklive fetch-efi -q` where the cache is and
 * keeps the pieces the tests and the demo download beside (debian/, debs/).
 */
#ifndef MKL_CACHE_H
#define MKL_CACHE_H

#include "tree/err.h"

/* The cache's directory, from the environment (it need not exist yet);
 * malloc'd, or NULL with err when none of the three variables is set. */
char *mkl_cache_dir(struct mkl_err *err);

/* CACHE/NAME, malloc'd (NULL with err: out of memory). */
char *mkl_cache_path(const char *cache, const char *name, struct mkl_err *err);

#define MKL_CACHE_EFI "efi"
#define MKL_CACHE_PACKAGES "packages"

#endif
