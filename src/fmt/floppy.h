/* The legacy boot floppy: a 1.44 MB FAT12 image that boots a Linux kernel
 * (and an initrd) with a loader of our own, as live CDs did when the El
 * Torito entry was a floppy image and kernels were a megabyte.
 *
 * The image is made by the FAT writer (fat.h) with the loader of
 * floppy_boot.S in its reserved sectors and two files, "vmlinuz" and
 * "initrd.img"; the loader finds them by the sector numbers written into
 * it (no file system code in the boot sector), so a floppy edited by hand
 * afterwards no longer boots: write it again with mklive floppy.
 *
 * The kernel must be an x86 bzImage with boot protocol 2.02 or later, and
 * kernel and initrd must fit in the 1,455,104 bytes the floppy has for
 * them (mkl_floppy_capacity). Debian's kernels (8 MB) do not: this is for small, custom kernels.
 */
#ifndef MKL_FLOPPY_H
#define MKL_FLOPPY_H

#include <stddef.h>
#include <stdint.h>

#include "tree/err.h"

#define MKL_FLOPPY_CMDLINE_MAX 1023	/* bytes of kernel command line */

struct mkl_floppy_opts {
	const void *kernel;		/* the bzImage */
	size_t kernel_size;
	const void *initrd;		/* NULL: none */
	size_t initrd_size;
	const char *cmdline;		/* NULL: empty */
	const char *label;		/* FAT volume label; NULL: "MKLIVE" */
	uint32_t serial;		/* FAT volume serial */
	int64_t time;			/* every time stamp */
};

/* Bytes the floppy holds for the kernel and initrd together (each
 * rounded up to 512). */
uint64_t mkl_floppy_capacity(void);

/* Check that a kernel image is a bzImage the loader can start (x86 boot
 * protocol 2.02 or later, loaded high); what names it in the message. */
int mkl_floppy_check_kernel(const void *kernel, size_t size, const char *what, struct mkl_err *err);

/* Write the 1.44 MB image to out_fd. Fails with a message naming the
 * sizes when kernel and initrd do not fit. */
int mkl_floppy_write(int out_fd, const struct mkl_floppy_opts *opts, struct mkl_err *err);

/* The loader (floppy_boot.S): whole sectors, the first is the boot sector. */
extern const unsigned char mkl_floppy_loader[], mkl_floppy_loader_end[];

#endif
