/*
 * USB sticks without usb-storage's settle time, and with it for those that
 * need it.
 *
 * usb-storage waits delay_use seconds (1 by default) between binding a
 * device and scanning it for disks, because some devices answer wrongly
 * when asked at once: no answer to INQUIRY (no disk at all), "not ready" or
 * "no medium" (a disk of size 0), reads that fail.  Most sticks answer at
 * once, and from a stick the wait was half the initramfs phase.
 *
 * So the init loads usb-storage with delay_use=0 (unless the kernel
 * command line sets usb_storage.delay_use, which is then passed on as it
 * is and nothing here acts), and gives the settle time back to the devices
 * that showed they need it: an interface of usb-storage with no block
 * device 1 s after the init saw it, or whose disk probed as empty, without
 * a medium or unreadable, is scanned again with delay_use=1 (the kernel's
 * default) by unbinding it from usb-storage and binding it again.  Once
 * per interface: an empty card reader stays empty.  Such a stick costs
 * that second more than with the kernel's default; all others save it.
 * Before switch_root delay_use goes back to 1, so that sticks plugged into
 * the running system get the kernel's behaviour.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "init.h"

#define DRIVER		"/sys/bus/usb/drivers/usb-storage"
#define DELAY_USE	"/sys/module/usb_storage/parameters/delay_use"
#define SETTLE_MS	1000
#define MAX_IFACES	16

static int fast;		/* usb-storage was loaded with delay_use=0 by us */
static struct {
	char name[32];		/* "2-1:1.0" */
	unsigned long seen;	/* when the init first saw it bound */
	int disk;		/* a block device was seen on it */
	int again;		/* 1: to be scanned again, 2: done */
} ifs[MAX_IFACES];
static int nifs;

void usb_fast_scan(void)
{
	fast = 1;
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), r;

	if (fd < 0)
		return -1;
	r = write(fd, s, strlen(s)) == (ssize_t)strlen(s) ? 0 : -1;
	close(fd);
	return r;
}

static int find(const char *name)
{
	int i;

	for (i = 0; i < nifs; i++)
		if (!strcmp(ifs[i].name, name))
			return i;
	if (nifs == MAX_IFACES || strlen(name) >= sizeof(ifs[0].name))
		return -1;
	strcpy(ifs[nifs].name, name);
	ifs[nifs].seen = now_ms();
	ifs[nifs].disk = ifs[nifs].again = 0;
	return nifs++;
}

/* The usb-storage interface that block device name (a disk or a partition)
 * is on, from its sysfs path ".../2-1/2-1:1.0/host2/target2:0:0/..." */
static int iface_of(const char *name, char *iface, size_t size)
{
	char path[64], link[512], *h, *s;
	ssize_t n;

	sfmt(path, sizeof(path), "/sys/class/block/%s", name);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return -1;
	link[n] = 0;
	for (h = link; (h = strchr(h, '/')); h++) {
		if (strncmp(h, "/host", 5))
			continue;
		*h = 0;
		s = strrchr(link, '/');
		if (!s || !strchr(s, ':'))
			return -1;
		sfmt(iface, size, "%s", s + 1);
		sfmt(path, sizeof(path), DRIVER "/%s", iface);
		return access(path, F_OK);
	}
	return -1;
}

/* Does a block device of /sys/class/block lie on iface? */
static int has_disk(const char *iface)
{
	char other[32];
	struct dirent *e;
	int found = 0;
	DIR *d = opendir("/sys/class/block");

	while (d && !found && (e = readdir(d)))
		found = e->d_name[0] != '.' && iface_of(e->d_name, other, sizeof(other)) == 0 &&
			!strcmp(other, iface);
	if (d)
		closedir(d);
	return found;
}

/* The medium search's probe found block device name unready (why). */
void usb_suspect(const char *name, const char *why)
{
	char iface[32];
	int i;

	if (!fast || iface_of(name, iface, sizeof(iface)) < 0)
		return;
	i = find(iface);
	if (i >= 0 && !ifs[i].again) {
		ifs[i].again = 1;
		dbg("USB disk %s on %s: %s", name, iface, why);
	}
}

/*
 * Between two passes of the medium search: note new usb-storage interfaces,
 * mark those still without a disk after SETTLE_MS, and scan the marked ones
 * again with the settle delay.  Returns how many were rebound.
 */
int usb_settle(void)
{
	struct dirent *e;
	int i, n = 0;
	DIR *d;

	if (!fast)
		return 0;
	d = opendir(DRIVER);
	while (d && (e = readdir(d))) {
		if (!strchr(e->d_name, ':'))
			continue;	/* not an interface: bind, module, ... */
		i = find(e->d_name);
		if (i < 0 || ifs[i].disk || ifs[i].again || now_ms() - ifs[i].seen < SETTLE_MS)
			continue;
		ifs[i].disk = has_disk(ifs[i].name);
		if (!ifs[i].disk) {
			ifs[i].again = 1;
			dbg("USB storage %s: no disk %d ms after it was bound",
			    ifs[i].name, SETTLE_MS);
		}
	}
	if (d)
		closedir(d);
	for (i = 0; i < nifs; i++) {
		if (ifs[i].again != 1)
			continue;
		ifs[i].again = 2;
		if (write_str(DELAY_USE, "1") < 0 || write_str(DRIVER "/unbind", ifs[i].name) < 0 ||
		    write_str(DRIVER "/bind", ifs[i].name) < 0) {
			err("warning: cannot scan USB storage %s again with the settle "
			    "time: %s", ifs[i].name, errstr(errno));
			continue;
		}
		info("USB storage %s was not ready: scanning it again after usb-storage's "
		     "settle time (1 s; usb_storage.delay_use=N sets it for all)", ifs[i].name);
		n++;
	}
	return n;
}

/* Before switch_root: sticks plugged in later get the kernel's default. */
void usb_settle_done(void)
{
	if (fast && write_str(DELAY_USE, "1") < 0)
		err("warning: cannot set " DELAY_USE " back to 1: %s", errstr(errno));
	fast = 0;
}
