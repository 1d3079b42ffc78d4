/* mklive-helper findiso PATH [SECONDS [rw]]: the ISO as a file (boot option
 * findiso=/PATH, live-boot's name; iso-scan/filename=, dracut's). Every
 * block device in /sys/class/block that holds a filesystem we can mount
 * (src/media/probe.c: FAT12/16/32, exFAT, ext2/3/4, NTFS where the kernel
 * has ntfs3) is mounted on /run/mklive/iso-host and looked into for PATH;
 * the first that has it stays mounted, and the file is attached read-only
 * to a free loop device. The init's medium search, running meanwhile, then
 * finds the medium on that loop device as on any disk (its ID in the
 * volume set identifier).
 *
 * Devices arrive late (USB sticks, the init still loading their drivers),
 * so the walk repeats every 250 ms for SECONDS (default 30) less one, so
 * that this program's report comes before the init's. The partition is
 * mounted read-only, read-write with "rw" (the init asks for it when
 * persistence is on: a persistence file or directory may live beside the
 * ISO, and a filesystem mounted read-only cannot be mounted again
 * read-write). The loop device has no autoclear: this program exits before
 * the init mounts it, and autoclear would free it at the init's first
 * close.
 *
 * "findiso: PATH on DEV (TYPE)" on standard output when found, then exit 0
 * once the loop device is made; 1 and what was found on each device on
 * standard error when no device has the file; 2 for a usage error. The init
 * stops this program once it has found the medium, here or elsewhere. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "helper.h"
#include "../init/loopdev.h"
#include "../media/media.h"

#define ISO_HOST "/run/mklive/iso-host"
#define MAX_DEVS 64

/* What each device held, for the report when none has the file. */
static struct {
	char name[32], what[96];
	int done;	/* read and judged: not looked at again */
} devs[MAX_DEVS];
static int ndevs;

static int dev_slot(const char *name)
{
	int i;

	for (i = 0; i < ndevs; i++)
		if (!strcmp(devs[i].name, name))
			return i;
	if (ndevs == MAX_DEVS)
		return -1;
	snprintf(devs[ndevs].name, sizeof(devs[ndevs].name), "%s", name);
	return ndevs++;
}

static unsigned long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long)ts.tv_sec * 1000 + (unsigned long)ts.tv_nsec / 1000000;
}

/* /sys/class/block/NAME/ATTR into buf (NUL-terminated): 0, or -1. */
static int attr(const char *name, const char *what, char *buf, size_t size)
{
	char path[128];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/class/block/%s/%s", name, what);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	return n > 0 ? 0 : -1;
}

/* /dev/NAME, made from sysfs's dev when devtmpfs has no node (yet). */
static int open_node(const char *name, char *path, size_t size)
{
	char num[32], *p = NULL;
	unsigned long maj, min;
	int fd;

	snprintf(path, size, "/dev/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 || errno != ENOENT)
		return fd;
	maj = attr(name, "dev", num, sizeof(num)) ? 0 : strtoul(num, &p, 10);
	if (!p || *p != ':') {
		errno = ENOENT;
		return -1;
	}
	min = strtoul(p + 1, NULL, 10);
	mknod(path, S_IFBLK | 0600, makedev(maj, min));
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* PATH, open read-only, on a free loop device: its name into dev, or -1. */
static int loop_file(const char *file, const char *path, char *dev, size_t size)
{
	struct loop_config c = { 0 };
	char name[32];
	int ctl, ffd, lfd, n, tries, ok = 0;

	ffd = open(file, O_RDONLY | O_CLOEXEC);
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ffd < 0 || ctl < 0)
		goto out;
	c.fd = (uint32_t)ffd;
	c.info.lo_flags = LO_FLAGS_READ_ONLY;
	snprintf((char *)c.info.lo_file_name, sizeof(c.info.lo_file_name), "%s", path);
	/* another process may take the same free device: then ask again */
	for (tries = 0; tries < 16 && !ok; tries++) {
		n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0)
			break;
		snprintf(name, sizeof(name), "loop%d", n);
		lfd = open_node(name, dev, size);
		if (lfd < 0)
			break;
		if (ioctl(lfd, LOOP_CONFIGURE, &c) == 0)
			ok = 1;
		else if ((errno == EINVAL || errno == ENOTTY) &&	/* before Linux 5.8 */
			 ioctl(lfd, LOOP_SET_FD, ffd) == 0)
			ok = ioctl(lfd, LOOP_SET_STATUS64, &c.info) == 0;
		close(lfd);
		if (!ok && errno != EBUSY)
			break;
	}
out:
	if (ctl >= 0)
		close(ctl);
	if (ffd >= 0)
		close(ffd);
	return ok ? 0 : -1;
}

/* Look at one device: 1 when it has the file (mounted, and the loop device
 * made), 0 when not (devs[slot] says why; done when final). */
static int look(int slot, const char *path, int rw, char *loop, size_t size)
{
	static unsigned char buf[MEDIA_PROBE_BYTES];
	struct media_fs fs;
	char node[64], file[4200], sz[32];
	struct stat st;
	ssize_t r;
	int fd;

	if (attr(devs[slot].name, "size", sz, sizeof(sz)))
		return 0;
	if (!strtoull(sz, NULL, 10)) {
		snprintf(devs[slot].what, sizeof(devs[slot].what), "empty");
		return 0;
	}
	fd = open_node(devs[slot].name, node, sizeof(node));
	if (fd < 0) {
		snprintf(devs[slot].what, sizeof(devs[slot].what), "cannot open: %s", strerror(errno));
		return 0;
	}
	r = pread(fd, buf, sizeof(buf), 0);
	close(fd);
	if (r < 2048) {
		snprintf(devs[slot].what, sizeof(devs[slot].what), "cannot read: %s",
			 r < 0 ? strerror(errno) : "too small");
		return 0;
	}
	devs[slot].done = 1;
	r = media_probe(buf, (size_t)r, &fs);
	if (r < 0 || !strcmp(fs.type, "iso9660")) {
		snprintf(devs[slot].what, sizeof(devs[slot].what), "%s",
			 r < 0 ? "no filesystem we look into" : "ISO 9660, not looked into");
		return 0;
	}
	mkdir("/run/mklive", 0755);
	mkdir(ISO_HOST, 0755);
	if (mount(node, ISO_HOST, fs.type, (rw ? 0 : MS_RDONLY) | MS_NOATIME, NULL) < 0) {
		snprintf(devs[slot].what, sizeof(devs[slot].what), "%s, cannot mount: %s", fs.type,
			 errno == ENODEV ? "no driver for it in this kernel" : strerror(errno));
		return 0;
	}
	snprintf(file, sizeof(file), ISO_HOST "/%s", path + (path[0] == '/'));
	r = stat(file, &st);
	if (r == 0 && S_ISREG(st.st_mode)) {
		/* said first: once the loop device is there, the init may find
		 * the medium on it and stop this program */
		printf("findiso: %s on %s (%s%s)\n", path, node, fs.type, rw ? "" : ", read-only");
		fflush(stdout);
		if (loop_file(file, path, loop, size) == 0)
			return 1;
		snprintf(devs[slot].what, sizeof(devs[slot].what), "%s: has the file, but no loop device "
			 "for it: %s", fs.type, strerror(errno));
	} else {
		snprintf(devs[slot].what, sizeof(devs[slot].what), "%s, %s", fs.type,
			 r == 0 ? "not a regular file" : errno == ENOENT ? "no such file" : strerror(errno));
	}
	umount2(ISO_HOST, 0);
	return 0;
}

static int skip(const char *name)
{
	static const char *const prefixes[] = { "loop", "ram", "zram", "nbd", "sr", "fd", "." };

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (!strncmp(name, prefixes[i], strlen(prefixes[i])))
			return 1;
	return 0;
}

int helper_findiso(int argc, char **argv)
{
	const char *path;
	unsigned long secs = 30, deadline;
	char loop[64], *end;
	int rw = 0, i;

	if (argc < 2 || argc > 4 || argv[1][0] != '/' ||
	    (argc > 2 && ((secs = strtoul(argv[2], &end, 10)) > 86400 || *end || end == argv[2])) ||
	    (argc > 3 && !(rw = !strcmp(argv[3], "rw")))) {
		fprintf(stderr, "usage: mklive-helper findiso /PATH [SECONDS [rw]]\n");
		return 2;
	}
	path = argv[1];
	deadline = now_ms() + (secs > 1 ? secs - 1 : 1) * 1000;
	for (;;) {
		/* getdents: opendir would bring malloc into this program */
		static union {
			struct dirent d;
			char b[8192];
		} ents;
		int dfd = open("/sys/class/block", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		long n, at;

		while (dfd >= 0 && (n = getdents(dfd, &ents.d, sizeof(ents))) > 0) {
			for (at = 0; at < n; at += ((struct dirent *)(ents.b + at))->d_reclen) {
				const char *name = ((struct dirent *)(ents.b + at))->d_name;

				if (skip(name) || (i = dev_slot(name)) < 0 || devs[i].done)
					continue;
				if (look(i, path, rw, loop, sizeof(loop))) {
					close(dfd);
					return 0;
				}
			}
		}
		if (dfd >= 0)
			close(dfd);
		if (now_ms() >= deadline)
			break;
		poll(NULL, 0, 250);
	}
	fprintf(stderr, "mklive-helper findiso: %s: no disk has the file (looked %lu s):\n", path,
		secs > 1 ? secs - 1 : 1);
	for (i = 0; i < ndevs; i++)
		fprintf(stderr, "  /dev/%s: %s\n", devs[i].name, devs[i].what[0] ? devs[i].what : "not read");
	if (!ndevs)
		fprintf(stderr, "  no disk appeared at all\n");
	return 1;
}
