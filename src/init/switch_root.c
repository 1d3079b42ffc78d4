/*
 * Leaving the initramfs for the real root.
 *
 * Why it is done this way (the sequence busybox's switch_root follows):
 *
 * - The initramfs is the kernel's "rootfs", which can be neither unmounted
 *   nor pivot_root'ed away.  The only way out is to mount the new root over
 *   "/" with MS_MOVE and chroot into it.
 * - rootfs stays in memory for the life of the system, so its files must be
 *   deleted first, or they hold RAM forever.  The deletion must not cross
 *   into other filesystems (the new root, /dev, /run with the medium):
 *   compare st_dev with the root's on every directory.
 * - An ext2 initrd (the article's kind, --initrd-format ext2, booted as
 *   root=/dev/ram0) is an ordinary filesystem: pivot_root leaves it, and
 *   it is detached rather than emptied.
 * - Deleting cannot be undone, so every check comes before it: we are PID 1
 *   (the kernel hands PID 1 to the initramfs, and a "switch" elsewhere would
 *   wipe a running system), "/" is really a ramfs/tmpfs, the new root is a
 *   mount point (else MS_MOVE has nothing to move), and the real init exists
 *   inside the new root, resolved there (its symlinks are the new root's:
 *   /sbin/init -> /lib/systemd/systemd must not resolve in the initramfs).
 * - /dev, /proc, /sys and /run move into the new root rather than being
 *   unmounted: /run holds the medium, image and tmpfs mounts the root is
 *   built from, and the booted system expects /dev to be there already.
 * - After the chroot our stdin/stdout/stderr still point at the old
 *   /dev/console inode; open the console again from the new /dev.
 * - PID 1 must never exit, so every failure returns to the caller, which
 *   prints what failed and goes to the rescue path.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.h"

#define RAMFS_MAGIC	0x858458f6
#define TMPFS_MAGIC	0x01021994
#define EXT2_MAGIC	0xef53		/* ext2/3/4: an old-style initrd on /dev/ram0 */
#ifndef SYS_openat2
#define SYS_openat2	437
#endif
#define RESOLVE_IN_ROOT	0x10

struct open_how {
	uint64_t flags, mode, resolve;
};

/*
 * Is path an executable file inside the tree at root?  Symlinks resolve
 * inside that tree: openat2(RESOLVE_IN_ROOT), or on kernels before 5.6 a
 * chroot there and back out through a saved directory.
 */
static int exists_in(const char *root, int rootfd, const char *path)
{
	struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT };
	struct stat st;
	int fd, old, ok;

	fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	if (fd >= 0) {
		ok = !fstat(fd, &st) && S_ISREG(st.st_mode) && (st.st_mode & 0111);
		close(fd);
		return ok;
	}
	if (errno != ENOSYS)
		return 0;
	old = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (old < 0 || chroot(root) < 0) {
		if (old >= 0)
			close(old);
		return 0;
	}
	ok = !stat(path, &st) && S_ISREG(st.st_mode) && (st.st_mode & 0111);
	if (fchdir(old) < 0 || chroot(".") < 0 || chdir("/") < 0)
		err("error: cannot leave %s after looking for %s", root, path);
	close(old);
	return ok;
}

/*
 * Delete everything on the filesystem dev below dfd; closes dfd.  Counts
 * what was removed and what could not be, for the debug message.
 */
static void wipe(int dfd, dev_t dev, unsigned *gone, unsigned *kept)
{
	struct dirent *e;
	struct stat st;
	DIR *d;
	int sub;

	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return;
	}
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (st.st_dev != dev)
				continue;	/* a mount point: not ours to delete */
			sub = openat(dfd, e->d_name,
				     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0)
				wipe(sub, dev, gone, kept);
		}
		if (unlinkat(dfd, e->d_name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) == 0)
			(*gone)++;
		else
			(*kept)++;
	}
	closedir(d);
}

static int move_into(const char *newroot, const char *dir)
{
	char dst[64];
	struct stat st;

	strcpy(dst, newroot);
	strcat(dst, dir);
	if (lstat(dst, &st) < 0 && mkdir(dst, 0755) < 0 && errno != EEXIST) {
		err("error: cannot create %s: %s", dst, errstr(errno));
		return -1;
	}
	if (lstat(dst, &st) < 0 || !S_ISDIR(st.st_mode)) {
		err("error: %s is not a directory", dst);
		return -1;
	}
	if (mount(dir, dst, NULL, MS_MOVE, NULL) < 0) {
		err("error: cannot move %s to %s: %s", dir, dst, errstr(errno));
		return -1;
	}
	return 0;
}

/*
 * Switch to newroot and execute init there with our own arguments (the ones
 * the kernel did not understand).  Returns only on failure, after saying why.
 */
void switch_root(const char *newroot, const char *init, char **argv)
{
	static const char *const defaults[] = {
		"/sbin/init", "/lib/systemd/systemd", "/bin/init", "/bin/sh", NULL,
	};
	static const char *const moves[] = { "/run", "/dev", "/proc", "/sys", NULL };
	struct stat root, nr;
	struct statfs sfs;
	unsigned gone = 0, kept = 0;
	int rootfd, i, argc, ramdisk;
	char **nargv;

	if (getpid() != 1) {
		err("error: not PID 1: refusing to switch the root");
		return;
	}
	if (stat("/", &root) < 0 || stat(newroot, &nr) < 0 || root.st_dev == nr.st_dev) {
		err("error: %s is not a mount point", newroot);
		return;
	}
	if (statfs("/", &sfs) < 0) {
		err("error: cannot tell what / is: %s", errstr(errno));
		return;
	}
	/* The ext2 initrd (--initrd-format ext2, booted with root=/dev/ram0)
	 * is a real filesystem: it is pivoted away and detached, not wiped. */
	ramdisk = (unsigned long)sfs.f_type == EXT2_MAGIC;
	if (!ramdisk && (unsigned long)sfs.f_type != RAMFS_MAGIC && (unsigned long)sfs.f_type != TMPFS_MAGIC) {
		err("error: / is neither the initramfs (ramfs or tmpfs) nor an ext2 initrd: "
		    "refusing to switch away from it");
		return;
	}
	rootfd = open(newroot, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		err("error: cannot open %s: %s", newroot, errstr(errno));
		return;
	}
	if (init) {
		/* an explicit init= is tried alone, as the kernel does */
		if (!exists_in(newroot, rootfd, init)) {
			err("error: init=%s: no such executable in the root image", init);
			close(rootfd);
			return;
		}
	} else {
		for (i = 0; defaults[i]; i++)
			if (exists_in(newroot, rootfd, defaults[i]))
				break;
		init = defaults[i];
		if (!init) {
			err("error: no init in the root image: looked for /sbin/init, "
			    "/lib/systemd/systemd, /bin/init, /bin/sh");
			close(rootfd);
			return;
		}
	}
	close(rootfd);

	for (i = 0; moves[i]; i++)
		if (move_into(newroot, moves[i]) < 0 && !strcmp(moves[i], "/run"))
			return;

	mod_close();
	if (ramdisk) {
		/* pivot_root(".", "."): the old root ends up on top of the new
		 * one at /, from where it is detached (freed once we exec). */
		if (chdir(newroot) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
		    umount2(".", MNT_DETACH) < 0 || chroot(".") < 0 || chdir("/") < 0) {
			err("error: cannot pivot the root to %s: %s", newroot, errstr(errno));
			return;
		}
	} else {
		wipe(open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC), root.st_dev, &gone, &kept);
		dbg("initramfs emptied: %u entries removed, %u left", gone, kept);
		if (chdir(newroot) < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 ||
		    chroot(".") < 0 || chdir("/") < 0) {
			err("error: cannot move %s to /: %s", newroot, errstr(errno));
			return;
		}
	}
	open_console();

	for (argc = 0; argv[argc]; argc++)
		;
	nargv = calloc(argc + 1, sizeof(*nargv));
	if (!nargv)
		return;
	nargv[0] = (char *)init;
	for (i = 1; i < argc; i++)
		nargv[i] = argv[i];
	info("starting %s", init);
	execv(init, nargv);
	err("error: cannot execute %s: %s", init, errstr(errno));
}
