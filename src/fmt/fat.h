/* FAT12/FAT16 image writer with VFAT long names, for the EFI system
 * partition (and the legacy 1.44 MB El Torito floppy image).
 *
 * The input is a flat list of files described in memory; directories are
 * implied by the paths ("EFI/BOOT/BOOTX64.EFI" makes EFI and EFI/BOOT), and
 * an entry whose path ends in '/' makes an (empty) directory.
 *
 * The image is reproducible: the serial is opts->serial, every time stamp
 * is opts->time (UTC, clamped to 1980-01-01 .. 2107-12-31), directory
 * entries are sorted by name (byte order of the UTF-8 names), clusters are
 * allocated contiguously in that order (each directory, then its entries,
 * depth first), and every byte of the image is written (zero where unused).
 *
 * Names: a name that is a valid upper-case 8.3 name is stored as a short
 * name only. A valid 8.3 name whose base and extension are each all lower
 * or all upper case ("bootx64.efi", "README.txt") is stored as a short name
 * with the NT case bits (0x08 base lower, 0x10 extension lower), as Windows
 * NT and Linux do; every other name gets VFAT long-name entries (UCS-2,
 * surrogate pairs for characters beyond U+FFFF) and a generated short name
 * "BASIS~N" (N counts up from 1, unique in its directory). Two names that
 * are equal ignoring case (ASCII and Latin-1 letters) are an error, as are
 * names with control characters or any of " * / : < > ? \ |, names ending
 * in '.' or ' ', and names longer than 255 UTF-16 units.
 *
 * The FAT type follows from the cluster count (< 4085 clusters: FAT12,
 * else FAT16), as the specification says; the cluster size is the smallest
 * (from 512 bytes) that gives a valid FAT12/16 volume within 32 MiB.
 */
#ifndef MKL_FAT_H
#define MKL_FAT_H

#include <stddef.h>
#include <stdint.h>

#include "source/source.h"
#include "tree/err.h"
#include "tree/io.h"

#define MKL_FAT_MAX_SIZE (32u << 20)	/* what El Torito EFI images may be */
/* The signed chain's ESP may be larger (its UKI holds the kernel and the
 * initramfs): FAT16 with larger clusters; see docs/ARCHITECTURE.md,
 * "Signed boot". */
#define MKL_FAT_MAX_SIGNED (256u << 20)
#define MKL_FAT_FLOPPY_SIZE 1474560u

struct mkl_fat_file {
	const char *path;	/* "EFI/BOOT/BOOTX64.EFI"; "EFI/empty/" for a directory */
	const void *mem;	/* contents when fd is -1 (may be NULL when size is 0) */
	uint64_t size;		/* bytes; exactly this many are read from fd */
	int fd;			/* >= 0: read with pread from offset 0; -1: mem or spool */
	const struct mkl_spool *spool;	/* fd -1 and mem NULL: rec's bytes in spool */
	const struct mkl_spool_rec *rec;
};

struct mkl_fat_opts {
	const char *label;	/* volume label, up to 11 chars, upper case; NULL: none */
	uint32_t serial;	/* volume serial number */
	int64_t time;		/* seconds since the epoch, for every time stamp */
	uint64_t min_size;	/* 0: sized to the content; else at least this many bytes */
	uint64_t max_size;	/* 0: MKL_FAT_MAX_SIZE (32 MiB); else at most this many */
	int floppy;		/* 1: exactly a 1.44 MB FAT12 floppy (2880 sectors,
				 * 18 sectors/track, 2 heads, media 0xF0) */
	/* Boot code (optional; NULL: a boot sector that asks the BIOS for the
	 * next boot device). boot_code_size is a multiple of 512: the first
	 * sector becomes the boot sector (its bytes 3..61 are replaced by the
	 * BPB, 510..511 by 0x55AA), the others are reserved sectors between
	 * the boot sector and the FAT. boot_patch, when set, is called once
	 * the layout is planned with a copy of the code to fill in, and the
	 * first sector of each of files[] (0: a directory or an empty file);
	 * files are always contiguous. */
	const uint8_t *boot_code;
	size_t boot_code_size;
	int (*boot_patch)(void *ctx, uint8_t *code, size_t size, const uint32_t *first_sector,
			  size_t n, struct mkl_err *err);
	void *boot_ctx;
};

/* Write the image to out_fd (sequentially, from its current position).
 * Fails with a message when a name is invalid or two collide, when the
 * content does not fit (32 MiB, or the floppy), or on a read/write error. */
int mkl_fat_write(int out_fd, const struct mkl_fat_opts *opts, const struct mkl_fat_file *files,
		  size_t n, struct mkl_err *err);

/* Check a volume label: 1..11 characters valid in a short name (upper-case
 * letters, digits, space inside, ! # $ % & ' ( ) - @ ^ _ ` { } ~). */
int mkl_fat_check_label(const char *label, struct mkl_err *err);

/* A tree from a source (src/source: a directory or a tar, read once) as a
 * list for mkl_fat_write: every directory as a "path/" entry, regular
 * files with their contents in a scratch spool (beside scratch_near, or in
 * $TMPDIR when NULL), hard links as files of their own, and a symbolic
 * link to a file as that file (resolved in the tree, as the booted system
 * would). A link to a directory or to nothing, a device, fifo or socket is
 * an error naming name/path (name: the source as the user gave it). The
 * list is in pre-order, each directory sorted. Content of more than 32 MiB
 * is refused as it is read. */
struct mkl_fat_input {
	struct mkl_fat_file *files;
	size_t n;
	/* private */
	struct mkl_tree *tree;
	struct mkl_spool spool;
	size_t cap;
};

int mkl_fat_input_read(struct mkl_fat_input *in, struct mkl_source *src, const char *name,
		       const char *scratch_near, struct mkl_err *err);
/* Free the list and the spool; accepts a zeroed or never-read input. */
void mkl_fat_input_free(struct mkl_fat_input *in);

#endif
