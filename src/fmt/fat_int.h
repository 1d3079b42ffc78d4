/* The FAT writer's own header, for its parts (see fat.h):
 *   fat_names.c  names: UTF-8 to UTF-16, 8.3 short names and their case
 *                bits, generated "BASIS~N" names, each directory's sort
 *   fat_plan.c   plan: the tree of the file list, the geometry (FAT type,
 *                cluster size, FAT size) and the cluster allocation
 *   fat.c        write: boot sector, the two FATs, directories, contents
 *   fat_input.c  a source (directory or tar) read into a file list
 */
#ifndef MKL_FAT_INT_H
#define MKL_FAT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "fmt/fat.h"

#define SECTOR 512u
#define DIRENT 32u
#define FAT12_MAX 4084u		/* clusters; 4085 and more is FAT16 */
#define FAT16_MAX 65524u	/* clusters; 65525 and more would be FAT32 */
#define ROOT_ENTRIES 512u
#define FLOPPY_ROOT_ENTRIES 224u
#define MAX_UNITS 255u		/* UTF-16 units in a long name */
#define LFN_CHARS 13u

#define ATTR_VOLUME 0x08
#define ATTR_DIR 0x10
#define ATTR_ARCHIVE 0x20
#define ATTR_LFN 0x0f
#define CASE_LOWER_BASE 0x08
#define CASE_LOWER_EXT 0x10

struct node {
	char *name;			/* UTF-8 component; NULL for the root */
	const struct mkl_fat_file *file;	/* regular files */
	int is_dir;
	int explicit_dir;		/* named by a "dir/" entry */
	size_t *kids;			/* node indices, sorted by name after planning */
	size_t nkids, capkids;
	int kids_sorted;		/* kids were added in increasing name order */
	uint16_t u16[MAX_UNITS];	/* the name in UTF-16 */
	unsigned nu16;
	uint8_t sname[11];		/* short name, space padded */
	uint8_t ntcase;
	unsigned nlfn;			/* long-name entries (0: short name only) */
	uint32_t entries;		/* directories: entries they hold */
	uint32_t first, nclus;		/* first cluster (0: none), cluster count */
	size_t parent;
};

struct fat {
	struct node *nodes;
	size_t n, cap;
	size_t *order;			/* nodes with clusters, in allocation order */
	size_t norder;
	/* geometry */
	uint32_t reserved, spc, csize, fat_sectors, root_entries, total_sectors, clusters;
	int bits;
	uint8_t media;
	uint16_t spt, heads;
	uint8_t drive;
	/* time stamps, FAT encoded */
	uint16_t fdate, ftime;
};

/* fat_names.c */
int fat_short_char(uint16_t c);
int fat_set_name(struct node *nd, const char *name, size_t len, const char *path, struct mkl_err *err);
/* Sort a directory, reject names equal but for case, give each entry its
 * short name, count the directory's entries. */
int fat_plan_dir(struct fat *f, size_t dir, int has_label, struct mkl_err *err);

/* fat_plan.c */
/* The node tree of files[], every directory planned, the geometry and the
 * clusters: everything mkl_fat_write needs but the bytes. */
int fat_plan(struct fat *f, const struct mkl_fat_opts *o, const struct mkl_fat_file *files, size_t n,
	     struct mkl_err *err);
void fat_free(struct fat *f);
/* The path of node i ("" for the root), for messages. */
void fat_path_of(const struct fat *f, size_t i, char *buf, size_t size);

#endif
