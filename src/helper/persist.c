/* mklive-helper persist DISK [LABEL]: a partition in the free space after the
 * last one on DISK (a block device, or a disk image file; a partition's
 * device stands for its disk: the init names the medium), with an empty
 * ext4 filesystem labelled LABEL (default "persistence") in it; then the
 * kernel is told of the new partition. See persist.h.
 *
 * Exit 0 and one line on standard output: "DISK: partition N, X MiB";
 * 1 and the reason on standard error when nothing was made (no room, no
 * free entry, a read-only medium, ...); 2 for a usage error. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* <linux/fs.h>'s, which musl-gcc's include path lacks */
#define BLKGETSIZE64 _IOR(0x12, 114, size_t)
#define BLKPG _IO(0x12, 105)
#define BLKPG_ADD_PARTITION 1
struct blkpg_ioctl_arg {
	int op, flags, datalen;
	void *data;
};
struct blkpg_partition {
	long long start, length;	/* bytes */
	int pno;
	char devname[64], volname[64];
};

#include "helper.h"

/* The disk a partition device (/dev/sda1) belongs to: its parent
 * directory in sysfs. Anything else as it is. */
static const char *whole_disk(const char *dev, char *out, size_t size)
{
	char sys[128], link[256], *a, *b;
	ssize_t n;

	if (strncmp(dev, "/dev/", 5) || strchr(dev + 5, '/'))
		return dev;
	snprintf(sys, sizeof(sys), "/sys/class/block/%s/partition", dev + 5);
	if (access(sys, F_OK))
		return dev;
	snprintf(sys, sizeof(sys), "/sys/class/block/%s", dev + 5);
	n = readlink(sys, link, sizeof(link) - 1);
	if (n <= 0)
		return dev;
	link[n] = 0;
	if (!(a = strrchr(link, '/')))
		return dev;
	*a = 0;
	b = strrchr(link, '/');
	snprintf(out, size, "/dev/%s", b ? b + 1 : link);
	return out;
}

#ifndef GRND_INSECURE
#define GRND_INSECURE 0x0004
#endif

static int random_bytes(unsigned char *buf, size_t len)
{
	ssize_t n = getrandom(buf, len, GRND_INSECURE);

	if (n < 0 && errno == EINVAL)	/* older kernels */
		n = getrandom(buf, len, 0);
	return n == (ssize_t)len ? 0 : -1;
}

int helper_persist(int argc, char **argv)
{
	const char *disk, *label = "persistence";
	unsigned char uuid[16], guid[16];
	struct persist_plan p;
	char why[160], whole[64];
	struct stat st;
	uint64_t bytes;
	int fd;

	if (argc < 2 || argc > 3 || argv[1][0] == '-') {
		fprintf(stderr, "usage: mklive-helper persist DISK [LABEL]\n");
		return 2;
	}
	disk = argv[1];
	if (argc == 3)
		label = argv[2];
	if (strlen(label) > 16) {
		fprintf(stderr, "mklive-helper persist: label '%s' is longer than 16 bytes\n", label);
		return 2;
	}
	if (!strncmp(disk, "/dev/sr", 7)) {
		fprintf(stderr, "mklive-helper persist: %s is a CD: it cannot take a partition\n", disk);
		return 1;
	}
	disk = whole_disk(disk, whole, sizeof(whole));
	fd = open(disk, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "mklive-helper persist: cannot open %s for writing: %s\n", disk,
			errno == EROFS || errno == EACCES ? "the medium is read-only" : strerror(errno));
		return 1;
	}
	if (fstat(fd, &st) || (S_ISBLK(st.st_mode) ? ioctl(fd, BLKGETSIZE64, &bytes) : 0)) {
		fprintf(stderr, "mklive-helper persist: cannot size %s: %s\n", disk, strerror(errno));
		return 1;
	}
	if (!S_ISBLK(st.st_mode))
		bytes = (uint64_t)st.st_size;
	if (persist_plan(fd, bytes, &p, why, sizeof(why))) {
		fprintf(stderr, "mklive-helper persist: %s: %s\n", disk, why);
		return 1;
	}
	/* UUIDs need no secret randomness: early in boot the kernel's pool
	 * may not be ready (seconds under QEMU), and GRND_INSECURE (Linux
	 * 5.6) does not wait for it */
	if (random_bytes(uuid, sizeof(uuid)) || random_bytes(guid, sizeof(guid))) {
		fprintf(stderr, "mklive-helper persist: no random numbers for the UUIDs\n");
		return 1;
	}
	uuid[6] = (uuid[6] & 0x0F) | 0x40, uuid[8] = (uuid[8] & 0x3F) | 0x80;	/* version 4 */
	guid[7] = (guid[7] & 0x0F) | 0x40, guid[8] = (guid[8] & 0x3F) | 0x80;	/* as stored */
	/* the filesystem first: a partition entry never points at garbage */
	if (persist_mkext4(fd, p.start * 512, p.sectors * 512, label, uuid, (uint32_t)time(NULL),
			   why, sizeof(why)) ||
	    persist_add_partition(fd, &p, label, guid, why, sizeof(why))) {
		fprintf(stderr, "mklive-helper persist: %s: %s\n", disk, why);
		return 1;
	}
	/* the kernel learns of this one partition alone (BLKPG, as partprobe
	 * does): reading the whole table again (BLKRRPART) is refused while
	 * the medium's partition is mounted */
	if (S_ISBLK(st.st_mode)) {
		struct blkpg_partition bp = { .start = (long long)(p.start * 512),
					      .length = (long long)(p.sectors * 512),
					      .pno = (int)p.partno };
		struct blkpg_ioctl_arg a = { .op = BLKPG_ADD_PARTITION, .datalen = sizeof(bp), .data = &bp };

		if (ioctl(fd, BLKPG, &a) < 0)
			fprintf(stderr, "mklive-helper persist: %s: the kernel did not take partition %u (%s); "
				"it will at the next boot\n", disk, p.partno, strerror(errno));
	}
	close(fd);
	printf("%s: partition %u, %llu MiB\n", disk, p.partno,
	       (unsigned long long)(p.sectors * 512 >> 20));
	return 0;
}
