/*
 * Finding the live medium.
 *
 * The builder writes a unique ID into the volume set identifier of the ISO9660
 * Primary Volume Descriptor.  Every block device is probed for it: read the
 * sector at byte 32768, check "\1CD001", compare bytes 190..317 (space padded)
 * with the ID.  Whole disks are probed before partitions, because an
 * isohybrid USB stick shows the same ISO at offset 0 of the disk and of its
 * first partition.  Devices arrive late (USB settles in seconds), so the
 * search repeats as block uevents arrive, with a 250 ms rescan as a fallback,
 * until the timeout.
 *
 * The same walk and wait serve persist.c, which looks for a filesystem
 * label instead (dev_wait() with another probe).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init.h"

#define PVD_OFFSET	32768
#define VOLSET_OFFSET	190
#define VOLSET_LEN	128
#define MAX_DEVS	64

/* <linux/cdrom.h> is not part of musl's headers */
#define CDROM_DRIVE_STATUS	0x5326
#define CDSL_CURRENT		0x7fffffff
#define CDS_TRAY_OPEN		2
#define CDS_DRIVE_NOT_READY	3
#define CDS_DISC_OK		4

/* what the last probe of each device found, for debug and the failure report */
struct seen {
	char name[32];
	char what[160];
};

static struct seen seen[MAX_DEVS];
static int nseen;

static void note(const char *name, const char *what)
{
	int i;

	for (i = 0; i < nseen; i++)
		if (!strcmp(seen[i].name, name))
			break;
	if (i == nseen) {
		if (nseen == MAX_DEVS)
			return;
		nseen++;
		sfmt(seen[i].name, sizeof(seen[i].name), "%s", name);
	} else if (!strcmp(seen[i].what, what)) {
		return;
	}
	sfmt(seen[i].what, sizeof(seen[i].what), "%s", what);
	dbg("probed /dev/%s: %s", name, what);
}

/* devtmpfs normally has the node; make it from sysfs "dev" if not (yet) */
int open_dev(int sysdir, const char *name)
{
	char path[64], dev[32];
	unsigned maj = 0, min = 0;
	char *p;
	int fd;

	sfmt(path, sizeof(path), "/dev/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0 || errno != ENOENT)
		return fd;
	if (read_attr(sysdir, "dev", dev, sizeof(dev)))
		return -1;
	for (p = dev; *p >= '0' && *p <= '9'; p++)
		maj = maj * 10 + *p - '0';
	if (*p++ != ':')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++)
		min = min * 10 + *p - '0';
	mknod(path, S_IFBLK | 0600, makedev(maj, min));
	return open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
}

/*
 * The bytes of the sector at 32768 (len of them, as read from a device we
 * know nothing about): 1 if they are an ISO9660 Primary Volume Descriptor
 * whose volume set ID (space or NUL padded) is id.  Otherwise 0, and what
 * says what the sector holds, printable.
 */
int medium_match(const unsigned char *pvd, size_t len, const char *id,
		 char *what, size_t size)
{
	char shown[VOLSET_LEN + 1];
	size_t n, i;

	if (len < VOLSET_OFFSET + VOLSET_LEN) {
		sfmt(what, size, "%zu bytes, too few for a volume descriptor", len);
		return 0;
	}
	if (pvd[0] != 1 || memcmp(pvd + 1, "CD001", 5)) {
		sfmt(what, size, "no ISO9660 volume");
		return 0;
	}
	n = VOLSET_LEN;
	while (n && (pvd[VOLSET_OFFSET + n - 1] == ' ' ||
		     pvd[VOLSET_OFFSET + n - 1] == 0))
		n--;
	if (n == strlen(id) && !memcmp(pvd + VOLSET_OFFSET, id, n))
		return 1;
	/* the ID of someone else's disc goes to the console: no control bytes */
	for (i = 0; i < n; i++) {
		unsigned char c = pvd[VOLSET_OFFSET + i];

		shown[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	shown[n] = 0;
	sfmt(what, size, "ISO9660, volume set ID '%s'", shown);
	return 0;
}

/*
 * A hybrid image's first partition starts at 0 and holds the same ISO
 * 9660: mounted from there, the disk stays free for a persistence
 * partition beside it (a mounted disk refuses its partitions' claims:
 * dm-crypt's, ext4's). Told by the disk's MBR (entry 1 at sector 0, and
 * no 0xee entry, with which the kernel would read a GPT instead), not by
 * sysfs: a probe between the kernel adding the disk and scanning its
 * partitions sees none yet, and mounting the disk then made persistence
 * fail at random. CDs, loop and dm devices have no partitions of their own.
 */
static int hybrid_first_part(const unsigned char *mbr)
{
	const unsigned char *e = mbr + 446;
	int i;

	if (mbr[510] != 0x55 || mbr[511] != 0xaa)
		return 0;
	for (i = 0; i < 4; i++)
		if (e[16 * i + 4] == 0xee)
			return 0;
	return !(e[8] | e[9] | e[10] | e[11]) && (e[12] | e[13] | e[14] | e[15]);
}

/* 1 if /dev/name holds the medium; notes what it holds otherwise */
static int probe(int sysdir, const char *name, const void *arg)
{
	const char *id = arg;
	unsigned char pvd[2048];
	char what[160], size[32];
	struct stat st;
	ssize_t r;
	int fd;

	/* an empty CD drive reports size 0; opening it notices a new disc */
	if (strncmp(name, "sr", 2) &&
	    (read_attr(sysdir, "size", size, sizeof(size)) || !strcmp(size, "0"))) {
		if (!strncmp(name, "loop", 4))
			return 0;	/* a free loop device */
		note(name, "empty");
		usb_suspect(name, "empty");
		return 0;
	}
	fd = open_dev(sysdir, name);
	if (fd < 0) {
		note(name, errno == ENOMEDIUM ? "no medium" : errstr(errno));
		usb_suspect(name, "cannot open");
		return 0;
	}
	if (!strncmp(name, "sr", 2)) {
		/* opened O_NONBLOCK, so an empty drive opens: ask it */
		r = ioctl(fd, CDROM_DRIVE_STATUS, CDSL_CURRENT);
		if (r >= 0 && r != CDS_DISC_OK) {
			close(fd);
			note(name, r == CDS_TRAY_OPEN ? "tray open" :
				   r == CDS_DRIVE_NOT_READY ? "drive not ready" : "no disc");
			return 0;
		}
	}
	/* not the disk but its first partition: see hybrid_first_part (the
	 * names and sysfs first: no read for partitions, CDs, loop, dm) */
	if (strncmp(name, "sr", 2) && strncmp(name, "loop", 4) && strncmp(name, "dm-", 3) &&
	    fstatat(sysdir, "partition", &st, 0) && pread(fd, pvd, 512, 0) == 512 && hybrid_first_part(pvd)) {
		close(fd);
		note(name, "its first partition holds it");
		return 0;
	}
	r = pread(fd, pvd, sizeof(pvd), PVD_OFFSET);
	close(fd);
	if (r != (ssize_t)sizeof(pvd)) {
		sfmt(what, sizeof(what), "cannot read the sector at %d: %s",
			 PVD_OFFSET, r < 0 ? errstr(errno) : "too small");
		note(name, r < 0 && errno == ENOMEDIUM ? "no medium" : what);
		if (r < 0)
			usb_suspect(name, "read error");
		return 0;
	}
	if (medium_match(pvd, sizeof(pvd), id, what, sizeof(what))) {
		note(name, "the medium");
		return 1;
	}
	note(name, what);
	return 0;
}

/* Loop and device-mapper devices are probed: the helper's (findiso=), or
 * what a multi-ISO tool mapped the file to. */
static int skip_dev(const char *name)
{
	return !strncmp(name, "ram", 3) ||
	       !strncmp(name, "zram", 4) || !strncmp(name, "nbd", 3) ||
	       name[0] == '.';
}

/* insertion sort: a handful of names, and no qsort in the binary */
static void sort_names(char **v, int n)
{
	int i, j;
	char *t;

	for (i = 1; i < n; i++) {
		t = v[i];
		for (j = i; j > 0 && strcmp(v[j - 1], t) > 0; j--)
			v[j] = v[j - 1];
		v[j] = t;
	}
}

/* One pass over /sys/class/block: whole disks first, then partitions. */
static int probe_all(probe_fn *fn, const void *arg, char *dev, size_t size)
{
	char *names[MAX_DEVS];
	struct dirent *e;
	int n = 0, i, pass, found = 0;
	int cls, sysdir;
	struct stat st;
	DIR *d;

	cls = open("/sys/class/block", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cls < 0)
		return 0;
	d = fdopendir(dup(cls));
	while (d && (e = readdir(d)) && n < MAX_DEVS)
		if (!skip_dev(e->d_name))
			names[n++] = strdup(e->d_name);
	if (d)
		closedir(d);
	sort_names(names, n);
	for (pass = 0; pass < 2 && !found; pass++) {
		for (i = 0; i < n && !found; i++) {
			if (!names[i])
				continue;
			sysdir = openat(cls, names[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (sysdir < 0)
				continue;
			/* fstatat: musl's faccessat brings a helper process along */
			if ((fstatat(sysdir, "partition", &st, 0) == 0) == pass &&
			    fn(sysdir, names[i], arg)) {
				sfmt(dev, size, "/dev/%s", names[i]);
				found = 1;
			}
			close(sysdir);
		}
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	close(cls);
	return found;
}

static void report(const struct init_cfg *cfg, unsigned long waited)
{
	int i;

	err("error: medium not found: no block device holds an ISO9660 volume "
	    "with volume set ID '%s'", cfg->id);
	err("waited %lu.%lu s for it (mklive.timeout=%u)", waited / 1000,
	    waited % 1000 / 100, cfg->timeout);
	if (!nseen)
		err("no block device appeared at all: no driver for the disk, CD "
		    "or USB controller in the initramfs?");
	else
		err("block devices probed:");
	for (i = 0; i < nseen; i++)
		err("  /dev/%s: %s", seen[i].name, seen[i].what);
	err("try: mklive.timeout=90 (and usb_storage.delay_use=5) for a slow USB "
	    "stick; check that the medium "
	    "is plugged in and was written completely; mklive.debug to see "
	    "every module and device");
}

/*
 * Probe every block device with fn until it says yes or ms milliseconds have
 * passed, loading drivers for new devices meanwhile; after quiet_ms without
 * success, say that we wait for what.  Fills dev with "/dev/NAME"; 0 when
 * found, -1 when not.
 */
int dev_wait(probe_fn *fn, const void *arg, int ufd, unsigned long ms,
	     unsigned long quiet_ms, const char *what, char *dev, size_t size)
{
	unsigned long start = now_ms(), now, last = 0;
	unsigned long deadline = start + ms;
	struct pollfd p = { .fd = ufd, .events = POLLIN };
	int said = 0, first = 1, wait;

	for (;;) {
		/* look again when a block device came or went, else every 250 ms */
		int block = uevent_handle(ufd);

		if (ufd < 0 && !first && now_ms() - last >= 250)
			mod_coldplug();	/* no uevents: walk for new devices */

		now = now_ms();
		if (first || block || now - last >= 250) {
			first = 0;
			last = now;
			if (probe_all(fn, arg, dev, size))
				return 0;
			now = now_ms();
		}
		/* USB sticks that need usb-storage's settle time: scan again */
		if (usb_settle())
			now = now_ms();
		if (now >= deadline)
			return -1;
		if (!said && now - start >= quiet_ms) {
			info("waiting up to %lu s for %s ...", ms / 1000, what);
			said = 1;
		}
		wait = 250 - (int)(now - last < 250 ? now - last : 250);
		if (deadline - now < (unsigned long)wait)
			wait = deadline - now;
		if (ufd >= 0)
			poll(&p, 1, wait);
		else
			poll(NULL, 0, wait);
	}
}

/*
 * Wait until the medium appears.  Fills dev with "/dev/NAME"; 0 when found,
 * -1 after the report when not.
 */
int medium_find(const struct init_cfg *cfg, int ufd, char *dev, size_t size)
{
	unsigned long start = now_ms();
	char what[160];
	pid_t pid = -1;

	/* findiso=/PATH: mklive-helper looks for the file on every disk
	 * meanwhile (this process goes on loading the drivers the disks
	 * need) and attaches it to a loop device, found below like any disk */
	if (cfg->findiso) {
		mod_load_list(cfg->isomods);
		sfmt(what, sizeof(what), "%u", cfg->timeout);
		pid = _Fork();
		if (pid == 0) {
			execv("/mklive-helper", (char *[]){ "mklive-helper", "findiso",
				(char *)cfg->findiso, what, cfg->persist ? "rw" : NULL, NULL });
			_exit(127);
		}
	}
	sfmt(what, sizeof(what), "the medium %s", cfg->id);
	if (dev_wait(probe, cfg->id, ufd, cfg->timeout * 1000UL, 2000, what,
		     dev, size) == 0) {
		if (pid > 0) {	/* found here or elsewhere: the helper is done */
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
		return 0;
	}
	report(cfg, now_ms() - start);
	return -1;
}
