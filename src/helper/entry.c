/* mklive-helper entry OUT: which of the menu's choices systemd-boot started
 * the one signed UKI for, and that choice's arguments written to OUT for
 * the init to take as it takes the kernel command line's.
 *
 * systemd-boot (252) sets the volatile EFI variable LoaderEntrySelected
 * (systemd's loader GUID, the entry's id: its loader/entries file name,
 * lower case, UTF-16LE) before it starts the entry. The entries are not
 * signed and only name one; what each choice does comes from the table
 * the builder wrote into the initramfs's /mklive.conf (entry.ID=ARGS, from
 * bootmenu.c's rows), which is inside the signed UKI. An id that is not in
 * the table, or no variable at all, is the default entry: nothing added.
 *
 * efivarfs is a module in Debian's kernel: the init loads it first (it is
 * in /mklive.conf's modules= of a signed image). It is mounted on its usual
 * place for the read and unmounted again, so the real system finds /sys as
 * the kernel left it.
 *
 * An argument that is a bare word for the kernel (ignore_loglevel) came too
 * late for the kernel's command line: where the kernel has it as a runtime
 * parameter, /sys/module/X/parameters/WORD, it is set there.
 *
 * Exit 0: OUT written (empty for the default); 1: no choice could be read
 * (not UEFI, no efivarfs), the reason on standard error; 2: usage. */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helper.h"

#define EFIVARS "/sys/firmware/efi/efivars"
#define SELECTED EFIVARS "/LoaderEntrySelected-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"

static ssize_t read_all(const char *path, void *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n, got = 0;

	if (fd < 0)
		return -1;
	while ((size_t)got < size && (n = read(fd, (char *)buf + got, size - (size_t)got)) > 0)
		got += n;
	close(fd);
	return got;
}

/* Each bare word of args (no '=', no '.') that the kernel has as a runtime
 * parameter of a built-in part, /sys/module/X/parameters/WORD: set to Y.
 * (getdents: opendir would bring malloc along, 8 KB.) */
static void kernel_words(const char *args, size_t len)
{
	char path[160], dents[8192] __attribute__((aligned(8)));
	int dfd, n, set;

	for (size_t i = 0, l; i < len; i += l) {
		i += strspn(args + i, " ");
		l = strcspn(args + i, " \n");
		if (!l || l > 64 || i + l > len || memchr(args + i, '=', l) || memchr(args + i, '.', l))
			continue;
		dfd = open("/sys/module", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		for (set = 0; dfd >= 0 && !set && (n = getdents(dfd, (struct dirent *)dents, sizeof(dents))) > 0;)
			for (int o = 0; o < n && !set; o += ((struct dirent *)(dents + o))->d_reclen) {
				int fd;

				snprintf(path, sizeof(path), "/sys/module/%s/parameters/%.*s",
					 ((struct dirent *)(dents + o))->d_name, (int)l, args + i);
				fd = open(path, O_WRONLY | O_CLOEXEC);
				if (fd < 0)
					continue;
				set = 1;
				if (write(fd, "Y", 1) != 1)
					fprintf(stderr, "mklive-helper: entry: cannot set %s: %s\n", path,
						strerror(errno));
				close(fd);
			}
		if (dfd >= 0)
			close(dfd);
	}
}

int helper_entry(int argc, char **argv)
{
	unsigned char var[512];
	static char conf[16384];
	char id[128];
	const char *args = "";
	size_t len = 0;
	ssize_t n, c;
	int fd, mounted;

	if (argc != 2) {
		fprintf(stderr, "usage: mklive-helper entry OUT\n");
		return 2;
	}
	if (access("/sys/firmware/efi", F_OK)) {
		fprintf(stderr, "mklive-helper: entry: not started by UEFI (no systemd-boot entry): nothing "
			"added to the command line\n");
		return 1;
	}
	mounted = mount("efivarfs", EFIVARS, "efivarfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0;
	if (!mounted && errno != EBUSY) {
		fprintf(stderr, "mklive-helper: entry: cannot mount efivarfs on " EFIVARS " (is the module "
			"efivarfs loaded?): %s; the default entry\n", strerror(errno));
		return 1;
	}
	n = read_all(SELECTED, var, sizeof(var));
	if (mounted)
		umount(EFIVARS);
	c = read_all("/mklive.conf", conf, sizeof(conf) - 1);
	conf[c > 0 ? c : 0] = 0;
	if (n < 0 || entry_id(var, (size_t)n, id, sizeof(id))) {
		fprintf(stderr, "mklive-helper: entry: no LoaderEntrySelected (not started by systemd-boot): "
			"nothing added to the command line\n");
	} else if (!(args = entry_args(conf, id, &len))) {
		fprintf(stderr, "mklive-helper: entry: '%s' is none of this image's boot entries: the "
			"default entry\n", id);
		args = "";
	} else {
		fprintf(stderr, "mklive-helper: boot entry %s%s%.*s\n", id, len ? ": " : " (the default)",
			(int)len, args);
		kernel_words(args, len);
	}
	fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, args, len) != (ssize_t)len || close(fd)) {
		fprintf(stderr, "mklive-helper: entry: cannot write %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	return 0;
}
