/* cpio "newc" (SVR4, no CRC) writer, as the kernel's initramfs unpacker
 * reads it. Records are made reproducible here: inode numbers count up from
 * 1 in the order entries are added (hard links are not used), nlink is 1 for
 * files and 2 for directories, dev/rdevmajor/minor as given, mtime as given.
 * Output goes to a sink (typically an mkl_cstream).
 */
#ifndef MKL_CPIO_H
#define MKL_CPIO_H

#include <stddef.h>
#include <stdint.h>

#include "tree/err.h"

struct mkl_cpio;

int mkl_cpio_create(mkl_sink_fn sink, void *ctx, struct mkl_cpio **out, struct mkl_err *err);

/* Add one entry. path is relative ("init", "lib/modules/..."); mode is a
 * full st_mode. Regular files: data/len; symlinks: data is the target text. */
int mkl_cpio_add(struct mkl_cpio *c, const char *path, uint32_t mode, uint32_t uid, uint32_t gid,
		 uint64_t rdev, int64_t mtime, const void *data, size_t len, struct mkl_err *err);

/* Write the TRAILER!!! record and pad to 512 bytes. */
int mkl_cpio_finish(struct mkl_cpio *c, struct mkl_err *err);
void mkl_cpio_destroy(struct mkl_cpio *c);	/* accepts NULL */

#endif
