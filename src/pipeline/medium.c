/* The ISO around the image: isolinux and its menu, the UEFI chain in an
 * ESP, the legacy boot floppy, the kernel and initramfs, the medium's
 * checksums; written with libisofs (src/fmt/iso.c). */
#include "pipeline/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fmt/digest.h"
#include "pipeline/efi.h"
#include "fmt/fat.h"
#include "fmt/floppy.h"
#include "fmt/iso.h"
#include "pipeline/verify.h"
#include "tree/outfile.h"

#define SUMS_PATH MKL_SUMS_PATH

static void iso_progress(void *ctx, uint64_t done, uint64_t total)
{
	const struct mkl_build_opts *o = ctx;

	o->progress(o->ctx, MKL_PHASE_ISO, done, total);
}

/* The image's checksum is the last serial step on 200 MB that the ISO
 * writer would otherwise take (SHA-256 at about 1.6 GB/s here, plus the
 * read back through libisofs): made instead on a thread beside the
 * initramfs, once the image is final, and handed to the ISO writer, which
 * then reads only the placed image's first block. */
struct image_sum {
	pthread_t thread;
	int fd;
	uint64_t at, size;
	const char *what;
	int rc;
	struct mkl_err err;
	unsigned char sum[MKL_SHA256_LEN];
};

static void *sum_main(void *arg)
{
	struct image_sum *s = arg;

	s->rc = mkl_digest_fd(s->fd, s->at, s->size, s->what, s->sum, &s->err);
	return NULL;
}

int build_sum_image(struct build *b, struct mkl_err *err)
{
	const struct mkl_image *img = b->part[PART_IMAGE];
	struct image_sum *s = mkl_calloc(1, sizeof(*s), err);
	int rc;

	if (!s)
		return -1;
	*s = (struct image_sum){ .fd = img->fd, .at = img->placed, .size = img->bytes,
				 .what = b->fmt->path };
	rc = pthread_create(&s->thread, NULL, sum_main, s);
	if (rc) {
		free(s);
		return mkl_error(err, rc, "cannot start a thread for the image's checksum");
	}
	b->isum = s;
	return 0;
}

int build_sum_image_wait(struct build *b, const unsigned char **sum, struct mkl_err *err)
{
	struct image_sum *s = b->isum;

	if (!s)
		return mkl_error(err, EINVAL, "the image's checksum was not started");
	if (s->fd >= 0) {	/* not joined yet */
		pthread_join(s->thread, NULL);
		s->fd = -1;
	}
	if (s->rc) {
		*err = s->err;	/* as the thread made it */
		return -1;
	}
	if (sum)
		*sum = s->sum;
	return 0;
}

/* UEFI: Debian's signed shim and CD GRUB, found before the build writes
 * anything (a build that cannot boot UEFI must not get half way first). */
int build_find_uefi(struct build *b, struct mkl_err *err)
{
	const struct mkl_build_opts *o = b->o;
	static const char *const from[] = { "the host", "the given root", "mklive's cache" };
	enum mkl_efi_from where;
	char *root, shim[PATH_MAX], grub[PATH_MAX];
	int rc = -1;

	if (o->sign_key || o->sign_cert)
		return build_find_signing(b, err);
	if (o->uefi == 0)
		return 0;
	if (mkl_efi_find(o->efi_root, o->cache, &root, &where, err)) {
		/* A recipe downloads its packages anyway: shim and GRUB come
		 * along, into mklive's cache, as mklive fetch-efi puts them. */
		struct mkl_efi_fetched f;
		size_t l;

		if (!o->recipe || !o->cache || err->code != ENOENT)
			return -1;
		build_note(b, "UEFI: no Debian's signed shim and GRUB under %s or in mklive's cache: "
			   "fetching them into the cache for the recipe", o->efi_root ? o->efi_root : "/");
		if (mkl_efi_fetch(o->cache, false, &f, err)) {
			mkl_efi_fetched_free(&f);
			l = strlen(err->msg);
			snprintf(err->msg + l, sizeof(err->msg) - l, "; --uefi no makes an image that boots "
				 "BIOS only");
			return -1;
		}
		build_note(b, "UEFI: %s and %s unpacked into %s", f.shim, f.grub, f.dir);
		root = f.dir;
		where = MKL_EFI_FROM_CACHE;
	}
	snprintf(shim, sizeof(shim), "%s/%s", strcmp(root, "/") ? root : "", MKL_EFI_SHIM);
	snprintf(grub, sizeof(grub), "%s/%s", strcmp(root, "/") ? root : "", MKL_EFI_GRUB);
	if (mkl_read_file(shim, &b->shim, false, err) || mkl_read_file(grub, &b->grub, false, err)) {
		mkl_err_prefix(err, "UEFI boot needs Debian's signed shim and GRUB");
		goto out;
	}
	snprintf(b->res->efi_root, sizeof(b->res->efi_root), "%s", root);
	b->res->efi_from = where;
	build_note(b, "UEFI: Debian's signed shim and GRUB from %s, %s (%zu and %zu bytes)", from[where],
		   root, b->shim.len, b->grub.len);
	rc = 0;
out:
	free(root);
	return rc;
}

struct uefi {
	char *cfg, *esp_cfg, *info;
	int esp_fd;
	uint64_t esp_size;
	struct signed_esp sig;
};

static void uefi_free(struct uefi *u)
{
	build_signed_esp_free(&u->sig);
	free(u->cfg);
	free(u->esp_cfg);
	free(u->info);
	if (u->esp_fd >= 0)
		close(u->esp_fd);
	memset(u, 0, sizeof(*u));
	u->esp_fd = -1;
}

/* 1: the ESP is made; 0: no UEFI (--uefi no); -1: error. */
static int prepare_uefi(struct build *b, const struct mkl_buf *kernel, const struct mkl_buf *initrd, struct uefi *u,
			struct mkl_err *err)
{
	const struct mkl_build_opts *o = b->o;
	const char *label = o->label ? o->label : "MKLIVE";
	struct mkl_fat_file esp[3];
	struct mkl_fat_opts fo = { .label = "MKLIVE_EFI", .time = o->time,
				   .serial = (uint32_t)(b->hash ^ (b->hash >> 32)) };
	struct stat st;

	u->esp_fd = -1;
	if (o->uefi == 0)
		return 0;
	if (asprintf(&u->info, "mklive %s %s\n", label, b->res->medium_id) < 0) {
		u->info = NULL;
		return mkl_error(err, ENOMEM, "out of memory");
	}
	if (b->signer) {	/* shim, systemd-boot and the signed UKI (uki.c) */
		/* Sized to its content like any ESP: the demo's is 16 MB, and
		 * El Torito's load size holds below 32 MiB. A larger kernel and
		 * initramfs may go beyond (see ARCHITECTURE, "Signed boot"). */
		fo.max_size = MKL_FAT_MAX_SIGNED;
		if (build_signed_esp(b, kernel, initrd, &u->sig, err) || mkl_scratch_open(o->output, &u->esp_fd, err) ||
		    mkl_fat_write(u->esp_fd, &fo, u->sig.files, u->sig.n, err))
			return mkl_err_prefix(err, "making the EFI system partition");
		if (fstat(u->esp_fd, &st))
			return mkl_error(err, errno, "cannot stat the EFI system partition");
		u->esp_size = (uint64_t)st.st_size;
		b->res->uefi = b->res->signed_uki = b->res->kernel_signed = true;
		b->res->esp_bytes = u->esp_size;
		b->res->uki_bytes = u->sig.uki_bytes;
		build_note(b, "UEFI: ESP of %" PRIu64 " bytes with shim, MokManager, systemd-boot and the "
			   "signed UKI", u->esp_size);
		return 1;
	}
	u->cfg = mkl_grub_cfg(label, b->append, o->timeout, b->res->medium_id);
	u->esp_cfg = mkl_grub_esp_cfg(b->res->medium_id);
	if (!u->cfg || !u->esp_cfg)
		return mkl_error(err, ENOMEM, "out of memory");
	/* shim as the removable-media loader; it runs grubx64.efi beside it. */
	esp[0] = (struct mkl_fat_file){ .path = "EFI/BOOT/BOOTX64.EFI", .mem = b->shim.data,
					.size = b->shim.len, .fd = -1 };
	esp[1] = (struct mkl_fat_file){ .path = "EFI/BOOT/grubx64.efi", .mem = b->grub.data,
					.size = b->grub.len, .fd = -1 };
	esp[2] = (struct mkl_fat_file){ .path = "EFI/BOOT/grub.cfg", .mem = u->esp_cfg,
					.size = strlen(u->esp_cfg), .fd = -1 };
	if (mkl_scratch_open(o->output, &u->esp_fd, err) || mkl_fat_write(u->esp_fd, &fo, esp, 3, err))
		return mkl_err_prefix(err, "making the EFI system partition");
	if (fstat(u->esp_fd, &st))
		return mkl_error(err, errno, "cannot stat the EFI system partition");
	u->esp_size = (uint64_t)st.st_size;
	b->res->uefi = true;
	b->res->esp_bytes = u->esp_size;
	/* Under Secure Boot, GRUB boots only a kernel whose signature shim
	 * accepts: one without any cannot boot so. */
	b->res->kernel_signed = mkl_pe_signed(kernel->data, kernel->len);
	build_note(b, "UEFI: ESP of %" PRIu64 " bytes with shim and GRUB; the kernel is %s", u->esp_size,
		   b->res->kernel_signed ? "signed (Secure Boot)" : "not signed (no Secure Boot)");
	return 1;
}

/* The legacy boot floppy: the kernel and initramfs of the live entry. */
static int make_floppy(struct build *b, const struct mkl_buf *kernel, const struct mkl_buf *initrd, int *fd,
		       struct mkl_err *err)
{
	char *cmd = mkl_floppy_cmdline(b->append);
	struct mkl_floppy_opts fo = {
		.kernel = kernel->data, .kernel_size = kernel->len,
		.initrd = initrd->data, .initrd_size = initrd->len,
		.cmdline = cmd, .label = "MKLIVE-BOOT", .time = b->o->time,
		.serial = (uint32_t)(b->hash >> 16 ^ b->hash >> 48),
	};
	int rc;

	if (!cmd)
		return mkl_error(err, ENOMEM, "out of memory");
	rc = mkl_scratch_open(b->o->output, fd, err) || mkl_floppy_write(*fd, &fo, err);
	free(cmd);
	if (rc)
		return mkl_err_prefix(err, "--floppy");
	build_note(b, "boot floppy: kernel %zu and initramfs %zu bytes of %" PRIu64, kernel->len, initrd->len,
	     mkl_floppy_capacity());
	b->res->floppy = true;
	return 0;
}

/* The medium: isolinux and its menu, the kernel, the initramfs, the image,
 * the EFI side, the floppy, then libisofs writes it all. Long (about 125
 * lines): one list of the medium's files, with one cleanup path for the
 * buffers they come from. */
int build_write_iso(struct build *b, int fd, const struct mkl_buf *kernel, const struct mkl_buf *initrd,
		     struct mkl_err *err)
{
	const struct mkl_build_opts *o = b->o;
	const char *label = o->label ? o->label : "MKLIVE";
	static const char *const c32[] = { "ldlinux.c32", "menu.c32", "libutil.c32", "libcom32.c32" };
	struct mkl_buf loader[5] = { { 0 } }, mbr = { 0 };
	struct mkl_iso_file files[24];
	struct mkl_iso_opts io = { 0 };
	char path[PATH_MAX], appid[128], idfile[96], names[4][64], *cfg, *loopcfg;
	struct uefi u = { .esp_fd = -1 };
	size_t n = 0, i;
	int ret = -1, efi, floppy_fd = -1;

	cfg = mkl_isolinux_cfg(label, b->append, o->timeout);
	loopcfg = o->findiso ? mkl_grub_loopback_cfg(label, b->append, o->timeout) : NULL;
	if (!cfg || (o->findiso && !loopcfg)) {
		free(cfg);
		free(loopcfg);
		return mkl_error(err, ENOMEM, "out of memory");
	}
	snprintf(path, sizeof(path), "%s/isolinux.bin", o->isolinux_dir);
	if (mkl_read_file(path, &loader[0], false, err))
		goto out;
	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", o->syslinux_modules, c32[i]);
		if (mkl_read_file(path, &loader[i + 1], false, err))
			goto out;
	}
	snprintf(path, sizeof(path), "%s/isohdpfx.bin", o->isolinux_dir);
	if (mkl_read_file(path, &mbr, false, err))
		goto out;
	/* Not in the checksums: libisofs patches the boot info table in. */
	files[n++] = (struct mkl_iso_file){ .path = "isolinux/isolinux.bin", .mem = loader[0].data,
					    .size = loader[0].len, .nosum = 1 };
	for (i = 0; i < 4; i++) {
		snprintf(names[i], sizeof(names[i]), "isolinux/%s", c32[i]);
		files[n++] = (struct mkl_iso_file){ .path = names[i], .mem = loader[i + 1].data,
						    .size = loader[i + 1].len };
	}
	files[n++] = (struct mkl_iso_file){ .path = "isolinux/isolinux.cfg", .mem = cfg,
					    .size = strlen(cfg) };
	/* for GRUB menus that boot the ISO as a file, with or without UEFI */
	if (loopcfg)
		files[n++] = (struct mkl_iso_file){ .path = "boot/grub/loopback.cfg", .mem = loopcfg,
						    .size = strlen(loopcfg) };
	files[n++] = (struct mkl_iso_file){ .path = "live/vmlinuz", .mem = kernel->data,
					    .size = kernel->len };
	files[n++] = (struct mkl_iso_file){ .path = "live/initrd.img", .mem = initrd->data,
					    .size = initrd->len };
	files[n++] = (struct mkl_iso_file){ .path = b->fmt->path, .mem = NULL,
					    .fd = b->part[PART_IMAGE]->fd,
					    .size = b->part[PART_IMAGE]->bytes,
					    .placed = b->part[PART_IMAGE]->placed };
	if (build_sum_image_wait(b, &files[n - 1].sha256, err))
		goto out;
	if (o->root_mode == MKL_ROOT_SYMLINK)
		files[n++] = (struct mkl_iso_file){ .path = RWIMAGE_PATH, .mem = NULL,
						    .fd = b->part[PART_RW]->fd,
						    .size = b->part[PART_RW]->bytes };
	if ((efi = prepare_uefi(b, kernel, initrd, &u, err)) < 0)
		goto out;
	if (efi) {
		snprintf(idfile, sizeof(idfile), ".disk/%s", b->res->medium_id);
		files[n++] = (struct mkl_iso_file){ .path = "boot/grub/efi.img", .mem = NULL,
						    .fd = u.esp_fd, .size = u.esp_size };
		if (u.cfg)	/* GRUB's: not in the signed chain */
			files[n++] = (struct mkl_iso_file){ .path = "boot/grub/grub.cfg", .mem = u.cfg,
							    .size = strlen(u.cfg) };
		else	/* the certificate, for enrolment from another system */
			files[n++] = (struct mkl_iso_file){ .path = MKL_UKI_CERT, .mem = u.sig.cert.data,
							    .size = u.sig.cert.len };
		/* gcdx64 looks for /.disk/info; our grub.cfg for the ID. */
		files[n++] = (struct mkl_iso_file){ .path = ".disk/info", .mem = u.info,
						    .size = strlen(u.info) };
		files[n++] = (struct mkl_iso_file){ .path = idfile, .mem = u.info,
						    .size = strlen(u.info) };
		io.efi_image = "boot/grub/efi.img";
		for (i = 0; i < 16; i++)	/* GPT GUID from the medium ID */
			io.gpt_guid[i] = (unsigned char)(b->hash >> (8 * (i % 8))) ^ (unsigned char)(i * 37);
		io.gpt_guid[6] = (io.gpt_guid[6] & 0x0f) | 0x40;	/* RFC 4122 version 4 */
		io.gpt_guid[8] = (io.gpt_guid[8] & 0x3f) | 0x80;
	}
	if (o->floppy) {
		if (make_floppy(b, kernel, initrd, &floppy_fd, err))
			goto out;
		files[n++] = (struct mkl_iso_file){ .path = "boot/floppy.img", .mem = NULL,
						    .fd = floppy_fd, .size = MKL_FAT_FLOPPY_SIZE };
		io.floppy_image = "boot/floppy.img";
	}
	{
		/* The medium's checksums, as sha256sum(1) writes them ("HASH
		 * ./path"), so `sha256sum -c sha256sum.txt` on the mounted medium
		 * checks it too; read by `mklive verify` and by the init with
		 * mklive.verify. iso.c hashes each file as libisofs writes it. */
		uint64_t bytes = 0;

		for (i = 1; i < n; i++)
			bytes += files[i].size;
		io.sums_path = SUMS_PATH;
		build_note(b, "checksums: SHA-256 of %zu files, %" PRIu64 " bytes, in /%s (the image's "
			   "made beside the initramfs, the others' while the ISO is written)", n - 1, bytes,
			   SUMS_PATH);
	}
	snprintf(appid, sizeof(appid), "MKLIVE %s", b->res->kernel_version);
	io.volume_id = label;
	io.volume_set_id = b->res->medium_id;
	io.application_id = appid;
	io.time = o->time;
	io.boot_image = "isolinux/isolinux.bin";
	io.boot_catalog = "isolinux/boot.cat";
	if (!o->floppy) {	/* the isohybrid MBR starts isolinux, not the floppy */
		io.mbr_template = mbr.data;
		io.mbr_template_size = mbr.len;
	}
	build_note(b, "writing the ISO: label %s, medium id %s", label, b->res->medium_id);
	if (mkl_iso_write(fd, &io, files, n, o->progress ? iso_progress : NULL, (void *)o, err))
		goto out;
	ret = 0;
out:
	for (i = 0; i < 5; i++)
		mkl_buf_free(&loader[i]);
	mkl_buf_free(&mbr);
	free(cfg);
	free(loopcfg);
	uefi_free(&u);
	if (floppy_fd >= 0)
		close(floppy_fd);
	return ret;
}

