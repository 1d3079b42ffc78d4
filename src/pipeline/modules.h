/* Kernel module selection for the initramfs (see modules.c). */
#ifndef MKL_MODULES_H
#define MKL_MODULES_H

#include <stdbool.h>
#include <stddef.h>

#include "tree/err.h"

struct mkl_modsel {
	char **paths;		/* relative to lib/modules/<version>/, in modules.dep order */
	size_t npaths;
	char *dep_text;		/* filtered modules.dep */
	size_t dep_len;
	char *alias_text;	/* filtered modules.alias */
	size_t alias_len;
	char **missing;		/* wanted names neither in modules.dep nor built in */
	size_t nmissing;
};

extern const char *const mkl_boot_modules[];
extern const char *const mkl_boot_modules_always[];
/* The disks' filesystems for findiso= (in the initramfs, loaded only then). */
extern const char *const mkl_findiso_modules[];
/* With --verity: device-mapper's verity target (dm-bufio and reed_solomon
 * come from modules.dep) and the x86 SHA-256 (SSSE3/AVX2/SHA-NI: the
 * kernel's generic one is built in, several times slower); loaded early. */
extern const char *const mkl_verity_modules[];
extern const char *const mkl_uki_modules[];

int mkl_modules_select(const char *dep, size_t dep_len, const char *alias, size_t alias_len,
		       const char *builtin, size_t builtin_len, const char *const *wanted,
		       struct mkl_modsel *sel, struct mkl_err *err);
void mkl_modsel_free(struct mkl_modsel *sel);

#endif
