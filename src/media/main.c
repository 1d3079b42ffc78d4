/*
 * mklive-media: /media/list on a live system (media.h).
 *
 *   mklive-media KEY          autofs program map: print the map entry that
 *                             mounts the device listed as KEY; nothing and
 *                             exit 1 for an unknown or malformed key
 *   mklive-media --sync       make the list directory match the block
 *                             devices now attached (run by a udev rule on
 *                             every add/remove/change of a block device)
 *   mklive-media --show       the devices, one per line: name, device,
 *                             filesystem, label
 *
 * The list is a directory of links, NAME -> MOUNTS/NAME, where MOUNTS is the
 * autofs mount point of this map; so listing it shows every attached device
 * with a filesystem, and the first access through a link mounts it. Names
 * come from labels (made safe, media_name) or kernel names; two devices
 * with one name get -2, -3, ... in kernel-name order, which the map and the
 * list compute alike from the same scan, so there is no state to go stale.
 *
 * Options before the mode: --sysfs DIR (default /sys/class/block), --dev DIR
 * (default /dev), --list DIR (default /run/mklive-media), --mounts DIR
 * (default /media/.auto), --passwd FILE (default /etc/passwd: FAT and
 * friends are mounted for the first user with a uid from 1000).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "media.h"

static const char *sysfs = "/sys/class/block", *devdir = "/dev", *listdir = "/run/mklive-media",
		  *mounts = "/media/.auto", *passwd = "/etc/passwd";

struct dev {
	char kname[256];
	char name[MEDIA_NAME_MAX + 16];	/* and "-N" */
	struct media_fs fs;
};

static int by_kname(const void *a, const void *b)
{
	return strcmp(((const struct dev *)a)->kname, ((const struct dev *)b)->kname);
}

static int skipped(const char *k)
{
	/* Virtual devices, and the internal floppy drive: reading an empty
	 * one fills the kernel log with I/O errors (USB floppies are sd*). */
	static const char *const virt[] = { "loop", "ram", "nbd", "zram", "dm-", "md", "fd", NULL };

	for (int i = 0; virt[i]; i++)
		if (!strncmp(k, virt[i], strlen(virt[i])))
			return 1;
	return k[0] == '.';
}

/* A whole disk with partitions is listed by its partitions. */
static int has_partitions(const char *k)
{
	char path[512];
	struct dirent *e;
	DIR *d;
	int found = 0;

	snprintf(path, sizeof(path), "%s/%s", sysfs, k);
	d = opendir(path);
	if (!d)
		return 0;
	while (!found && (e = readdir(d))) {
		char part[800];

		if (strncmp(e->d_name, k, strlen(k)))
			continue;
		snprintf(part, sizeof(part), "%s/%s/partition", path, e->d_name);
		found = access(part, F_OK) == 0;
	}
	closedir(d);
	return found;
}

/* Every attached device with a filesystem, named, in kernel-name order. */
static int scan(struct dev **out, size_t *n)
{
	static unsigned char buf[MEDIA_PROBE_BYTES];
	struct dev *v = NULL;
	size_t cap = 0;
	struct dirent *e;
	DIR *d = opendir(sysfs);

	*n = 0;
	if (!d) {
		fprintf(stderr, "mklive-media: cannot read %s: %s\n", sysfs, strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		char path[512];
		struct media_fs fs;
		ssize_t got;
		int fd;

		if (skipped(e->d_name) || strlen(e->d_name) >= sizeof(((struct dev *)0)->kname) ||
		    !media_key_ok(e->d_name) || has_partitions(e->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", devdir, e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0)
			continue;	/* no medium in the drive, or gone meanwhile */
		got = read(fd, buf, sizeof(buf));
		close(fd);
		if (got <= 0 || media_probe(buf, (size_t)got, &fs) < 0)
			continue;
		if (*n == cap) {
			struct dev *nv = realloc(v, (cap = cap ? 2 * cap : 16) * sizeof(*v));

			if (!nv) {
				free(v);
				closedir(d);
				fprintf(stderr, "mklive-media: out of memory\n");
				return -1;
			}
			v = nv;
		}
		memcpy(v[*n].kname, e->d_name, strlen(e->d_name) + 1);
		v[*n].fs = fs;
		(*n)++;
	}
	closedir(d);
	qsort(v, *n, sizeof(*v), by_kname);
	for (size_t i = 0; i < *n; i++) {
		char base[MEDIA_NAME_MAX + 1];
		int k = 1;

		media_name(v[i].fs.label, v[i].kname, base);
		snprintf(v[i].name, sizeof(v[i].name), "%s", base);
		for (size_t j = 0; j < i; j++) {
			if (strcmp(v[j].name, v[i].name))
				continue;
			snprintf(v[i].name, sizeof(v[i].name), "%s-%d", base, ++k);
			j = (size_t)-1;	/* check the new name from the start */
		}
	}
	*out = v;
	return 0;
}

/* The first user's uid and gid (1000..59999), else root's. */
static void first_user(uid_t *uid, gid_t *gid)
{
	FILE *f = fopen(passwd, "re");
	char line[1024];

	*uid = 0;
	*gid = 0;
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long u, g;
		char *p = strchr(line, ':');

		if (p)
			p = strchr(p + 1, ':');
		if (p && sscanf(p + 1, "%lu:%lu", &u, &g) == 2 && u >= 1000 && u < 60000) {
			*uid = (uid_t)u;
			*gid = (gid_t)g;
			break;
		}
	}
	if (f)
		fclose(f);
}

static int map(const char *key)
{
	struct dev *v;
	size_t n;
	int rc = 1;

	if (!media_key_ok(key) || scan(&v, &n) < 0)
		return 1;
	for (size_t i = 0; i < n; i++) {
		char entry[512];
		uid_t uid;
		gid_t gid;

		if (strcmp(v[i].name, key))
			continue;
		first_user(&uid, &gid);
		if (media_entry(&v[i].fs, v[i].kname, uid, gid, entry, sizeof(entry)) == 0) {
			printf("%s\n", entry);
			rc = 0;
		}
		break;
	}
	free(v);
	return rc;
}

static int sync_list(void)
{
	struct dev *v;
	size_t n;
	struct dirent *e;
	DIR *d;
	int dfd, rc = 0;

	if (mkdir(listdir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "mklive-media: cannot make %s: %s\n", listdir, strerror(errno));
		return 1;
	}
	if (scan(&v, &n) < 0)
		return 1;
	dfd = open(listdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = dfd < 0 ? NULL : fdopendir(dfd);
	if (!d) {
		fprintf(stderr, "mklive-media: cannot open %s: %s\n", listdir, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		free(v);
		return 1;
	}
	/* Links of devices that are gone (or renamed) go. */
	while ((e = readdir(d))) {
		size_t i;

		if (e->d_name[0] == '.')
			continue;
		for (i = 0; i < n && strcmp(v[i].name, e->d_name); i++)
			;
		if (i == n && unlinkat(dfd, e->d_name, 0) < 0 && errno != ENOENT)
			rc = 1;
	}
	/* Each device: a link made under a temporary name, renamed over. */
	for (size_t i = 0; i < n; i++) {
		char target[600], tmp[MEDIA_NAME_MAX + 32];

		snprintf(target, sizeof(target), "%s/%s", mounts, v[i].name);
		snprintf(tmp, sizeof(tmp), ".%s.%ld", v[i].name, (long)getpid());
		unlinkat(dfd, tmp, 0);
		if (symlinkat(target, dfd, tmp) < 0 || renameat(dfd, tmp, dfd, v[i].name) < 0) {
			fprintf(stderr, "mklive-media: cannot list %s: %s\n", v[i].name, strerror(errno));
			unlinkat(dfd, tmp, 0);
			rc = 1;
		}
	}
	closedir(d);
	free(v);
	return rc;
}

static int show(void)
{
	struct dev *v;
	size_t n;

	if (scan(&v, &n) < 0)
		return 1;
	for (size_t i = 0; i < n; i++)
		printf("%s\t/dev/%s\t%s\t%s\n", v[i].name, v[i].kname, v[i].fs.type, v[i].fs.label);
	free(v);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: mklive-media [OPTIONS] KEY | --sync | --show\n"
		   "/media/list on a live system: one link per attached device with a\n"
		   "filesystem, named by its label, mounted by autofs on first access.\n"
		   "\n"
		   "  KEY        the autofs program map: print the entry that mounts KEY\n"
		   "             (exit 1 and nothing for an unknown key)\n"
		   "  --sync     make the list match the devices attached now (udev runs it)\n"
		   "  --show     the devices: name, device, filesystem type, label\n"
		   "\n"
		   "Options (before the mode; the defaults are the live system's):\n"
		   "  --sysfs DIR    block devices (/sys/class/block)\n"
		   "  --dev DIR      device nodes (/dev)\n"
		   "  --list DIR     the list that --sync keeps (/run/mklive-media)\n"
		   "  --mounts DIR   the autofs mount point (/media/.auto)\n"
		   "  --passwd FILE  where the owner of FAT files is looked up (/etc/passwd)\n"
		   "\n"
		   "See mklive-media(8).\n");
}

int main(int argc, char **argv)
{
	int i;

	for (i = 1; i + 1 < argc && !strncmp(argv[i], "--", 2); i += 2) {
		const char **opt = !strcmp(argv[i], "--sysfs") ? &sysfs : !strcmp(argv[i], "--dev") ? &devdir :
				   !strcmp(argv[i], "--list") ? &listdir : !strcmp(argv[i], "--mounts") ? &mounts :
				   !strcmp(argv[i], "--passwd") ? &passwd : NULL;

		if (!opt)
			break;
		*opt = argv[i + 1];
	}
	if (i + 1 != argc) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[i], "--sync"))
		return sync_list();
	if (!strcmp(argv[i], "--show"))
		return show();
	if (!strcmp(argv[i], "--help")) {
		usage(stdout);
		return 0;
	}
	return map(argv[i]);
}
