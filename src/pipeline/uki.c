/* Signed UEFI boot: the user's key, systemd-boot and one signed unified
 * kernel image, with a signed set of choices (see docs/ARCHITECTURE.md,
 * "Signed boot").
 *
 *   firmware ─► EFI/BOOT/BOOTX64.EFI  shim (Debian's, Microsoft's signatures,
 *                                     then one added here with the user's key)
 *            ─► EFI/BOOT/grubx64.efi  systemd-boot, signed here (shim checks it
 *                                     against db and the MOK list); its menu:
 *                                     loader/entries/mklive-ID.conf, one per
 *                                     menu entry, each starting the same UKI
 *            ─► EFI/mklive/mklive.efi stub + .osrel .cmdline (the default
 *                                     entry's) .linux .initrd, signed here
 *                                     (systemd-boot asks shim); the init adds
 *                                     the chosen entry's arguments from the
 *                                     initramfs's table (bootmenu.c)
 *   EFI/BOOT/mmx64.efi MokManager, /mklive.cer the certificate for enrolment
 */
#include "pipeline/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt/authenticode.h"
#include "fmt/pe.h"
#include "pipeline/efi.h"

int build_find_signing(struct build *b, struct mkl_err *err)
{
	const struct mkl_build_opts *o = b->o;
	static const char *const from[] = { "the host", "the given root", "mklive's cache" };
	const char *const rel[] = { MKL_EFI_SHIM, MKL_EFI_STUB, MKL_EFI_SDBOOT, MKL_EFI_MOKMANAGER };
	struct mkl_buf *to[] = { &b->shim, &b->stub, &b->sdboot, &b->mokmanager };
	enum mkl_efi_from where;
	char *root = NULL, path[PATH_MAX];
	int rc = -1;

	if (!o->sign_key != !o->sign_cert)
		return mkl_error(err, 0, "signing needs both a key and a certificate (--sign-key and "
				 "--sign-cert): only the %s was given", o->sign_key ? "key" : "certificate");
	if (o->uefi == 0)
		return mkl_error(err, 0, "--sign-key signs the UEFI boot, and --uefi no leaves it out");
	if (mkl_signer_load(o->sign_key, o->sign_cert, &b->signer, err))
		return -1;
	if (mkl_efi_find_signing(o->efi_root, o->cache, &root, &where, err)) {
		/* A recipe downloads its packages anyway: the EFI files come
		 * along into the cache, as for an unsigned image. */
		struct mkl_efi_fetched f;

		if (!o->recipe || !o->cache || err->code != ENOENT)
			return -1;
		build_note(b, "UEFI, signed: fetching shim, MokManager and systemd-boot into the cache for "
			   "the recipe");
		if (mkl_efi_fetch(o->cache, false, &f, err)) {
			mkl_efi_fetched_free(&f);
			return -1;
		}
		mkl_efi_fetched_free(&f);
		if (mkl_efi_find_signing(o->efi_root, o->cache, &root, &where, err))
			return -1;
	}
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", strcmp(root, "/") ? root : "", rel[i]);
		if (mkl_read_file(path, to[i], false, err))
			goto out;
	}
	/* shim keeps Microsoft's signatures (stock PCs) and gets the user's
	 * after them, so firmware that trusts only the user's keys starts it
	 * too: EDK2 accepts an image when any of its signatures verifies. */
	if (mkl_authenticode_sign(b->signer, &b->shim, err)) {
		mkl_err_prefix(err, "shim");
		goto out;
	}
	snprintf(b->res->efi_root, sizeof(b->res->efi_root), "%s", root);
	b->res->efi_from = where;
	build_note(b, "UEFI, signed: shim, MokManager, systemd-boot and its stub from %s, %s; key %s, "
		   "certificate %s", from[where], root, o->sign_key, o->sign_cert);
	rc = 0;
out:
	free(root);
	return rc;
}

void build_signing_free(struct build *b)
{
	mkl_signer_free(b->signer);
	b->signer = NULL;
	mkl_buf_free(&b->stub);
	mkl_buf_free(&b->sdboot);
	mkl_buf_free(&b->mokmanager);
}

void build_signed_esp_free(struct signed_esp *e)
{
	mkl_buf_free(&e->sdboot);
	mkl_buf_free(&e->cert);
	mkl_buf_free(&e->uki);
	for (size_t i = 0; i < MKL_ENTRY_MAX; i++)
		free(e->entry[i]);
	free(e->loader_conf);
	memset(e, 0, sizeof(*e));
}

/* The UKI: the stub, os-release, the default entry's command line, the
 * kernel and the initramfs (with the table of the other entries'
 * arguments in its /mklive.conf); signed. */
static int make_uki(struct build *b, const struct mkl_buf *kernel, const struct mkl_buf *initrd,
		    struct mkl_buf *out, struct mkl_err *err)
{
	const char *label = b->o->label ? b->o->label : "MKLIVE", *id, *title;
	char *cmdline = mkl_menu_entry(0, b->append, &id, &title), *osrel = NULL;
	struct mkl_pe_section sec[4];
	int rc = -1;

	if (!cmdline || asprintf(&osrel, "NAME=\"%s\"\nID=mklive\nPRETTY_NAME=\"%s\"\nBUILD_ID=%s\n",
				 label, label, b->res->medium_id) < 0) {
		osrel = NULL;
		mkl_error(err, ENOMEM, "out of memory");
		goto out;
	}
	sec[0] = (struct mkl_pe_section){ ".osrel", osrel, strlen(osrel) };
	sec[1] = (struct mkl_pe_section){ ".cmdline", cmdline, strlen(cmdline) };
	sec[2] = (struct mkl_pe_section){ ".linux", kernel->data, kernel->len };
	sec[3] = (struct mkl_pe_section){ ".initrd", initrd->data, initrd->len };
	if (mkl_pe_add_sections(b->stub.data, b->stub.len, sec, 4, out, err) ||
	    mkl_authenticode_sign(b->signer, out, err)) {
		mkl_err_prefix(err, "the unified kernel image");
		goto out;
	}
	rc = 0;
out:
	free(cmdline);
	free(osrel);
	return rc;
}

int build_signed_esp(struct build *b, const struct mkl_buf *kernel, const struct mkl_buf *initrd,
		     struct signed_esp *e, struct mkl_err *err)
{
	const char *label = b->o->label ? b->o->label : "MKLIVE";
	size_t n = mkl_menu_count();

	memset(e, 0, sizeof(*e));
	if (!n || n > MKL_ENTRY_MAX)
		return mkl_error(err, 0, "%zu menu entries: systemd-boot's menu is made for 1 to %d", n,
				 MKL_ENTRY_MAX);
	/* systemd-boot as shim's second stage, signed with the user's key. */
	if (mkl_buf_sink(&e->sdboot, b->sdboot.data, b->sdboot.len, err))
		return -1;
	/* Sections end on 512 bytes; a certificate table wants 8. */
	while (e->sdboot.len % 8)
		if (mkl_buf_sink(&e->sdboot, "", 1, err))
			return -1;
	if (mkl_authenticode_sign(b->signer, &e->sdboot, err))
		return mkl_err_prefix(err, "systemd-boot");
	if (mkl_signer_cert_der(b->signer, &e->cert, err) || make_uki(b, kernel, initrd, &e->uki, err))
		return -1;
	e->uki_bytes = e->uki.len;
	e->files[e->n++] = (struct mkl_fat_file){ .path = "EFI/BOOT/BOOTX64.EFI", .mem = b->shim.data,
						  .size = b->shim.len, .fd = -1 };
	e->files[e->n++] = (struct mkl_fat_file){ .path = "EFI/BOOT/grubx64.efi", .mem = e->sdboot.data,
						  .size = e->sdboot.len, .fd = -1 };
	e->files[e->n++] = (struct mkl_fat_file){ .path = "EFI/BOOT/mmx64.efi", .mem = b->mokmanager.data,
						  .size = b->mokmanager.len, .fd = -1 };
	e->files[e->n++] = (struct mkl_fat_file){ .path = MKL_UKI_CERT, .mem = e->cert.data,
						  .size = e->cert.len, .fd = -1 };
	e->files[e->n++] = (struct mkl_fat_file){ .path = MKL_UKI_PATH, .mem = e->uki.data,
						  .size = e->uki.len, .fd = -1 };
	/* systemd-boot's menu: every entry starts the one UKI */
	for (size_t i = 0; i < n; i++) {
		char name[64];

		mkl_sdboot_entry_name(i, name, sizeof(name));
		snprintf(e->names[i], sizeof(e->names[i]), "loader/entries/%s", name);
		e->entry[i] = mkl_sdboot_entry(i, label, MKL_UKI_PATH);
		if (!e->entry[i])
			return mkl_error(err, ENOMEM, "out of memory");
		e->files[e->n++] = (struct mkl_fat_file){ .path = e->names[i], .mem = e->entry[i],
							  .size = strlen(e->entry[i]), .fd = -1 };
	}
	e->loader_conf = mkl_sdboot_loader_conf(b->o->timeout, e->names[0] + strlen("loader/entries/"));
	if (!e->loader_conf)
		return mkl_error(err, ENOMEM, "out of memory");
	e->files[e->n++] = (struct mkl_fat_file){ .path = "loader/loader.conf", .mem = e->loader_conf,
						  .size = strlen(e->loader_conf), .fd = -1 };
	build_note(b, "UEFI, signed: one unified kernel image of %" PRIu64 " bytes (the kernel and "
		   "initramfs) for the %zu entries of systemd-boot's menu, and systemd-boot, signed with %s",
		   e->uki_bytes, n, b->o->sign_cert);
	return 0;
}
