/* Device-mapper through its ioctls on /dev/mapper/control, as the kernel's
 * include/uapi/linux/dm-ioctl.h describes them: no libdevmapper, no dmsetup
 * and no udev (the initramfs has none of them). A device is made with a
 * table of one target of any type (crypt, verity, linear, ...) in three
 * calls: DM_DEV_CREATE (the name), DM_TABLE_LOAD (the inactive table),
 * DM_DEV_SUSPEND without the suspend flag (resume: the table goes live).
 * The node is ours to make: /dev/mapper/NAME (devtmpfs makes /dev/dm-N by
 * itself, but the N is the kernel's to choose). See helper.h for the API. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "helper.h"

/* <linux/dm-ioctl.h>'s, which musl-gcc's include path lacks */
struct dm_ioctl {
	uint32_t version[3];
	uint32_t data_size;	/* all we pass, this struct included */
	uint32_t data_start;	/* where the targets start, from this struct */
	uint32_t target_count;
	int32_t open_count;
	uint32_t flags;
	uint32_t event_nr;
	uint32_t padding;
	uint64_t dev;
	char name[128];
	char uuid[129];
	char data[7];
};

struct dm_target_spec {
	uint64_t sector_start, length;
	int32_t status;
	uint32_t next;		/* from this spec to the next one */
	char target_type[16];
	/* the parameters follow, NUL-terminated */
};

_Static_assert(sizeof(struct dm_ioctl) == 312, "struct dm_ioctl as the kernel's");
_Static_assert(sizeof(struct dm_target_spec) == 40, "struct dm_target_spec as the kernel's");

#define DM_IOCTL_NR(cmd) _IOWR(0xfd, cmd, struct dm_ioctl)
#define DM_DEV_CREATE DM_IOCTL_NR(3)
#define DM_DEV_REMOVE DM_IOCTL_NR(4)
#define DM_DEV_SUSPEND DM_IOCTL_NR(6)
#define DM_TABLE_LOAD DM_IOCTL_NR(9)
#define DM_READONLY_FLAG (1u << 0)
#define DM_SECURE_DATA_FLAG (1u << 15)	/* the kernel wipes what held the table */

#define DM_CONTROL "/dev/mapper/control"

static int dm_fail(char *why, size_t n, const char *what, const char *name, int e)
{
	if (n)
		snprintf(why, n, "device-mapper: %s %s: %s", what, name, strerror(e));
	errno = e;
	return -1;
}

/* /dev/mapper/control: devtmpfs makes it when dm_mod loads; made from
 * sysfs when /dev is not devtmpfs. */
static int dm_control(void)
{
	char num[32], *end;
	unsigned long maj, min;
	ssize_t r;
	int fd = open(DM_CONTROL, O_RDWR | O_CLOEXEC);

	if (fd >= 0 || errno != ENOENT)
		return fd;
	fd = open("/sys/class/misc/device-mapper/dev", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	r = read(fd, num, sizeof(num) - 1);
	close(fd);
	num[r > 0 ? r : 0] = 0;
	maj = strtoul(num, &end, 10);
	min = *end == ':' ? strtoul(end + 1, NULL, 10) : 0;
	if (r <= 0 || *end != ':') {
		errno = ENODEV;
		return -1;
	}
	mkdir("/dev/mapper", 0755);
	if (mknod(DM_CONTROL, S_IFCHR | 0600, makedev(maj, min)) && errno != EEXIST)
		return -1;
	return open(DM_CONTROL, O_RDWR | O_CLOEXEC);
}

/* One ioctl on the device named name; buf holds the struct and room
 * after it (size bytes in all). */
static int dm_call(int fd, unsigned long cmd, struct dm_ioctl *io, size_t size, const char *name,
		   uint32_t flags)
{
	io->version[0] = 4;	/* the interface's major version; minor 0: any */
	io->data_size = (uint32_t)size;
	io->data_start = sizeof(*io);
	io->flags = flags;
	snprintf(io->name, sizeof(io->name), "%s", name);
	return ioctl(fd, cmd, io);
}

int dm_create(const struct dm_spec *s, dev_t *dev, char *why, size_t n)
{
	union {
		struct dm_ioctl io;
		unsigned char b[sizeof(struct dm_ioctl) + sizeof(struct dm_target_spec) + 1024];
	} u;
	struct dm_target_spec *t = (struct dm_target_spec *)(u.b + sizeof(u.io));
	size_t plen = strlen(s->params), size;
	int fd, e;

	if (strlen(s->name) >= sizeof(u.io.name) || strlen(s->type) >= sizeof(t->target_type) ||
	    (s->uuid && strlen(s->uuid) >= sizeof(u.io.uuid)) ||
	    plen >= sizeof(u.b) - sizeof(u.io) - sizeof(*t))
		return dm_fail(why, n, "cannot make", s->name, ENAMETOOLONG);
	fd = dm_control();
	if (fd < 0)
		return dm_fail(why, n, "cannot open", DM_CONTROL " for", errno);

	memset(&u, 0, sizeof(u));
	if (s->uuid)
		snprintf(u.io.uuid, sizeof(u.io.uuid), "%s", s->uuid);
	if (dm_call(fd, DM_DEV_CREATE, &u.io, sizeof(u.io), s->name, 0)) {
		e = errno;
		close(fd);
		return dm_fail(why, n, "cannot make", s->name, e);
	}

	memset(&u, 0, sizeof(u));
	size = (sizeof(u.io) + sizeof(*t) + plen + 1 + 7) & ~(size_t)7;
	u.io.target_count = 1;
	t->length = s->sectors;
	t->next = (uint32_t)(size - sizeof(u.io));
	memcpy(t->target_type, s->type, strlen(s->type));
	memcpy(t + 1, s->params, plen + 1);
	if (dm_call(fd, DM_TABLE_LOAD, &u.io, size, s->name,
		    DM_SECURE_DATA_FLAG | (s->readonly ? DM_READONLY_FLAG : 0))) {
		e = errno;
		dm_fail(why, n, "cannot load the table of", s->name, e);
		goto undo;
	}
	explicit_bzero(t + 1, plen);	/* a key in the parameters */

	memset(&u.io, 0, sizeof(u.io));
	if (dm_call(fd, DM_DEV_SUSPEND, &u.io, sizeof(u.io), s->name, DM_SECURE_DATA_FLAG)) {
		e = errno;
		dm_fail(why, n, "cannot resume", s->name, e);
		goto undo;
	}
	*dev = (dev_t)u.io.dev;
	close(fd);
	return 0;

undo:
	explicit_bzero(&u, sizeof(u));
	dm_call(fd, DM_DEV_REMOVE, &u.io, sizeof(u.io), s->name, 0);
	close(fd);
	errno = e;
	return -1;
}

int dm_remove(const char *name, char *why, size_t n)
{
	struct dm_ioctl io;
	int fd = dm_control(), e;

	if (fd < 0)
		return dm_fail(why, n, "cannot open", DM_CONTROL " for", errno);
	memset(&io, 0, sizeof(io));
	e = dm_call(fd, DM_DEV_REMOVE, &io, sizeof(io), name, 0) ? errno : 0;
	close(fd);
	if (e)
		return dm_fail(why, n, "cannot remove", name, e);
	dm_node_unlink(name);
	return 0;
}

int dm_node(const char *name, dev_t dev, char *path, size_t size, char *why, size_t n)
{
	if ((size_t)snprintf(path, size, "/dev/mapper/%s", name) >= size)
		return dm_fail(why, n, "no room for the node of", name, ENAMETOOLONG);
	if (mkdir("/dev/mapper", 0755) && errno != EEXIST)
		return dm_fail(why, n, "cannot make /dev/mapper for", name, errno);
	unlink(path);
	if (mknod(path, S_IFBLK | 0600, dev))
		return dm_fail(why, n, "cannot make the node of", name, errno);
	return 0;
}

void dm_node_unlink(const char *name)
{
	char path[160];

	snprintf(path, sizeof(path), "/dev/mapper/%s", name);
	unlink(path);
}
