/* Debian's signed shim and GRUB: found on the host or in mklive's cache,
 * fetched into the cache (see efi.h). */
#include "pipeline/efi.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipeline/cache.h"
#include "tree/outfile.h"
#include "tree/run.h"

static const char *const unsigned_files[] = { MKL_EFI_SHIM, MKL_EFI_GRUB, NULL };
static const char *const signing_files[] = { MKL_EFI_SHIM, MKL_EFI_STUB, MKL_EFI_SDBOOT, MKL_EFI_MOKMANAGER,
					     NULL };
static const char *const all_files[] = { MKL_EFI_SHIM, MKL_EFI_GRUB, MKL_EFI_STUB, MKL_EFI_SDBOOT,
					 MKL_EFI_MOKMANAGER, NULL };

/* Every file of rel under root, each a regular file we may read. */
static bool has_all(const char *root, const char *const *rel)
{
	char path[4096];
	struct stat st;

	for (size_t i = 0; rel[i]; i++) {
		if (snprintf(path, sizeof(path), "%s/%s", strcmp(root, "/") ? root : "", rel[i]) >=
		    (int)sizeof(path))
			return false;
		if (stat(path, &st) || !S_ISREG(st.st_mode) || access(path, R_OK))
			return false;
	}
	return true;
}

static bool has_both(const char *root)
{
	return has_all(root, unsigned_files);
}

int mkl_efi_find_signing(const char *efi_root, const char *cache, char **root, enum mkl_efi_from *from,
			 struct mkl_err *err)
{
	const char *first = efi_root ? efi_root : "/";
	char *dir;

	*root = NULL;
	if (has_all(first, signing_files)) {
		*from = efi_root ? MKL_EFI_FROM_ROOT : MKL_EFI_FROM_HOST;
		*root = mkl_strdup(first, err);
		return *root ? 0 : -1;
	}
	dir = cache ? mkl_cache_path(cache, MKL_CACHE_EFI, err) : NULL;
	if (cache && !dir)
		return -1;
	if (dir && has_all(dir, signing_files)) {
		*from = MKL_EFI_FROM_CACHE;
		*root = dir;
		return 0;
	}
	mkl_error(err, 0, "a signed image needs Debian's signed shim and MokManager and systemd's EFI stub "
		  "and systemd-boot (%s, %s, %s and %s, from the packages " MKL_EFI_SHIM_PKG ", "
		  MKL_EFI_MOKMANAGER_PKG " and " MKL_EFI_SDBOOT_PKG "), and neither '%s' nor %s%s%s has "
		  "them all: 'mklive fetch-efi' downloads them into the cache", MKL_EFI_SHIM,
		  MKL_EFI_MOKMANAGER, MKL_EFI_STUB, MKL_EFI_SDBOOT, first, dir ? "mklive's cache '" : "a cache",
		  dir ? dir : "", dir ? "'" : "");
	err->code = ENOENT;
	free(dir);
	return -1;
}

int mkl_efi_find(const char *efi_root, const char *cache, char **root, enum mkl_efi_from *from,
		 struct mkl_err *err)
{
	const char *first = efi_root ? efi_root : "/";
	char *dir = NULL, where[1024];

	*root = NULL;
	if (has_both(first)) {
		*from = efi_root ? MKL_EFI_FROM_ROOT : MKL_EFI_FROM_HOST;
		*root = mkl_strdup(first, err);
		return *root ? 0 : -1;
	}
	if (cache) {
		dir = mkl_cache_path(cache, MKL_CACHE_EFI, err);
		if (!dir)
			return -1;
		if (has_both(dir)) {
			*from = MKL_EFI_FROM_CACHE;
			*root = dir;
			return 0;
		}
		snprintf(where, sizeof(where), "neither '%s' nor mklive's cache '%s' has them", first, dir);
		free(dir);
	} else {
		snprintf(where, sizeof(where), "'%s' does not have them, nor has mklive a cache (none of "
			 "MKLIVE_CACHE, XDG_CACHE_HOME and HOME is set)", first);
	}
	mkl_error(err, 0, "UEFI boot needs Debian's signed shim and GRUB (%s and %s, from the packages "
		  MKL_EFI_SHIM_PKG " and " MKL_EFI_GRUB_PKG "), and %s: 'mklive fetch-efi' downloads "
		  "them into the cache (no root needed, nothing installed), or --uefi no makes an image "
		  "that boots BIOS only", MKL_EFI_SHIM, MKL_EFI_GRUB, where);
	err->code = ENOENT;
	return -1;
}

/* "NAME_VERSION_ARCH.deb" (apt-get download's names, ':' as %3a) ->
 * "NAME VERSION", when name is pkg. */
static bool deb_version(const char *file, const char *pkg, char *out, size_t size)
{
	size_t plen = strlen(pkg), flen = strlen(file), o = 0;
	const char *v, *arch;

	if (strncmp(file, pkg, plen) || file[plen] != '_' || flen < 4 || strcmp(file + flen - 4, ".deb"))
		return false;
	v = file + plen + 1;
	arch = strrchr(v, '_');
	if (!arch)
		return false;
	o = (size_t)snprintf(out, size, "%s ", pkg);
	for (; v < arch && o + 1 < size; v++) {
		if (!strncmp(v, "%3a", 3) || !strncmp(v, "%3A", 3)) {
			out[o++] = ':';
			v += 2;
		} else {
			out[o++] = *v;
		}
	}
	out[o < size ? o : size - 1] = '\0';
	return true;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The package files in DIR/debs: their names, sorted, into names (up to
 * max), and the versions into res. */
static size_t list_debs(const char *debs, char names[][256], size_t max, struct mkl_efi_fetched *res)
{
	DIR *d = opendir(debs);
	struct dirent *de;
	size_t n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);

		if (len < 5 || len >= 256 || strcmp(de->d_name + len - 4, ".deb"))
			continue;
		if (res) {
			deb_version(de->d_name, MKL_EFI_SHIM_PKG, res->shim, sizeof(res->shim));
			deb_version(de->d_name, MKL_EFI_GRUB_PKG, res->grub, sizeof(res->grub));
		}
		if (n < max)
			memcpy(names[n++], de->d_name, len + 1);
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(names[0]), cmp_name);
	return n;
}

void mkl_efi_fetched_free(struct mkl_efi_fetched *res)
{
	free(res->dir);
	res->dir = NULL;
}

/* Download and unpack into tmp (a new, empty directory). */
static int fetch_into(const char *tmp, struct mkl_efi_fetched *res, struct mkl_err *err)
{
	/* Pinned to amd64: the image boots x86-64 (shimx64, x86_64-efi)
	 * whatever the host is. */
	const char *const download[] = { "apt-get", "download", "-q", MKL_EFI_SHIM_PKG ":amd64",
					 MKL_EFI_GRUB_PKG ":amd64", MKL_EFI_SDBOOT_PKG ":amd64",
					 MKL_EFI_MOKMANAGER_PKG ":amd64", NULL };
	char debs[4096], deb[4096 + 256], names[8][256];
	size_t n;

	if (snprintf(debs, sizeof(debs), "%s/debs", tmp) >= (int)sizeof(debs))
		return mkl_error(err, ENAMETOOLONG, "'%s'", tmp);
	if (mkdir(debs, 0755))
		return mkl_error(err, errno, "cannot create directory '%s'", debs);
	if (mkl_run(download, debs, NULL, err)) {
		size_t l = strlen(err->msg);

		if (strstr(err->msg, "failed (exit status"))
			snprintf(err->msg + l, sizeof(err->msg) - l, " (apt-get download takes the host's apt "
				 "sources and package lists: does 'apt-get update' help?)");
		return -1;
	}
	n = list_debs(debs, names, 8, res);
	if (!res->shim[0] || !res->grub[0])
		return mkl_error(err, 0, "apt-get download left no %s package in '%s'",
				 res->shim[0] ? MKL_EFI_GRUB_PKG : MKL_EFI_SHIM_PKG, debs);
	for (size_t i = 0; i < n; i++) {
		const char *const unpack[] = { "dpkg", "-x", deb, tmp, NULL };

		snprintf(deb, sizeof(deb), "%s/%s", debs, names[i]);
		if (mkl_run(unpack, NULL, NULL, err))
			return -1;
	}
	if (!has_both(tmp))
		return mkl_error(err, 0, "the packages %s and %s hold no %s and %s", res->shim, res->grub,
				 MKL_EFI_SHIM, MKL_EFI_GRUB);
	if (!has_all(tmp, all_files))
		return mkl_error(err, 0, "the packages " MKL_EFI_SDBOOT_PKG " and " MKL_EFI_MOKMANAGER_PKG
				 " hold no %s, %s and %s", MKL_EFI_STUB, MKL_EFI_SDBOOT, MKL_EFI_MOKMANAGER);
	return 0;
}

int mkl_efi_fetch(const char *cache, bool refresh, struct mkl_efi_fetched *res, struct mkl_err *err)
{
	char *tmp = NULL, debs[4096];
	int rc;

	memset(res, 0, sizeof(*res));
	res->dir = mkl_cache_path(cache, MKL_CACHE_EFI, err);
	if (!res->dir)
		return -1;
	if (!refresh && has_all(res->dir, all_files)) {
		snprintf(debs, sizeof(debs), "%s/debs", res->dir);
		list_debs(debs, NULL, 0, res);
		return 0;
	}
	if (mkl_mkdirs(cache, 0755, err) || mkl_dir_temp(res->dir, &tmp, err))
		return mkl_err_prefix(err, "fetching Debian's signed shim and GRUB into '%s'", res->dir);
	/* mkdtemp makes it 0700; the cache's files are for whoever may read
	 * the cache. */
	chmod(tmp, 0755);
	rc = fetch_into(tmp, res, err);
	if (!rc && mkl_cancelled())
		rc = mkl_error(err, ECANCELED, "cancelled");
	if (!rc)
		rc = mkl_dir_commit(tmp, res->dir, err);
	if (rc) {
		struct mkl_err ignored;

		mkl_remove_tree(tmp, &ignored);
		mkl_err_prefix(err, "fetching Debian's signed shim and GRUB into '%s'", res->dir);
	}
	res->downloaded = !rc;
	free(tmp);
	return rc;
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

bool mkl_pe_signed(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint32_t pe, opt, ndirs, dirs, off, size;
	uint16_t magic;

	if (len < 0x40 || p[0] != 'M' || p[1] != 'Z')
		return false;
	pe = le32(p + 0x3c);
	if (pe > len || len - pe < 24 + 2 || memcmp(p + pe, "PE\0\0", 4))
		return false;
	opt = pe + 24;	/* after the signature and the COFF header */
	magic = le16(p + opt);
	if (magic == 0x20b) {		/* PE32+ */
		if (len - opt < 112)
			return false;
		ndirs = le32(p + opt + 108);
		dirs = opt + 112;
	} else if (magic == 0x10b) {	/* PE32 */
		if (len - opt < 96)
			return false;
		ndirs = le32(p + opt + 92);
		dirs = opt + 96;
	} else {
		return false;
	}
	/* Data directory 4, the certificate table: a file offset, not an RVA. */
	if (ndirs < 5 || dirs > len || len - dirs < 5 * 8)
		return false;
	off = le32(p + dirs + 4 * 8);
	size = le32(p + dirs + 4 * 8 + 4);
	if (size < 8 || off > len || len - off < size)
		return false;
	/* WIN_CERTIFICATE: length, revision 0x0200, type PKCS_SIGNED_DATA (2). */
	return le32(p + off) >= 8 && le32(p + off) <= size && le16(p + off + 4) == 0x0200 &&
	       le16(p + off + 6) == 0x0002;
}
