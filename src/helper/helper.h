/* mklive-helper: the init's helper (main.c: one row per job).
 *
 * Job "persist" (persist.c): persistence made on the boot stick itself, at
 * first boot. The hybrid ISO written to a stick larger than itself leaves the rest of
 * the stick unused. The init runs this program (static, in the initramfs:
 * the init itself stays small) when `persistence` is asked for and no
 * filesystem carries the label; it
 *
 *   part.c   finds the free space after the last partition (MBR and, when
 *            the image has one, the hybrid GPT), and when it is at least
 *            PERSIST_MIN_FREE, adds a partition there to both tables: MBR
 *            type 0x83, GPT "Linux filesystem data" with valid CRCs, the
 *            GPT's backup header and entries moved to the end of the disk.
 *            It never changes an existing entry nor writes inside the image
 *            or another partition;
 *   ext4.c   makes an empty ext4 filesystem in it (ours, minimal: see there);
 *
 * both on the whole disk's fd (a block device or, for the tests, a disk
 * image file), then tells the kernel of the new partition (BLKPG).
 *
 * Nothing but the jobs' entry points prints: errors are messages in a
 * caller's buffer.
 */
#ifndef MKL_HELPER_H
#define MKL_HELPER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "../fmt/sha256.h"

/* The jobs (main.c's table): argv[0] is the job's name. */
int helper_persist(int argc, char **argv);
int helper_findiso(int argc, char **argv);	/* findiso.c: the ISO as a file */
int helper_luks(int argc, char **argv);
int helper_verity(int argc, char **argv);	/* verity.c */
int helper_entry(int argc, char **argv);	/* entry.c: the signed UKI's menu choice */

#define PERSIST_MIN_FREE (256ull << 20)
#define PERSIST_ALIGN (1ull << 20)		/* partitions start on a MiB */

struct persist_plan {
	uint64_t disk_sectors;		/* 512-byte sectors */
	uint64_t start, sectors;	/* the new partition */
	int mbr_slot;			/* 0..3 */
	int gpt;			/* the disk has a (valid) GPT */
	uint32_t gpt_slot;		/* its entry's index */
	unsigned partno;		/* the kernel's number for it (sdX<partno>) */
};

/* What can be made on the disk open at fd (disk_bytes long): 0 and *p,
 * or -1 with why (no room, no free slot, a table we do not understand). */
int persist_plan(int fd, uint64_t disk_bytes, struct persist_plan *p, char *why, size_t n);

/* Write the new entries (and the GPT's backup at the disk's end); label is
 * the GPT partition's name. 0, or -1 with why. */
int persist_add_partition(int fd, const struct persist_plan *p, const char *label,
			  const unsigned char guid[16], char *why, size_t n);

/* An empty ext4 filesystem of bytes (a multiple of 4096) from byte off of
 * fd: label, uuid, time now. 0, or -1 with why. */
int persist_mkext4(int fd, uint64_t off, uint64_t bytes, const char *label,
		   const unsigned char uuid[16], uint32_t now, char *why, size_t n);

/* persist.c: what the persistence jobs share. The disk a device (the
 * medium's partition) is on, open for writing and sized; a CD or a
 * read-only disk is refused. */
struct persist_disk {
	const char *path;	/* the whole disk: whole, or the name given */
	char whole[64];
	int fd;
	struct stat st;
	uint64_t bytes;
};
int persist_open_disk(const char *dev, struct persist_disk *d, char *why, size_t n);
/* The planned partition into the MBR and GPT (a random GPT GUID) */
int persist_add(const struct persist_disk *d, const struct persist_plan *p, const char *label,
		char *why, size_t n);
/* ... and into the kernel's table (BLKPG; nothing to do for a file) */
int persist_tell_kernel(const struct persist_disk *d, const struct persist_plan *p, char *why, size_t n);
/* len random bytes; secret: wait for the kernel's pool to be ready */
int persist_random(unsigned char *buf, size_t len, int secret);

/* What part.c and ext4.c share: little-endian fields (MBR, GPT, ext4),
 * and the one way they report: msg into why, -1. */
static inline uint32_t persist_le32(const unsigned char *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t persist_le64(const unsigned char *p)
{
	return persist_le32(p) | (uint64_t)persist_le32(p + 4) << 32;
}

static inline void persist_put16(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static inline void persist_put32(unsigned char *p, uint32_t v)
{
	persist_put16(p, v);
	persist_put16(p + 2, v >> 16);
}

static inline void persist_put64(unsigned char *p, uint64_t v)
{
	persist_put32(p, (uint32_t)v);
	persist_put32(p + 4, (uint32_t)(v >> 32));
}

static inline int persist_fail(char *why, size_t n, const char *msg)
{
	if (n) {
		strncpy(why, msg, n - 1);
		why[n - 1] = '\0';
	}
	return -1;
}

/* crc.c: CRC-32 (IEEE 802.3, as GPT and zlib), CRC-16 (ANSI, reflected
 * 0xA001, as ext4's group descriptor checksums) */
uint32_t persist_crc32(uint32_t crc, const void *buf, size_t len);
uint16_t persist_crc16(uint16_t crc, const void *buf, size_t len);

/* pbkdf2.c: HMAC-SHA-256 (RFC 2104) and PBKDF2-HMAC-SHA-256 (RFC 8018) */
struct hmac_sha256 {
	struct mkl_sha256 inner, outer;	/* the key's pads, hashed once */
};
void hmac_sha256_init(struct hmac_sha256 *h, const void *key, size_t len);
void hmac_sha256(const struct hmac_sha256 *h, const void *msg, size_t len, unsigned char out[32]);
void pbkdf2_sha256(const void *pass, size_t plen, const void *salt, size_t slen, uint32_t iter,
		   unsigned char *out, size_t olen);

/* luks.c: the LUKS1 format (on-disk specification 1.2.3): header, the
 * anti-forensic splitter, the master-key digest; no I/O, no cipher. */
#define LUKS_PHDR 592		/* the header's bytes */
#define LUKS_SLOTS 8
#define LUKS_SALT 32
#define LUKS_DIGEST 20
#define LUKS_STRIPES 4000	/* what we write */
#define LUKS_STRIPES_MAX 4000	/* what we read (cryptsetup writes 4000) */
#define LUKS_KEY_MAX 64
#define LUKS_SLOT_ON 0x00AC71F3u
#define LUKS_SLOT_OFF 0x0000DEADu
struct luks_hdr {
	char cipher[32], mode[32], hash[32], uuid[40];	/* NUL-terminated */
	uint32_t payload;	/* the encrypted volume's first sector */
	uint32_t key_bytes;	/* the master key's size */
	unsigned char mk_digest[LUKS_DIGEST], mk_salt[LUKS_SALT];
	uint32_t mk_iter;
	struct luks_slot {
		int active;
		uint32_t iter, offset, stripes;	/* offset: the key material's sector */
		unsigned char salt[LUKS_SALT];
	} slot[LUKS_SLOTS];
};
/* b starts with a LUKS1 header */
int luks_is(const unsigned char *b);
/* b (LUKS_PHDR bytes) into h: 0, or -1 with why (not LUKS1, not sha256,
 * fields out of bounds) */
int luks_parse(const unsigned char *b, struct luks_hdr *h, char *why, size_t n);
void luks_encode(const struct luks_hdr *h, unsigned char *b);
/* The key slots' offsets and stripes and the payload's offset for
 * h->key_bytes, as cryptsetup lays LUKS1 out */
void luks_layout(struct luks_hdr *h);
/* The sectors key slot i's material takes */
uint32_t luks_slot_sectors(const struct luks_hdr *h, unsigned i);
/* AF-split key (n bytes) into m (n * stripes bytes), whose first
 * stripes - 1 stripes the caller filled with random bytes; and back. */
void luks_af_split(const unsigned char *key, size_t n, unsigned stripes, unsigned char *m);
void luks_af_merge(const unsigned char *m, size_t n, unsigned stripes, unsigned char *key);
/* PBKDF2 of the master key mk with the header's digest salt and iterations */
void luks_mk_digest(const struct luks_hdr *h, const unsigned char *mk, unsigned char out[LUKS_DIGEST]);
/* dm-crypt's cipher for the header: "aes-xts-plain64" */
void luks_dm_cipher(const struct luks_hdr *h, char *out, size_t size);

/* ask.c: a passphrase read on every console (/proc/consoles), echo off:
 * the prompt on each, the first line typed on any. 0 and the passphrase
 * (NUL-terminated, without the newline) in buf, or -1 (no console). */
int ask_pass(const char *prompt, char *buf, size_t size);
/* A line of text to every console */
void ask_say(const char *text);

/* dm.c: device-mapper through its ioctls (no libdevmapper, no udev), for
 * any target type. A device is made live with a table of one target
 * covering sectors 0..sectors-1:
 *
 *	struct dm_spec s = { .name = "mklive-x", .type = "crypt", .sectors = n,
 *			     .params = "aes-xts-plain64 KEYHEX 0 8:2 4096" };
 *	dm_create(&s, &dev, why, sizeof(why));	 // then dm_node() for a path
 *	...
 *	dm_remove("mklive-x", why, sizeof(why));
 *
 * dm_mod (and the target's module: dm_crypt, dm_verity, ...) must be
 * loaded: there is no modprobe for the kernel to ask. Each returns 0, or
 * -1 with errno set and why filled ("device-mapper: cannot ... NAME: ..."). */
struct dm_spec {
	const char *name;	/* the device's name: /dev/mapper/NAME, dmsetup's name */
	const char *uuid;	/* dmsetup's uuid, or NULL */
	const char *type;	/* the target type ("crypt", "verity", "linear", ...) */
	uint64_t sectors;	/* the device's size, 512-byte sectors */
	const char *params;	/* the target's table parameters (up to 1 KiB; a key in
				 * them is wiped from our buffers, and the kernel's) */
	int readonly;		/* a read-only device */
};

/* Make the device, load its table and resume it: live on return, its
 * number in *dev. A device half made is removed again. */
int dm_create(const struct dm_spec *s, dev_t *dev, char *why, size_t n);
/* Remove the device (it must not be open or mounted) and our node for it. */
int dm_remove(const char *name, char *why, size_t n);
/* The block node /dev/mapper/NAME for dev (made anew), its path in path. */
int dm_node(const char *name, dev_t dev, char *path, size_t size, char *why, size_t n);
/* Remove /dev/mapper/NAME if it is there. */
void dm_node_unlink(const char *name);

/* verity_table.c: what the verity job reads, without I/O (fuzzed). */
#define VERITY_BLOCK 4096u	/* data and hash block size */
/* The squashfs's size from its first 96 bytes, rounded up to 4 KiB (where
 * veritysetup's superblock is); 0 when they are no squashfs. */
uint64_t verity_data_bytes(const unsigned char sq[96]);
/* From the kernel command line's text, mklive.verity=IMAGE[,RW]: the
 * image's (rw 0) or the writable root's (rw 1) root hash, 64 hex digits;
 * 0, or -1 when it is not there. */
int verity_root(const char *cmdline, int rw, char root[65]);
/* The dm-verity table's parameters for data bytes of squashfs on the
 * device maj:min, veritysetup's superblock sb after it (checked: format
 * 1, sha256, 4 KiB, covering exactly data) and the root hash: 0, or -1
 * with why. */
int verity_params(const unsigned char sb[512], uint64_t data, const char *root, unsigned maj,
		  unsigned min, char *params, size_t n, char *why, size_t wn);
/* One record of the kernel's log: "data block N" or "metadata block N"
 * into out when it is dm-verity's complaint (0), else -1. */
int verity_corrupt(const char *rec, char *out, size_t n);

/* entry_table.c: what the entry job reads, without I/O. The entry id from
 * the efivarfs file of LoaderEntrySelected (4 bytes of attributes, then
 * UTF-16LE): 0 and id (printable ASCII, no '=' nor space), or -1. */
int entry_id(const unsigned char *var, size_t len, char *id, size_t n);
/* The arguments of entry id in /mklive.conf's text (a line entry.ID=ARGS),
 * *len bytes at the pointer (not NUL-terminated), or NULL: not there. */
const char *entry_args(const char *conf, const char *id, size_t *len);

#endif
