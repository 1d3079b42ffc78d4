/* A partition in the free space after the last one: MBR and hybrid GPT.
 *
 * The image's tables (libisofs's isohybrid MBR, and with UEFI a GPT whose
 * entries overlap the MBR's by design) are read as they are; only a free
 * slot is filled in each, and the GPT's headers are rewritten around it:
 * the last usable LBA and the backup's place move to the new end of the
 * disk, the CRCs are made again. The old backup header, inside the image,
 * is left alone (nothing points to it any more). */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "helper.h"

#define SECTOR 512u
#define GPT_ENTRY_MIN 128u
#define GPT_HEADER_SIZE 92u

/* Linux filesystem data, 0FC63DAF-8483-4772-8E79-3D69D8477DE4, as stored */
static const unsigned char linux_data[16] = {
	0xAF, 0x3D, 0xC6, 0x0F, 0x83, 0x84, 0x72, 0x47,
	0x8E, 0x79, 0x3D, 0x69, 0xD8, 0x47, 0x7D, 0xE4,
};

static int rd(int fd, void *buf, size_t len, uint64_t off)
{
	return pread(fd, buf, len, (off_t)off) == (ssize_t)len ? 0 : -1;
}

static int wr(int fd, const void *buf, size_t len, uint64_t off)
{
	return pwrite(fd, buf, len, (off_t)off) == (ssize_t)len ? 0 : -1;
}

/* The GPT's header (LBA 1) and entries, when the disk has a valid one. */
struct gpt {
	unsigned char hdr[SECTOR];
	unsigned char *ents;
	uint32_t count, esize;
	uint64_t ent_lba, ent_bytes;
};

/* 1: read; 0: none (no signature); -1: one that is damaged. */
static int gpt_read(int fd, struct gpt *g, unsigned char *ents, size_t cap)
{
	unsigned char h[GPT_HEADER_SIZE];
	uint32_t hsize, crc;

	if (rd(fd, g->hdr, SECTOR, SECTOR))
		return -1;
	if (memcmp(g->hdr, "EFI PART", 8))
		return 0;
	hsize = persist_le32(g->hdr + 12);
	if (hsize != GPT_HEADER_SIZE)
		return -1;
	memcpy(h, g->hdr, sizeof(h));
	persist_put32(h + 16, 0);
	if (persist_crc32(0, h, sizeof(h)) != persist_le32(g->hdr + 16))
		return -1;
	g->ent_lba = persist_le64(g->hdr + 72);
	g->count = persist_le32(g->hdr + 80);
	g->esize = persist_le32(g->hdr + 84);
	if (g->esize < GPT_ENTRY_MIN || g->esize % 8 || g->count == 0 ||
	    (uint64_t)g->count * g->esize > cap || g->ent_lba < 2)
		return -1;
	g->ent_bytes = (uint64_t)g->count * g->esize;
	g->ents = ents;
	if (rd(fd, ents, g->ent_bytes, g->ent_lba * SECTOR))
		return -1;
	crc = persist_crc32(0, ents, g->ent_bytes);
	return crc == persist_le32(g->hdr + 88) ? 1 : -1;
}

/* room for 1024 entries of 128 bytes: libisofs writes 248 */
static unsigned char gpt_ents[128 * 1024];

int persist_plan(int fd, uint64_t disk_bytes, struct persist_plan *p, char *why, size_t n)
{
	unsigned char mbr[SECTOR];
	struct gpt g;
	uint64_t end = 1, tail = 1, last;	/* end: first sector after everything used */
	int r;

	memset(p, 0, sizeof(*p));
	p->mbr_slot = -1;
	p->disk_sectors = disk_bytes / SECTOR;
	if (rd(fd, mbr, sizeof(mbr), 0))
		return persist_fail(why, n, "cannot read the partition table");
	if (mbr[510] != 0x55 || mbr[511] != 0xAA)
		return persist_fail(why, n, "no partition table (not a hybrid image written to a disk)");
	for (int i = 0; i < 4; i++) {
		const unsigned char *e = mbr + 446 + 16 * i;
		uint64_t s = persist_le32(e + 8), c = persist_le32(e + 12);

		if (e[4] == 0 && s == 0 && c == 0) {
			if (p->mbr_slot < 0)
				p->mbr_slot = i;
			continue;
		}
		if (e[4] == 0xEE)	/* a protective MBR: the GPT says it all */
			continue;
		if (s + c > end)
			end = s + c;
	}
	if (p->mbr_slot < 0)
		return persist_fail(why, n, "the MBR has no free entry");
	r = gpt_read(fd, &g, gpt_ents, sizeof(gpt_ents));
	if (r < 0)
		return persist_fail(why, n, "the GPT is damaged (bad CRC or layout): left alone");
	if (r) {
		uint64_t ent_end = g.ent_lba + (g.ent_bytes + SECTOR - 1) / SECTOR;

		p->gpt = 1;
		p->gpt_slot = UINT32_MAX;
		if (ent_end > end)
			end = ent_end;
		for (uint32_t i = 0; i < g.count; i++) {
			const unsigned char *e = g.ents + (size_t)i * g.esize;
			static const unsigned char zero[16];

			if (!memcmp(e, zero, 16)) {
				if (p->gpt_slot == UINT32_MAX)
					p->gpt_slot = i;
				continue;
			}
			if (persist_le64(e + 40) + 1 > end)
				end = persist_le64(e + 40) + 1;
		}
		if (p->gpt_slot == UINT32_MAX)
			return persist_fail(why, n, "the GPT has no free entry");
		/* its backup goes to the disk's end: entries, then the header */
		tail = 1 + (g.ent_bytes + SECTOR - 1) / SECTOR;
	}
	/* Linux reads the MBR of a hybrid (no 0xEE entry: its GPT parser
	 * wants a protective MBR) and numbers partitions by MBR entry */
	p->partno = (unsigned)p->mbr_slot + 1;
	if (p->disk_sectors <= tail)
		return persist_fail(why, n, "the disk is too small");
	last = p->disk_sectors - tail;	/* first sector we may not use */
	p->start = (end + PERSIST_ALIGN / SECTOR - 1) / (PERSIST_ALIGN / SECTOR) * (PERSIST_ALIGN / SECTOR);
	if (p->start >= last || (last - p->start) * SECTOR < PERSIST_MIN_FREE)
		return persist_fail(why, n, "less than 256 MiB free after the last partition");
	/* whole 4 KiB blocks for the filesystem; the MBR counts 32 bits */
	p->sectors = (last - p->start) / 8 * 8;
	if (p->start > UINT32_MAX)
		return persist_fail(why, n, "the free space starts beyond what an MBR can name (2 TiB)");
	if (p->start + p->sectors > UINT32_MAX)
		p->sectors = (UINT32_MAX - p->start) / 8 * 8;
	return 0;
}

static void mbr_entry(unsigned char *e, uint64_t start, uint64_t sectors)
{
	memset(e, 0, 16);
	/* CHS fields: "beyond 1024 cylinders", as partitioners write for LBA */
	e[1] = 0xFE, e[2] = 0xFF, e[3] = 0xFF;
	e[4] = 0x83;
	e[5] = 0xFE, e[6] = 0xFF, e[7] = 0xFF;
	persist_put32(e + 8, (uint32_t)start);
	persist_put32(e + 12, (uint32_t)sectors);
}

int persist_add_partition(int fd, const struct persist_plan *p, const char *label,
			  const unsigned char guid[16], char *why, size_t n)
{
	unsigned char mbr[SECTOR], bak[SECTOR];
	struct gpt g;

	if (rd(fd, mbr, sizeof(mbr), 0))
		return persist_fail(why, n, "cannot read the partition table");
	if (p->gpt) {
		uint64_t ent_sectors, bak_ent, last_usable;
		unsigned char *e;

		if (gpt_read(fd, &g, gpt_ents, sizeof(gpt_ents)) != 1 || p->gpt_slot >= g.count)
			return persist_fail(why, n, "the GPT changed under us");
		ent_sectors = (g.ent_bytes + SECTOR - 1) / SECTOR;
		bak_ent = p->disk_sectors - 1 - ent_sectors;
		last_usable = bak_ent - 1;
		e = g.ents + (size_t)p->gpt_slot * g.esize;
		memset(e, 0, g.esize);
		memcpy(e, linux_data, 16);
		memcpy(e + 16, guid, 16);
		persist_put64(e + 32, p->start);
		persist_put64(e + 40, p->start + p->sectors - 1);
		for (size_t i = 0; i < 36 && label[i]; i++)	/* UTF-16LE, ASCII labels */
			e[56 + 2 * i] = (unsigned char)label[i];
		persist_put32(g.hdr + 88, persist_crc32(0, g.ents, g.ent_bytes));
		persist_put64(g.hdr + 32, p->disk_sectors - 1);		/* AlternateLBA */
		persist_put64(g.hdr + 48, last_usable);
		/* the backup: the same with its own place and the entries' */
		memcpy(bak, g.hdr, sizeof(bak));
		persist_put64(bak + 24, p->disk_sectors - 1);
		persist_put64(bak + 32, 1);
		persist_put64(bak + 72, bak_ent);
		persist_put32(bak + 16, 0);
		persist_put32(bak + 16, persist_crc32(0, bak, GPT_HEADER_SIZE));
		persist_put32(g.hdr + 16, 0);
		persist_put32(g.hdr + 16, persist_crc32(0, g.hdr, GPT_HEADER_SIZE));
		/* backup first, the primary last: a half-done change leaves the
		 * primary as it was */
		if (wr(fd, g.ents, g.ent_bytes, bak_ent * SECTOR) ||
		    wr(fd, bak, SECTOR, (p->disk_sectors - 1) * SECTOR) ||
		    wr(fd, g.ents, g.ent_bytes, g.ent_lba * SECTOR) ||
		    wr(fd, g.hdr, SECTOR, SECTOR))
			return persist_fail(why, n, "cannot write the GPT");
	}
	mbr_entry(mbr + 446 + 16 * p->mbr_slot, p->start, p->sectors);
	if (wr(fd, mbr, sizeof(mbr), 0) || fsync(fd))
		return persist_fail(why, n, "cannot write the MBR");
	return 0;
}
