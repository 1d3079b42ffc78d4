/* ISO 9660 writer (libisofs): level 3, Rock Ridge and Joliet, El Torito
 * no-emulation boot with a boot-info-table (isolinux), and an isohybrid
 * MBR so the same file boots when written to a USB stick.
 *
 * The image is described as a flat list of files; directories are implied
 * by the paths. Every timestamp in the image (volume descriptors, nodes,
 * Rock Ridge) is opts->time, so the output depends on the inputs only.
 */
#ifndef MKL_ISO_H
#define MKL_ISO_H

#include <stddef.h>
#include <stdint.h>

#include "tree/err.h"

struct mkl_iso_file {
	const char *path;	/* in the image: "live/filesystem.squashfs" */
	/* Content: either a memory buffer (mem, size) or, when mem is NULL,
	 * the whole of an open seekable fd (read with pread, not closed). */
	const void *mem;
	uint64_t size;
	int fd;
	uint32_t mode;		/* permission bits; 0 means 0444 */
	int first;		/* 1: its data goes before the others' (after the checksum list) */
	int nosum;		/* 1: not in opts->sums_path (libisofs changes it) */
	/* >0: the content (size bytes) lies in out_fd already, from this byte
	 * (a multiple of 2048, past the image's metadata); fd is out_fd. The
	 * file is laid out there (libisofs is given padding before it) and
	 * its bytes are read (for the checksum) but not written again. One
	 * file at most. */
	uint64_t placed;
	/* Its SHA-256 for opts->sums_path, made by the caller (NULL: hashed
	 * here as libisofs reads it). A placed file with its sum given is not
	 * read again but for its first block. */
	const unsigned char *sha256;
};

struct mkl_iso_opts {
	const char *volume_id;		/* label, 1..32 chars of [A-Z0-9_-] (checked) */
	const char *volume_set_id;	/* the medium ID the init looks for (<= 128 chars) */
	const char *application_id;	/* "MKLIVE ..." (<= 128 chars) */
	int64_t time;			/* every timestamp in the image */
	/* El Torito (BIOS, no emulation). NULL: no boot record. */
	const char *boot_image;		/* "isolinux/isolinux.bin" (one of files) */
	const char *boot_catalog;	/* "isolinux/boot.cat" (made by libisofs) */
	/* UEFI: a FAT image among the files ("boot/grub/efi.img") becomes a
	 * second El Torito entry (platform 0xEF) and, with the isohybrid MBR,
	 * a GPT partition, so firmware finds it on a CD and on a USB stick.
	 * NULL: BIOS only. */
	const char *efi_image;
	/* Legacy boot floppy: a 1.44 MB image among the files (mklive floppy's,
	 * "boot/floppy.img") becomes the default El Torito entry, in floppy
	 * emulation, and boot_image a second BIOS entry for firmware that lets
	 * the user choose. No isohybrid MBR then (it starts isolinux): the
	 * image boots from CD only. NULL: no floppy. */
	const char *floppy_image;
	/* GPT disk GUID; all zero: derived from the volume times. */
	unsigned char gpt_guid[16];
	/* isohybrid MBR template (syslinux's isohdpfx.bin, 432 bytes); NULL: none. */
	const void *mbr_template;
	size_t mbr_template_size;
	/* The medium's checksums: a file at this path ("sha256sum.txt") in
	 * sha256sum(1)'s format ("HASH  ./path"), one line per file in the
	 * order given, files with .nosum left out. Each file is hashed while
	 * libisofs streams it into the image; the list is the first file data
	 * on the medium (before a placed file and .first files), written over
	 * a placeholder of its size once the image is complete, so out_fd
	 * must be seekable. NULL: none. */
	const char *sums_path;
};

/* Check a volume label without writing anything (for early errors). */
int mkl_iso_check_label(const char *label, struct mkl_err *err);

/* Progress: called with bytes written so far and the image size. */
typedef void (*mkl_progress_fn)(void *ctx, uint64_t done, uint64_t total);

/* Write the image to out_fd (positioned at 0, will be truncated to size). */
int mkl_iso_write(int out_fd, const struct mkl_iso_opts *opts, const struct mkl_iso_file *files,
		  size_t nfiles, mkl_progress_fn progress, void *progress_ctx, struct mkl_err *err);

#endif
