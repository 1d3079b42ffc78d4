/* Choosing the kernel modules that go into the initramfs.
 *
 * The init needs drivers for whatever holds the medium (SATA/AHCI, IDE,
 * virtio, NVMe, USB, SD cards) and the filesystems to mount it. Those are
 * picked by name from the tree's modules.dep, with everything they depend
 * on, and copied byte for byte (Debian signs its modules; lockdown under
 * Secure Boot refuses a modified one). The initramfs gets modules.dep and
 * modules.alias filtered to the selection, so the init can match the
 * hardware's modaliases without the full 1 MB index.
 */
#include "pipeline/modules.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *const mkl_boot_modules[] = {
	/* disk and CD controllers. SD/MMC readers are left out: rarely a boot
	 * medium, and their stack (mmc_core, sdhci, cqhci) is 1 MB of modules. */
	"ahci", "ata_piix", "ata_generic", "pata_acpi", "virtio_pci", "virtio_blk", "virtio_scsi",
	"nvme",
	/* USB host controllers and storage */
	"xhci_pci", "ehci_pci", "ohci_pci", "uhci_hcd", "usb_storage", "uas",
	/* SCSI disk and CD-ROM upper layers */
	"sd_mod", "sr_mod",
	/* the medium, the image, the root */
	"isofs", "squashfs", "loop", "overlay",
	/* The persistence filesystems (ext4, crc32c_generic, vfat, nls_*) are
	 * not here: the init loads them from the image once it is mounted
	 * (src/init/persist.c), keeping 0.5 MB out of the initramfs. */
	NULL,
};

/* The filesystems of the disks that may hold the ISO as a file (boot option
 * findiso=): the init loads them only then, before mklive-helper mounts
 * each partition to look for the file (no modprobe answers the kernel's
 * requests: crc32c for ext4, FAT's code page and character set). ntfs3 is
 * picked where the kernel has it (Debian 12's has not). isofs and loop are
 * in the boot set. */
const char *const mkl_findiso_modules[] = { "vfat", "nls_cp437", "nls_ascii", "exfat", "crc32c_generic", "ext4",
					    "ntfs3", NULL };

/* Modules the init loads without waiting for hardware to ask. */
const char *const mkl_boot_modules_always[] = { "loop", "squashfs", "isofs", "overlay", NULL };

const char *const mkl_verity_modules[] = { "dm_mod", "dm_verity", "sha256_ssse3", NULL };

/* The signed UKI: mklive-helper reads which systemd-boot entry started it
 * from an EFI variable (efivarfs: a module in Debian's kernel). */
const char *const mkl_uki_modules[] = { "efivarfs", NULL };

struct dep_line {
	char *name;		/* normalised module name: '-' -> '_' */
	char *path;		/* "kernel/drivers/ata/ahci.ko" */
	const char *line;	/* into the dep text */
	size_t line_len;
	char **deps;		/* paths */
	size_t ndeps;
	bool picked;
};

static void module_name(const char *path, size_t len, char *out, size_t outsize)
{
	const char *base = path, *p;
	size_t n;

	for (p = path; p < path + len; p++)
		if (*p == '/')
			base = p + 1;
	n = (size_t)(path + len - base);
	for (p = base; p < path + len; p++) {
		if (*p == '.') {
			n = (size_t)(p - base);
			break;
		}
	}
	if (n >= outsize)
		n = outsize - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = base[i] == '-' ? '_' : base[i];
	out[n] = '\0';
}

void mkl_modsel_free(struct mkl_modsel *sel)
{
	if (!sel)
		return;
	for (size_t i = 0; i < sel->npaths; i++)
		free(sel->paths[i]);
	free(sel->paths);
	free(sel->dep_text);
	free(sel->alias_text);
	for (size_t i = 0; i < sel->nmissing; i++)
		free(sel->missing[i]);
	free(sel->missing);
	memset(sel, 0, sizeof(*sel));
}

static int push(char ***v, size_t *n, const char *s, size_t len, struct mkl_err *err)
{
	char **nv = realloc(*v, (*n + 1) * sizeof(**v));

	if (!nv)
		return mkl_error(err, ENOMEM, "out of memory");
	*v = nv;
	nv[*n] = strndup(s, len);
	if (!nv[*n])
		return mkl_error(err, ENOMEM, "out of memory");
	(*n)++;
	return 0;
}

static void free_lines(struct dep_line *l, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(l[i].name);
		free(l[i].path);
		for (size_t j = 0; j < l[i].ndeps; j++)
			free(l[i].deps[j]);
		free(l[i].deps);
	}
	free(l);
}

static int parse_dep(const char *text, size_t len, struct dep_line **out, size_t *nout,
		     struct mkl_err *err)
{
	struct dep_line *lines = NULL;
	size_t n = 0, cap = 0;
	const char *p = text, *end = text + len;
	unsigned lineno = 0;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *colon, *q;
		struct dep_line *l;
		char name[256];

		if (!eol)
			eol = end;
		lineno++;
		if (eol == p) {
			p = eol + 1;
			continue;
		}
		colon = memchr(p, ':', (size_t)(eol - p));
		if (!colon) {
			free_lines(lines, n);
			return mkl_error(err, 0, "modules.dep:%u: no ':' in line", lineno);
		}
		if (n == cap) {
			struct dep_line *nl;

			cap = cap ? cap * 2 : 1024;
			nl = realloc(lines, cap * sizeof(*nl));
			if (!nl) {
				free_lines(lines, n);
				return mkl_error(err, ENOMEM, "out of memory");
			}
			lines = nl;
		}
		l = &lines[n++];
		memset(l, 0, sizeof(*l));
		l->line = p;
		l->line_len = (size_t)(eol - p);
		module_name(p, (size_t)(colon - p), name, sizeof(name));
		l->name = strdup(name);
		l->path = strndup(p, (size_t)(colon - p));
		if (!l->name || !l->path) {
			free_lines(lines, n);
			return mkl_error(err, ENOMEM, "out of memory");
		}
		for (q = colon + 1; q < eol;) {
			const char *s;

			while (q < eol && (*q == ' ' || *q == '\t'))
				q++;
			s = q;
			while (q < eol && *q != ' ' && *q != '\t')
				q++;
			if (q > s && push(&l->deps, &l->ndeps, s, (size_t)(q - s), err)) {
				free_lines(lines, n);
				return -1;
			}
		}
		p = eol + 1;
	}
	*out = lines;
	*nout = n;
	return 0;
}

static struct dep_line *find_name(struct dep_line *l, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(l[i].name, name) == 0)
			return &l[i];
	return NULL;
}

static struct dep_line *find_path(struct dep_line *l, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(l[i].path, path) == 0)
			return &l[i];
	return NULL;
}

static bool builtin(const char *builtin_text, size_t len, const char *name)
{
	const char *p = builtin_text, *end = builtin_text + len;

	while (p && p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		char n[256];

		if (!eol)
			eol = end;
		module_name(p, (size_t)(eol - p), n, sizeof(n));
		if (strcmp(n, name) == 0)
			return true;
		p = eol + 1;
	}
	return false;
}

static int append(char **buf, size_t *len, const char *s, size_t n, struct mkl_err *err)
{
	char *nb = realloc(*buf, *len + n + 2);

	if (!nb)
		return mkl_error(err, ENOMEM, "out of memory");
	memcpy(nb + *len, s, n);
	*len += n;
	nb[(*len)++] = '\n';
	nb[*len] = '\0';
	*buf = nb;
	return 0;
}

int mkl_modules_select(const char *dep, size_t dep_len, const char *alias, size_t alias_len,
		       const char *builtin_text, size_t builtin_len, const char *const *wanted,
		       struct mkl_modsel *sel, struct mkl_err *err)
{
	struct dep_line *lines = NULL, *picked = NULL;
	size_t n = 0, i, npicked = 0;
	const char *p, *end;

	memset(sel, 0, sizeof(*sel));
	if (parse_dep(dep, dep_len, &lines, &n, err))
		return -1;
	for (const char *const *w = wanted; *w; w++) {
		struct dep_line *l = find_name(lines, n, *w);

		if (!l) {
			if (!builtin(builtin_text, builtin_len, *w) &&
			    push(&sel->missing, &sel->nmissing, *w, strlen(*w), err))
				goto fail;
			continue;
		}
		l->picked = true;
		for (i = 0; i < l->ndeps; i++) {
			struct dep_line *d = find_path(lines, n, l->deps[i]);

			if (!d) {
				mkl_error(err, 0, "modules.dep: '%s' needs '%s', which has no line of its own",
					  l->path, l->deps[i]);
				goto fail;
			}
			d->picked = true;
		}
	}
	/* modules.dep lists every dependency (transitively), so one level is enough. */
	picked = calloc(n ? n : 1, sizeof(*picked));
	if (!picked) {
		mkl_error(err, ENOMEM, "out of memory");
		goto fail;
	}
	for (i = 0; i < n; i++) {
		if (!lines[i].picked)
			continue;
		picked[npicked++] = lines[i];
		if (push(&sel->paths, &sel->npaths, lines[i].path, strlen(lines[i].path), err) ||
		    append(&sel->dep_text, &sel->dep_len, lines[i].line, lines[i].line_len, err))
			goto fail;
	}
	/* Filter modules.alias: "alias PATTERN MODULE" lines for picked modules. */
	for (p = alias, end = alias + alias_len; p && p < end;) {
		const char *eol = memchr(p, '\n', (size_t)(end - p)), *sp;
		char name[256];

		if (!eol)
			eol = end;
		sp = eol;
		while (sp > p && sp[-1] != ' ')
			sp--;
		if (eol - p > 6 && memcmp(p, "alias ", 6) == 0 && sp > p) {
			struct dep_line *l;

			module_name(sp, (size_t)(eol - sp), name, sizeof(name));
			l = find_name(picked, npicked, name);
			if (l &&
			    append(&sel->alias_text, &sel->alias_len, p, (size_t)(eol - p), err))
				goto fail;
		}
		p = eol + 1;
	}
	if (!sel->alias_text && append(&sel->alias_text, &sel->alias_len, "# no aliases", 12, err))
		goto fail;
	if (!sel->dep_text && append(&sel->dep_text, &sel->dep_len, "", 0, err))
		goto fail;
	free(picked);
	free_lines(lines, n);
	return 0;
fail:
	free(picked);
	free_lines(lines, n);
	mkl_modsel_free(sel);
	return -1;
}
