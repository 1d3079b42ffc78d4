/* What the pipeline's files share (build.c, initramfs.c, medium.c); not
 * for use outside src/pipeline/.
 *
 *   build.c      the pass over the source into the image writers, the
 *                files the build adds to the tree, the medium ID, mkl_build
 *   initramfs.c  the kernel, the module selection and the initramfs (or the
 *                article's ext2 initrd)
 *   medium.c     what goes on the ISO besides the image: boot loaders,
 *                menus, the ESP, the boot floppy, the checksums; the ISO
 */
#ifndef MKL_PIPELINE_INTERNAL_H
#define MKL_PIPELINE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pipeline/build.h"
#include "pipeline/image.h"
#include "pipeline/layout.h"
#include "source/source.h"
#include "tree/io.h"
#include "tree/tree.h"
#include "fmt/fat.h"

struct mkl_signer;

/* Where file contents go while the source is read: the image (all of the
 * tree in overlay mode, the read-only directories in symlink mode) and the
 * writable root (symlink mode, always squashfs). */
enum { PART_IMAGE, PART_RW, NPARTS };
#define RWIMAGE_PATH "live/root.squashfs"

struct build {
	const struct mkl_build_opts *o;
	const struct mkl_image_format *fmt;	/* the image's */
	struct mkl_source *src;
	struct mkl_tree *tree;		/* the input, whole */
	struct mkl_layout layout;	/* symlink mode */
	struct mkl_layout_split split;
	struct mkl_image *part[NPARTS];
	uint64_t hash;			/* the medium ID, as the input is read */
	char *append;			/* every entry's extra arguments: opts->append,
					 * after root= for an ext2 initrd */
	struct mkl_build_result *res;
	struct image_sum *isum;		/* the image's SHA-256 in the making (medium.c) */
	struct mkl_buf shim, grub;	/* UEFI: read before anything is written */
	/* Signed UEFI boot (opts sign_key): the key and the EFI files, read
	 * before anything is written (uki.c); NULL signer: not signed. */
	struct mkl_signer *signer;
	struct mkl_buf stub, sdboot, mokmanager;
	/* Compressing ahead in a recipe's tree (build.c): the directory
	 * mmdebstrap named, from its thread, until the image is open; closed
	 * once the first entry is read. Under ahead_mu. */
	pthread_mutex_t ahead_mu;
	char *ahead_dir;
	bool ahead_closed;
};

void build_note(struct build *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A regular file of the tree, read back from the part that holds it. */
int build_read_node(struct build *b, struct mkl_node *n, const char *what, struct mkl_buf *out,
		    struct mkl_err *err);

/* initramfs.c */
int build_find_kernel(struct build *b, struct mkl_buf *kernel, char *version, size_t vsize,
		      struct mkl_err *err);
int build_initramfs(struct build *b, const char *kver, struct mkl_buf *out, struct mkl_err *err);

/* medium.c: the finished image's SHA-256 for the medium's checksums, made
 * on a thread of its own from build_sum_image (while the initramfs is
 * made) to build_sum_image_wait, which every path that started it calls:
 * 0 and the sum, or -1 with err. */
int build_sum_image(struct build *b, struct mkl_err *err);
int build_sum_image_wait(struct build *b, const unsigned char **sum, struct mkl_err *err);
/* medium.c: Debian's signed shim and GRUB, found (pipeline/efi.h) and
 * read into b->shim, b->grub before the build writes anything; 0 when
 * UEFI is off. */
int build_find_uefi(struct build *b, struct mkl_err *err);
/* uki.c: for a signed image, the key and certificate loaded and checked
 * and shim, MokManager, systemd-boot and systemd's stub read (called by
 * build_find_uefi); and the ESP's files of the signed chain: shim,
 * MokManager, systemd-boot (signed), its loader.conf, one signed UKI with
 * the default entry's command line (MKL_UKI_PATH: outside EFI/Linux, which
 * systemd-boot would list as an entry of its own), one loader/entries file
 * per menu entry that starts it, the certificate in DER (MKL_UKI_CERT). */
#define MKL_UKI_CERT "mklive.cer"
#define MKL_UKI_PATH "EFI/mklive/mklive.efi"
#define MKL_ENTRY_MAX 8
struct signed_esp {
	struct mkl_fat_file files[6 + MKL_ENTRY_MAX];
	size_t n;
	struct mkl_buf sdboot, cert, uki;
	char *loader_conf, *entry[MKL_ENTRY_MAX], names[MKL_ENTRY_MAX][64];
	uint64_t uki_bytes;
};
int build_find_signing(struct build *b, struct mkl_err *err);
int build_signed_esp(struct build *b, const struct mkl_buf *kernel, const struct mkl_buf *initrd,
		     struct signed_esp *e, struct mkl_err *err);
void build_signed_esp_free(struct signed_esp *e);
void build_signing_free(struct build *b);
/* medium.c: the ISO, written to fd. */
int build_write_iso(struct build *b, int fd, const struct mkl_buf *kernel, const struct mkl_buf *initrd,
		    struct mkl_err *err);

#endif
