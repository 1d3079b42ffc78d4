/* tests/boot/findiso.sh: what a multi-ISO loader does before the
 * distribution's init runs: map the ISO's sectors on a disk to a
 * device-mapper device (dm-linear), so that the init finds the medium on
 * /dev/dm-0 and on nothing else.
 *
 * Run by the kernel as rdinit=/dmmap with mklive-dmmap=DISK,OFFSET,SECTORS
 * on the command line: a child does the mapping once DISK appears (and
 * mklive-init has mounted /proc, /sys and /dev), while this process
 * becomes mklive-init (/init) as PID 1. The child loads /dm-mod.ko. */
#include <fcntl.h>
#include <linux/dm-ioctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int dm(int ctl, unsigned long cmd, struct dm_ioctl *io, size_t size, const char *what)
{
	io->version[0] = DM_VERSION_MAJOR;
	io->data_size = (unsigned)size;
	io->data_start = sizeof(*io);
	snprintf(io->name, sizeof(io->name), "isomap");
	if (ioctl(ctl, cmd, io) == 0)
		return 0;
	perror(what);
	return -1;
}

static void map(const char *disk, unsigned long long off, unsigned long long sectors)
{
	char path[128], num[32] = "";
	struct timespec ms = { 0, 50000000 };
	union {
		struct dm_ioctl io;
		char b[16384];
	} u;
	struct dm_target_spec *t = (void *)(u.b + sizeof(u.io));
	int fd, i, ctl = -1;

	/* /sys and /dev are mounted by mklive-init; the disk's driver loaded by it */
	snprintf(path, sizeof(path), "/sys/class/block/%s/dev", disk);
	for (i = 0; i < 1200; i++) {
		fd = open(path, O_RDONLY);
		if (fd >= 0 && read(fd, num, sizeof(num) - 1) > 0)
			break;
		if (fd >= 0)
			close(fd);
		nanosleep(&ms, NULL);
	}
	close(fd);
	num[strcspn(num, "\n")] = 0;
	fd = open("/dm-mod.ko", O_RDONLY);
	if (fd < 0 || syscall(SYS_finit_module, fd, "", 0) < 0)
		perror("dmmap: dm-mod.ko");
	for (i = 0; i < 100 && ctl < 0; i++) {
		ctl = open("/dev/mapper/control", O_RDWR);
		if (ctl < 0)
			nanosleep(&ms, NULL);
	}
	if (ctl < 0) {
		perror("dmmap: /dev/mapper/control");
		return;
	}
	memset(&u, 0, sizeof(u));
	if (dm(ctl, DM_DEV_CREATE, &u.io, sizeof(u.io), "dmmap: DM_DEV_CREATE"))
		return;
	memset(&u, 0, sizeof(u));
	u.io.target_count = 1;
	t->sector_start = 0;
	t->length = sectors;
	snprintf(t->target_type, sizeof(t->target_type), "linear");
	snprintf((char *)(t + 1), 64, "%s %llu", num, off);
	t->next = 0;
	if (dm(ctl, DM_TABLE_LOAD, &u.io, sizeof(u.io) + sizeof(*t) + 64, "dmmap: DM_TABLE_LOAD"))
		return;
	memset(&u, 0, sizeof(u));
	if (dm(ctl, DM_DEV_SUSPEND, &u.io, sizeof(u.io), "dmmap: resume"))
		return;
	printf("dmmap: %s (%s) sectors %llu+%llu mapped to isomap\n", disk, num, off, sectors);
}

int main(int argc, char **argv)
{
	struct timespec ms = { 0, 50000000 };
	unsigned long long off, sectors;
	char buf[4096], disk[32], *cmd;
	ssize_t n;
	int fd;

	(void)argc;
	if (fork() == 0) {
		/* /proc is mounted by mklive-init: wait for it */
		while ((fd = open("/proc/cmdline", O_RDONLY)) < 0)
			nanosleep(&ms, NULL);
		n = read(fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = 0;
		cmd = strstr(buf, "mklive-dmmap=");
		if (cmd && sscanf(cmd + 13, "%31[^,],%llu,%llu", disk, &off, &sectors) == 3)
			map(disk, off, sectors);
		else
			fprintf(stderr, "dmmap: no mklive-dmmap=DISK,OFFSET,SECTORS\n");
		_exit(0);
	}
	execv("/init", argv);
	perror("dmmap: /init");
	return 1;
}
