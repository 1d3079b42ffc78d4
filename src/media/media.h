/* mklive-media: the program behind /media/list (the article's "Persistent
 * Storage: Hotplug" section). The pieces that read untrusted bytes and
 * names are here, apart from the program, so unit tests and fuzzers can
 * call them:
 *
 *   media_probe   the filesystem type and label from a device's first
 *                 bytes (superblocks of ext2/3/4, FAT, exFAT, NTFS,
 *                 ISO 9660, btrfs), no libblkid: the program is static
 *   media_name    the name under /media/list: the label made safe for a
 *                 path component (a hostile label cannot name another
 *                 directory, hide, or carry shell syntax or newlines),
 *                 else the kernel name
 *   media_key_ok  whether a key autofs hands the map is a name we make
 *   media_entry   the autofs map entry that mounts the device
 *
 * Nothing here runs a shell or a helper program; names are only ever
 * used as path components and compared.
 */
#ifndef MKL_MEDIA_H
#define MKL_MEDIA_H

#include <stddef.h>
#include <sys/types.h>

#define MEDIA_PROBE_BYTES (68 * 1024)	/* btrfs's superblock ends at 64 KiB + 4 KiB */
#define MEDIA_NAME_MAX 64

struct media_fs {
	char type[16];		/* the kernel's filesystem name: "vfat", "ext4", ... */
	char label[256];	/* as stored (NUL-terminated, trailing blanks cut); "" none */
};

/* 0 and *fs filled when buf (the device's first len bytes) holds a
 * filesystem we mount; -1 otherwise (swap, a partition table, unknown). */
int media_probe(const unsigned char *buf, size_t len, struct media_fs *fs);

/* The list name for a device: from its label when that leaves anything,
 * else from kname. out has MEDIA_NAME_MAX + 1 bytes. */
void media_name(const char *label, const char *kname, char *out);

/* 1 when key could be a name media_name makes (so it is safe to look up). */
int media_key_ok(const char *key);

/* The map entry ("-fstype=vfat,...,uid=1000 :/dev/sdb1"); -1 when it does
 * not fit in size or kname is not a kernel device name. */
int media_entry(const struct media_fs *fs, const char *kname, uid_t uid, gid_t gid, char *out,
		size_t size);

#endif
