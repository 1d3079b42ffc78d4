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

int persist_random(unsigned char *buf, size_t len, int secret)
{
	ssize_t n = -1;
	size_t got;

	/* UUIDs need no secret randomness: early in boot the kernel's pool
	 * may not be ready (seconds under QEMU), and GRND_INSECURE (Linux
	 * 5.6) does not wait for it; keys wait */
	for (got = 0; got < len; got += (size_t)n) {
		n = getrandom(buf + got, len - got, secret ? 0 : GRND_INSECURE);
		if (n < 0 && errno == EINVAL && !secret)	/* older kernels */
			n = getrandom(buf + got, len - got, 0);
		if (n < 0 && errno == EINTR)
			n = 0;
		else if (n <= 0)
			return -1;
	}
	return 0;
}

int persist_open_disk(const char *dev, struct persist_disk *d, char *why, size_t n)
{
	memset(d, 0, sizeof(*d));
	d->fd = -1;
	if (!strncmp(dev, "/dev/sr", 7)) {
		snprintf(why, n, "%s is a CD: it cannot take a partition", dev);
		return -1;
	}
	d->path = whole_disk(dev, d->whole, sizeof(d->whole));
	d->fd = open(d->path, O_RDWR | O_CLOEXEC);
	if (d->fd < 0) {
		snprintf(why, n, "cannot open %s for writing: %s", d->path,
			 errno == EROFS || errno == EACCES ? "the medium is read-only" : strerror(errno));
		return -1;
	}
	if (fstat(d->fd, &d->st) || (S_ISBLK(d->st.st_mode) ? ioctl(d->fd, BLKGETSIZE64, &d->bytes) : 0)) {
		snprintf(why, n, "cannot size %s: %s", d->path, strerror(errno));
		close(d->fd);
		d->fd = -1;
		return -1;
	}
	if (!S_ISBLK(d->st.st_mode))
		d->bytes = (uint64_t)d->st.st_size;
	return 0;
}

int persist_add(const struct persist_disk *d, const struct persist_plan *p, const char *label,
		char *why, size_t n)
{
	unsigned char guid[16];
	char msg[160];

	if (persist_random(guid, sizeof(guid), 0))
		return persist_fail(why, n, "no random numbers for the partition's GUID");
	guid[7] = (guid[7] & 0x0F) | 0x40, guid[8] = (guid[8] & 0x3F) | 0x80;	/* version 4, as stored */
	if (persist_add_partition(d->fd, p, label, guid, msg, sizeof(msg))) {
		snprintf(why, n, "%s: %s", d->path, msg);
		return -1;
	}
	return 0;
}

int persist_tell_kernel(const struct persist_disk *d, const struct persist_plan *p, char *why, size_t n)
{
	/* the kernel learns of this one partition alone (BLKPG, as partprobe
	 * does): reading the whole table again (BLKRRPART) is refused while
	 * the medium's partition is mounted */
	struct blkpg_partition bp = { .start = (long long)(p->start * 512),
				      .length = (long long)(p->sectors * 512),
				      .pno = (int)p->partno };
	struct blkpg_ioctl_arg a = { .op = BLKPG_ADD_PARTITION, .datalen = sizeof(bp), .data = &bp };

	if (!S_ISBLK(d->st.st_mode) || ioctl(d->fd, BLKPG, &a) >= 0)
		return 0;
	snprintf(why, n, "%s: the kernel did not take partition %u (%s)", d->path, p->partno, strerror(errno));
	return -1;
}

int helper_persist(int argc, char **argv)
{
	const char *label = "persistence";
	unsigned char uuid[16];
	struct persist_plan p;
	struct persist_disk d;
	char why[200];

	if (argc < 2 || argc > 3 || argv[1][0] == '-') {
		fprintf(stderr, "usage: mklive-helper persist DISK [LABEL]\n");
		return 2;
	}
	if (argc == 3)
		label = argv[2];
	if (strlen(label) > 16) {
		fprintf(stderr, "mklive-helper persist: label '%s' is longer than 16 bytes\n", label);
		return 2;
	}
	if (persist_open_disk(argv[1], &d, why, sizeof(why)) ||
	    persist_plan(d.fd, d.bytes, &p, why, sizeof(why))) {
		fprintf(stderr, "mklive-helper persist: %s%s%s\n", d.fd >= 0 ? d.path : "",
			d.fd >= 0 ? ": " : "", why);
		return 1;
	}
	if (persist_random(uuid, sizeof(uuid), 0)) {
		fprintf(stderr, "mklive-helper persist: no random numbers for the UUIDs\n");
		return 1;
	}
	uuid[6] = (uuid[6] & 0x0F) | 0x40, uuid[8] = (uuid[8] & 0x3F) | 0x80;	/* version 4 */
	/* the filesystem first: a partition entry never points at garbage */
	if (persist_mkext4(d.fd, p.start * 512, p.sectors * 512, label, uuid, (uint32_t)time(NULL),
			   why, sizeof(why))) {
		fprintf(stderr, "mklive-helper persist: %s: %s\n", d.path, why);
		return 1;
	}
	if (persist_add(&d, &p, label, why, sizeof(why))) {
		fprintf(stderr, "mklive-helper persist: %s\n", why);
		return 1;
	}
	if (persist_tell_kernel(&d, &p, why, sizeof(why)))
		fprintf(stderr, "mklive-helper persist: %s; it will at the next boot\n", why);
	close(d.fd);
	printf("%s: partition %u, %llu MiB\n", d.path, p.partno,
	       (unsigned long long)(p.sectors * 512 >> 20));
	return 0;
}
