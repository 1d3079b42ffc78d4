/* The legacy boot floppy (see floppy.h): the FAT writer with our loader in
 * the reserved sectors, patched with where the kernel and initrd landed.
 *
 * The parameter block is the loader's second sector (floppy_boot.S):
 *   +0   "MKLFLOP1"
 *   +8   kernel: first sector (LBA), size in bytes   (little endian u32)
 *   +16  initrd: first sector, size in bytes (size 0: none)
 *   +24  kernel command line, NUL-terminated, MKL_FLOPPY_CMDLINE_MAX + 1 bytes
 */
#include "fmt/floppy.h"
#include "fmt/fat.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#define SECTOR 512u
#define PARAMS 512u
#define FLOPPY_SECTORS 2880u
#define FAT_SECTORS (2 * 9u)	/* two FATs of 9 sectors (fat.c's floppy) */
#define ROOT_SECTORS 14u	/* 224 entries */
#define MAGIC "MKLFLOP1"

static size_t loader_size(void)
{
	/* Two symbols of floppy_boot.S, not one C object: compare addresses. */
	return (size_t)((uintptr_t)mkl_floppy_loader_end - (uintptr_t)mkl_floppy_loader);
}

uint64_t mkl_floppy_capacity(void)
{
	return (uint64_t)(FLOPPY_SECTORS - loader_size() / SECTOR - FAT_SECTORS - ROOT_SECTORS) * SECTOR;
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

int mkl_floppy_check_kernel(const void *kernel, size_t size, const char *what, struct mkl_err *err)
{
	const unsigned char *k = kernel;
	unsigned setup;

	if (size < 0x264 || k[0x1fe] != 0x55 || k[0x1ff] != 0xaa || memcmp(k + 0x202, "HdrS", 4))
		return mkl_error(err, 0, "'%s' is not an x86 Linux kernel image (no boot protocol header)",
				 what);
	if ((k[0x206] | k[0x207] << 8) < 0x0202)
		return mkl_error(err, 0, "'%s' uses x86 boot protocol %u.%02u; the boot floppy needs 2.02 "
				 "or later", what, k[0x207], k[0x206]);
	if (!(k[0x211] & 1))
		return mkl_error(err, 0, "'%s' is a zImage (loaded low); the boot floppy needs a bzImage", what);
	setup = k[0x1f1] ? k[0x1f1] : 4;
	if ((uint64_t)(setup + 1) * SECTOR >= size)
		return mkl_error(err, 0, "'%s' is shorter than its %u setup sectors", what, setup);
	return 0;
}

struct patch {
	const struct mkl_floppy_opts *o;
};

static int patch(void *ctx, uint8_t *code, size_t size, const uint32_t *first, size_t n,
		 struct mkl_err *err)
{
	const struct mkl_floppy_opts *o = ((struct patch *)ctx)->o;
	unsigned char *p = code + PARAMS;
	const char *cmd = o->cmdline ? o->cmdline : "";

	if (size < PARAMS + 24 + MKL_FLOPPY_CMDLINE_MAX + 1 || memcmp(p, MAGIC, 8) || n < 1)
		return mkl_error(err, EINVAL, "the boot floppy's loader has no parameter block");
	put32(p + 8, first[0]);
	put32(p + 12, (uint32_t)o->kernel_size);
	put32(p + 16, n > 1 ? first[1] : 0);
	put32(p + 20, n > 1 ? (uint32_t)o->initrd_size : 0);
	memset(p + 24, 0, MKL_FLOPPY_CMDLINE_MAX + 1);
	memcpy(p + 24, cmd, strlen(cmd));
	/* The loader reads what it was given: check it reads back. */
	if (get32(p + 8) != first[0] || get32(p + 12) != o->kernel_size)
		return mkl_error(err, EINVAL, "cannot record the kernel's place in the loader");
	return 0;
}

static double mb(uint64_t n)
{
	return (double)n / 1e6;
}

int mkl_floppy_write(int out_fd, const struct mkl_floppy_opts *o, struct mkl_err *err)
{
	uint64_t need, cap = mkl_floppy_capacity();
	struct mkl_fat_file files[2];
	struct patch ctx = { o };
	struct mkl_fat_opts fo = {
		.label = o->label ? o->label : "MKLIVE",
		.serial = o->serial,
		.time = o->time,
		.floppy = 1,
		.boot_code = mkl_floppy_loader,
		.boot_code_size = loader_size(),
		.boot_patch = patch,
		.boot_ctx = &ctx,
	};
	size_t n = 1;

	if (fo.boot_code_size % SECTOR || fo.boot_code_size < 2 * SECTOR ||
	    fo.boot_code_size > 18 * SECTOR)
		return mkl_error(err, EINVAL, "the boot floppy's loader is %zu bytes; it must be whole "
				 "sectors on the first track", fo.boot_code_size);
	if (mkl_floppy_check_kernel(o->kernel, o->kernel_size, "the kernel", err))
		return -1;
	if (o->cmdline && strlen(o->cmdline) > MKL_FLOPPY_CMDLINE_MAX)
		return mkl_error(err, EINVAL, "the kernel command line has %zu bytes; the boot floppy "
				 "holds %u", strlen(o->cmdline), MKL_FLOPPY_CMDLINE_MAX);
	need = (o->kernel_size + SECTOR - 1) / SECTOR * SECTOR;
	if (o->initrd)
		need += (o->initrd_size + SECTOR - 1) / SECTOR * SECTOR;
	if (need > cap) {
		if (o->initrd)
			return mkl_error(err, 0, "the kernel (%.2f MB) and the initrd (%.2f MB) do "
					 "not fit on a 1.44 MB floppy, which holds %.2f MB for them",
					 mb(o->kernel_size), mb(o->initrd_size), mb(cap));
		return mkl_error(err, 0, "the kernel (%.2f MB) does not fit on a 1.44 MB floppy, "
				 "which holds %.2f MB for it", mb(o->kernel_size), mb(cap));
	}
	files[0] = (struct mkl_fat_file){ .path = "vmlinuz", .mem = o->kernel,
					  .size = o->kernel_size, .fd = -1 };
	if (o->initrd)
		files[n++] = (struct mkl_fat_file){ .path = "initrd.img", .mem = o->initrd,
						    .size = o->initrd_size, .fd = -1 };
	return mkl_fat_write(out_fd, &fo, files, n, err) ? mkl_err_prefix(err, "writing the boot floppy") : 0;
}
