/* An empty ext4 filesystem, as little as the kernel and e2fsck need.
 *
 * Ours, not mke2fs: the init's initramfs carries no e2fsprogs (and a
 * static libext2fs would weigh more than this whole program). What it
 * makes, for a partition of 256 MiB and more (the caller's minimum):
 *
 *   - 4 KiB blocks, 32768 blocks and 8192 inodes of 256 bytes per group
 *     (mke2fs's 16 KiB per inode), 32-byte group descriptors, no reserved
 *     GDT blocks (no online resizing), no reserved blocks for root;
 *   - features has_journal ext_attr dir_index | filetype extent |
 *     sparse_super large_file uninit_bg dir_nlink extra_isize: ext4 to the
 *     kernel and to blkid, checked by e2fsck -fn;
 *   - written at once: group 0 (its bitmaps and inode table), the super
 *     block and descriptor copies of the sparse groups, the root
 *     directory, lost+found and the journal's super block (the journal's
 *     other blocks are not zeroed: an empty journal is never read, as
 *     mke2fs -E lazy_journal_init). Every other group is marked
 *     INODE_UNINIT and BLOCK_UNINIT with its checksum, as mke2fs does: the
 *     kernel makes those bitmaps when it first needs them and zeroes the
 *     inode tables in the background (its lazyinit thread). The last group
 *     always gets its block bitmap, with the blocks past the end set. About
 *     2.3 MB are written, whatever the size of the partition. */
#include <string.h>
#include <unistd.h>

#include "helper.h"

#define BS 4096u
#define BPG 32768u
#define IPG 8192u
#define ISIZE 256u
#define ITB (IPG * ISIZE / BS)		/* inode table blocks per group: 512 */
#define DESC 32u
#define ROOT_INO 2u
#define JOURNAL_INO 8u
#define LPF_INO 11u
#define FIRST_INO 11u
#define EXTENTS_FL 0x80000u

static void be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

struct fs {
	int fd;
	uint64_t off;
	uint32_t blocks, groups, gdt, journal;
	uint32_t root_blk, lpf_blk, jstart;
	const unsigned char *uuid;
	uint32_t now;
};

static int wblk(const struct fs *f, uint64_t blk, const void *buf, size_t len)
{
	return pwrite(f->fd, buf, len, (off_t)(f->off + blk * BS)) == (ssize_t)len ? 0 : -1;
}

/* groups 0, 1 and the powers of 3, 5 and 7 hold super block copies */
static int has_super(uint32_t g)
{
	if (g <= 1)
		return 1;
	for (uint32_t b = 3; b <= 7; b += 2) {
		uint32_t x = g;

		while (x % b == 0)
			x /= b;
		if (x == 1)
			return 1;
	}
	return 0;
}

static uint32_t group_blocks(const struct fs *f, uint32_t g)
{
	return g + 1 < f->groups ? BPG : f->blocks - g * BPG;
}

/* the group's metadata: super block and descriptors (sparse groups),
 * block bitmap, inode bitmap, inode table */
static uint32_t meta(const struct fs *f, uint32_t g)
{
	return (has_super(g) ? 1 + f->gdt : 0) + 2 + ITB;
}

static uint32_t first_meta(const struct fs *f, uint32_t g)
{
	return g * BPG + (has_super(g) ? 1 + f->gdt : 0);
}

static void set_bits(unsigned char *map, uint32_t from, uint32_t to)
{
	for (uint32_t i = from; i < to; i++)
		map[i / 8] |= (unsigned char)(1u << (i % 8));
}

/* an inode with its data in one extent: blocks from start */
static void inode(unsigned char *p, uint32_t mode, uint32_t links, uint64_t size, uint32_t start,
		  uint32_t count, uint32_t now)
{
	memset(p, 0, ISIZE);
	persist_put16(p, mode);
	persist_put32(p + 0x04, (uint32_t)size);
	persist_put32(p + 0x08, now);
	persist_put32(p + 0x0C, now);
	persist_put32(p + 0x10, now);
	persist_put16(p + 0x1A, links);
	persist_put32(p + 0x1C, count * (BS / 512));
	persist_put32(p + 0x20, EXTENTS_FL);
	/* the extent header and its one extent, in i_block */
	persist_put16(p + 0x28, 0xF30A);
	persist_put16(p + 0x2A, 1);
	persist_put16(p + 0x2C, 4);
	persist_put32(p + 0x34, 0);
	persist_put16(p + 0x38, count);
	persist_put32(p + 0x3C, start);
	persist_put32(p + 0x6C, (uint32_t)(size >> 32));
	persist_put16(p + 0x80, 32);		/* i_extra_isize */
	persist_put32(p + 0x90, now);		/* i_crtime */
}

static void dirent(unsigned char *p, uint32_t ino, uint32_t rec, const char *name)
{
	size_t len = strlen(name);

	persist_put32(p, ino);
	persist_put16(p + 4, rec);
	p[6] = (unsigned char)len;
	p[7] = 2;	/* a directory */
	memcpy(p + 8, name, len);
}

static void super(const struct fs *f, unsigned char *sb, uint32_t group, uint64_t free_blocks,
		  const char *label, const unsigned char *jinode)
{
	memset(sb, 0, 1024);
	persist_put32(sb + 0x00, f->groups * IPG);
	persist_put32(sb + 0x04, f->blocks);
	persist_put32(sb + 0x0C, (uint32_t)free_blocks);
	persist_put32(sb + 0x10, f->groups * IPG - FIRST_INO);
	persist_put32(sb + 0x18, 2);			/* 1024 << 2 */
	persist_put32(sb + 0x1C, 2);
	persist_put32(sb + 0x20, BPG);
	persist_put32(sb + 0x24, BPG);
	persist_put32(sb + 0x28, IPG);
	persist_put32(sb + 0x30, f->now);
	persist_put16(sb + 0x36, 0xFFFF);		/* no mount-count checks */
	persist_put16(sb + 0x38, 0xEF53);
	persist_put16(sb + 0x3A, 1);			/* clean */
	persist_put16(sb + 0x3C, 1);			/* errors: continue */
	persist_put32(sb + 0x40, f->now);
	persist_put32(sb + 0x4C, 1);			/* dynamic revision */
	persist_put32(sb + 0x54, FIRST_INO);
	persist_put16(sb + 0x58, ISIZE);
	persist_put16(sb + 0x5A, group);
	persist_put32(sb + 0x5C, 0x4 | 0x8 | 0x20);	/* has_journal ext_attr dir_index */
	persist_put32(sb + 0x60, 0x2 | 0x40);		/* filetype extent */
	persist_put32(sb + 0x64, 0x1 | 0x2 | 0x10 | 0x20 | 0x40);
	memcpy(sb + 0x68, f->uuid, 16);
	strncpy((char *)sb + 0x78, label, 16);
	persist_put32(sb + 0xE0, JOURNAL_INO);
	for (int i = 0; i < 16; i++)		/* the directory hash seed */
		sb[0xEC + i] = (unsigned char)(f->uuid[15 - i] ^ 0x5A);
	sb[0xFC] = 1;				/* half_md4 */
	sb[0xFD] = 1;				/* s_jnl_blocks holds a copy */
	persist_put32(sb + 0x100, 0x000C);		/* user_xattr acl */
	persist_put32(sb + 0x108, f->now);
	memcpy(sb + 0x10C, jinode + 0x28, 60);	/* the journal inode's i_block */
	persist_put32(sb + 0x10C + 64, (uint32_t)((uint64_t)f->journal * BS));
	persist_put16(sb + 0x15C, 32);
	persist_put16(sb + 0x15E, 32);
	persist_put32(sb + 0x160, 1);			/* signed directory hash (x86) */
}

/* mke2fs's default journal size for the filesystem's size, at most what
 * fits in group 0 after its metadata */
static uint32_t journal_blocks(uint32_t blocks)
{
	if (blocks < 262144)
		return 4096;
	if (blocks < 1048576)
		return 8192;
	return 16384;
}

/* Long (about 130 lines): the layout worked out (groups, the inodes, the
 * group descriptors), then group 0, the journal and the copies in the
 * sparse groups written in that order, each step using the numbers of the
 * one before. */
int persist_mkext4(int fd, uint64_t off, uint64_t bytes, const char *label,
		   const unsigned char uuid[16], uint32_t now, char *why, size_t n)
{
	static unsigned char blk[BS], itable[ITB * BS], gdt[BS * 32];
	unsigned char sb[1024], jinode[ISIZE];
	struct fs f = { .fd = fd, .off = off, .uuid = uuid, .now = now };
	uint64_t free_total = 0;

	if (bytes / BS > UINT32_MAX)
		return persist_fail(why, n, "the partition is larger than 16 TiB");
	f.blocks = (uint32_t)(bytes / BS);
	if (f.blocks < 2 * BPG)
		return persist_fail(why, n, "the partition is smaller than 256 MiB");
	f.groups = (f.blocks + BPG - 1) / BPG;
	f.gdt = (f.groups * DESC + BS - 1) / BS;
	/* a last group too small for its own metadata and some data goes */
	if (group_blocks(&f, f.groups - 1) < meta(&f, f.groups - 1) + 256) {
		f.groups--;
		f.blocks = f.groups * BPG;
		f.gdt = (f.groups * DESC + BS - 1) / BS;
	}
	if (f.gdt > sizeof(gdt) / BS)
		return persist_fail(why, n, "too many block groups");
	f.journal = journal_blocks(f.blocks);
	f.root_blk = 1 + f.gdt + 2 + ITB;
	f.lpf_blk = f.root_blk + 1;
	f.jstart = f.lpf_blk + 1;
	if (f.jstart + f.journal > BPG)
		return persist_fail(why, n, "no room for the journal in the first group");

	/* the inodes: root, journal, lost+found */
	memset(itable, 0, sizeof(itable));
	inode(itable + (ROOT_INO - 1) * ISIZE, 040755, 3, BS, f.root_blk, 1, now);
	inode(itable + (JOURNAL_INO - 1) * ISIZE, 0100600, 1, (uint64_t)f.journal * BS, f.jstart,
	      f.journal, now);
	inode(itable + (LPF_INO - 1) * ISIZE, 040700, 2, BS, f.lpf_blk, 1, now);
	memcpy(jinode, itable + (JOURNAL_INO - 1) * ISIZE, ISIZE);

	/* the group descriptors */
	memset(gdt, 0, (size_t)f.gdt * BS);
	for (uint32_t g = 0; g < f.groups; g++) {
		unsigned char *d = gdt + (size_t)g * DESC, gl[4];
		uint32_t m = first_meta(&f, g), used = meta(&f, g), flags;
		uint32_t free_b, free_i = IPG, unused = IPG, dirs = 0;
		uint16_t crc;

		if (g == 0) {
			used += 2 + f.journal;	/* root, lost+found, journal */
			free_i = IPG - FIRST_INO;
			unused = IPG - FIRST_INO;
			dirs = 2;
			flags = 0x4;		/* INODE_ZEROED: we write its table */
		} else {
			flags = 0x1 | (g + 1 < f.groups ? 0x2 : 0);	/* INODE_UNINIT, BLOCK_UNINIT */
		}
		free_b = group_blocks(&f, g) - used;
		free_total += free_b;
		persist_put32(d + 0x00, m);
		persist_put32(d + 0x04, m + 1);
		persist_put32(d + 0x08, m + 2);
		persist_put16(d + 0x0C, free_b);
		persist_put16(d + 0x0E, free_i);
		persist_put16(d + 0x10, dirs);
		persist_put16(d + 0x12, flags);
		persist_put16(d + 0x1C, unused);
		persist_put32(gl, g);
		crc = persist_crc16(0xFFFF, uuid, 16);
		crc = persist_crc16(crc, gl, 4);
		crc = persist_crc16(crc, d, 0x1E);
		persist_put16(d + 0x1E, crc);
	}

	/* group 0: block 0 (the super block at 1024), descriptors, bitmaps,
	 * inode table, root and lost+found */
	memset(blk, 0, sizeof(blk));
	super(&f, sb, 0, free_total, label, jinode);
	memcpy(blk + 1024, sb, sizeof(sb));
	if (wblk(&f, 0, blk, BS) || wblk(&f, 1, gdt, (size_t)f.gdt * BS))
		return persist_fail(why, n, "cannot write the super block");
	memset(blk, 0, sizeof(blk));
	set_bits(blk, 0, f.jstart + f.journal);
	set_bits(blk, group_blocks(&f, 0), BPG);
	if (wblk(&f, 1 + f.gdt, blk, BS))
		return persist_fail(why, n, "cannot write the block bitmap");
	memset(blk, 0, sizeof(blk));
	set_bits(blk, 0, FIRST_INO);
	set_bits(blk, IPG, BS * 8);
	if (wblk(&f, 2 + f.gdt, blk, BS) || wblk(&f, 3 + f.gdt, itable, sizeof(itable)))
		return persist_fail(why, n, "cannot write the inode table");
	memset(blk, 0, sizeof(blk));
	dirent(blk, ROOT_INO, 12, ".");
	dirent(blk + 12, ROOT_INO, 12, "..");
	dirent(blk + 24, LPF_INO, BS - 24, "lost+found");
	if (wblk(&f, f.root_blk, blk, BS))
		return persist_fail(why, n, "cannot write the root directory");
	memset(blk, 0, sizeof(blk));
	dirent(blk, LPF_INO, 12, ".");
	dirent(blk + 12, ROOT_INO, BS - 12, "..");
	if (wblk(&f, f.lpf_blk, blk, BS))
		return persist_fail(why, n, "cannot write lost+found");

	/* the journal's super block (jbd2 v2, big-endian): empty, s_start 0 */
	memset(blk, 0, sizeof(blk));
	be32(blk + 0x00, 0xC03B3998);
	be32(blk + 0x04, 4);
	be32(blk + 0x0C, BS);
	be32(blk + 0x10, f.journal);
	be32(blk + 0x14, 1);
	be32(blk + 0x18, 1);
	memcpy(blk + 0x30, uuid, 16);
	be32(blk + 0x40, 1);
	if (wblk(&f, f.jstart, blk, BS))
		return persist_fail(why, n, "cannot write the journal");

	/* the copies in the sparse groups, and the last group's block bitmap */
	for (uint32_t g = 1; g < f.groups; g++) {
		if (has_super(g)) {
			memset(blk, 0, sizeof(blk));
			super(&f, blk, g, free_total, label, jinode);
			if (wblk(&f, (uint64_t)g * BPG, blk, BS) ||
			    wblk(&f, (uint64_t)g * BPG + 1, gdt, (size_t)f.gdt * BS))
				return persist_fail(why, n, "cannot write a super block copy");
		}
		if (g + 1 == f.groups) {
			memset(blk, 0, sizeof(blk));
			set_bits(blk, 0, meta(&f, g));
			set_bits(blk, group_blocks(&f, g), BPG);
			if (wblk(&f, first_meta(&f, g), blk, BS))
				return persist_fail(why, n, "cannot write the last block bitmap");
		}
	}
	if (fsync(fd))
		return persist_fail(why, n, "cannot flush the filesystem to the disk");
	return 0;
}
