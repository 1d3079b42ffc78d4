/* Filesystem probing and naming for mklive-media (see media.h). Offsets
 * are the on-disk formats' own: ext2's superblock at 1024 (magic 0xEF53 at
 * +56, volume name at +120), the FAT boot sector's signature at 510 and
 * type at 54 (FAT12/16) or 82 (FAT32) with the label at 43 or 71 (after the
 * extended BPB's signature 0x29 at 38 or 66), exFAT's
 * and NTFS's OEM names at 3, ISO 9660's "CD001" at 32769 with the volume
 * identifier at 32808, btrfs's magic at 65600 with the label at 65835.
 * The init compiles this file too (persistence labels): media_probe uses
 * no stdio, which would double the static init's size. */
#include "media.h"

#include <stdio.h>
#include <string.h>

static int at(const unsigned char *buf, size_t len, size_t off, const char *magic, size_t n)
{
	return off + n <= len && !memcmp(buf + off, magic, n);
}

/* Copy a fixed-size label field, cutting trailing blanks and NULs. */
static void field(char *out, size_t size, const unsigned char *p, size_t n)
{
	if (n >= size)
		n = size - 1;
	memcpy(out, p, n);
	out[n] = 0;
	n = strnlen(out, n);
	while (n && (out[n - 1] == ' ' || out[n - 1] == 0))
		out[--n] = 0;
}

static void set(struct media_fs *fs, const char *type)
{
	size_t n = strlen(type);	/* our own names, all short */

	memcpy(fs->type, type, n < sizeof(fs->type) ? n + 1 : sizeof(fs->type));
	fs->type[sizeof(fs->type) - 1] = 0;
}

int media_probe(const unsigned char *buf, size_t len, struct media_fs *fs)
{
	memset(fs, 0, sizeof(*fs));
	if (at(buf, len, 1024 + 56, "\x53\xef", 2) && len >= 1024 + 136) {
		set(fs, "ext4");	/* the ext4 driver mounts ext2 and ext3 too */
		field(fs->label, sizeof(fs->label), buf + 1024 + 120, 16);
		return 0;
	}
	if (at(buf, len, 32769, "CD001", 5) && len >= 32808 + 32) {
		set(fs, "iso9660");
		field(fs->label, sizeof(fs->label), buf + 32808, 32);
		return 0;
	}
	if (at(buf, len, 65600, "_BHRfS_M", 8) && len >= 65835 + 256) {
		set(fs, "btrfs");
		field(fs->label, sizeof(fs->label), buf + 65835, 256);
		return 0;
	}
	if (!at(buf, len, 510, "\x55\xaa", 2))
		return -1;
	if (at(buf, len, 3, "EXFAT   ", 8)) {
		set(fs, "exfat");	/* its label is in the root directory: not read */
		return 0;
	}
	if (at(buf, len, 3, "NTFS    ", 8)) {
		set(fs, "ntfs3");	/* its label is in the MFT: not read */
		return 0;
	}
	/* The label is there only with the extended BPB (signature 0x29). */
	if (at(buf, len, 82, "FAT32   ", 8)) {
		set(fs, "vfat");
		if (buf[66] == 0x29)
			field(fs->label, sizeof(fs->label), buf + 71, 11);
	} else if (at(buf, len, 54, "FAT1", 4)) {
		set(fs, "vfat");
		if (buf[38] == 0x29)
			field(fs->label, sizeof(fs->label), buf + 43, 11);
	} else {
		return -1;
	}
	if (!strcmp(fs->label, "NO NAME"))	/* what formatters write for none */
		fs->label[0] = 0;
	return 0;
}

/* Letters, digits and . _ - + stay; every other byte (space, '/', quotes,
 * '$', parentheses, control characters, non-ASCII) becomes '_', runs of
 * them one '_'. No leading '.' or '-' (no hidden names, no "..", nothing
 * that reads as an option). */
static void clean(const char *in, char *out)
{
	size_t n = 0;

	for (; *in && n < MEDIA_NAME_MAX; in++) {
		unsigned char c = (unsigned char)*in;
		int keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			   c == '.' || c == '_' || c == '-' || c == '+';

		if (!n && (c == '.' || c == '-' || !keep))
			continue;
		if (keep)
			out[n++] = (char)c;
		else if (out[n - 1] != '_')
			out[n++] = '_';
	}
	while (n && out[n - 1] == '_')
		n--;
	out[n] = 0;
}

void media_name(const char *label, const char *kname, char *out)
{
	clean(label ? label : "", out);
	if (!out[0])
		clean(kname ? kname : "", out);
	if (!out[0])
		snprintf(out, MEDIA_NAME_MAX + 1, "disk");
}

int media_key_ok(const char *key)
{
	char again[MEDIA_NAME_MAX + 1];

	if (!key || !key[0] || strlen(key) > MEDIA_NAME_MAX)
		return 0;
	clean(key, again);
	return !strcmp(again, key);
}

int media_entry(const struct media_fs *fs, const char *kname, uid_t uid, gid_t gid, char *out,
		size_t size)
{
	char opts[160];
	int n;

	if (!media_key_ok(kname) || strchr(kname, '.'))
		return -1;
	if (!strcmp(fs->type, "vfat") || !strcmp(fs->type, "exfat") || !strcmp(fs->type, "ntfs3"))
		/* No owners on disk: the user's, files not executable. */
		snprintf(opts, sizeof(opts), "rw,nosuid,nodev,uid=%u,gid=%u,fmask=0133,dmask=0022%s",
			 (unsigned)uid, (unsigned)gid, strcmp(fs->type, "vfat") ? "" : ",utf8,shortname=mixed");
	else if (!strcmp(fs->type, "iso9660"))
		snprintf(opts, sizeof(opts), "ro,nosuid,nodev");
	else
		snprintf(opts, sizeof(opts), "rw,nosuid,nodev");
	n = snprintf(out, size, "-fstype=%s,%s :/dev/%s", fs->type, opts, kname);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}
