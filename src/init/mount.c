/*
 * Mounts: the compressed image on a loop device, and the root.
 *
 *   /run/mklive/medium   the ISO9660 medium, read-only
 *   /run/mklive/ro       the squashfs image from it, on /dev/loopN, read-only
 *                        (or a cloop image on /dev/nbdN, iso9660: nbd.c)
 *   /run/mklive/rw       tmpfs; upper/ and work/ of the overlay
 *   /newroot             overlay of ro (lower) and rw/upper
 *
 * with persistence (persist.c), the overlay's upper and work directories are
 * mklive/upper and mklive/work on /run/mklive/persist instead; with toram
 * (toram.c), the image is read from a copy in the tmpfs /run/mklive/toram
 * and the medium is unmounted once the root is built.
 *
 * or, in symlink mode:
 *
 *   /run/mklive/rwsrc    the writable part's squashfs, while it is copied
 *   /newroot             tmpfs with that copy; ro bind-mounted on its /ro
 *
 * /run moves into the new root at switch_root, so all of these stay visible
 * in the booted system.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "init.h"
#include "loopdev.h"

/*
 * mount(2), creating the mount point; if the kernel does not know the
 * filesystem yet, load its module and try once more.
 */
int mount_fs(const char *src, const char *dst, const char *type,
	     unsigned long flags, const char *data)
{
	mkdir_p(dst, 0755);
	if (mount(src, dst, type, flags, data) == 0)
		return 0;
	if (errno != ENODEV)
		return -1;
	if (!strcmp(type, "iso9660")) {
		mod_load_name("isofs");
	} else if (!strncmp(type, "ext", 3)) {
		/* ext4's module mounts ext2 and ext3 too; the crc32c it asks
		 * the crypto API for at mount would need a modprobe */
		mod_load_name("crc32c_generic");
		mod_load_name("ext4");
	} else {
		mod_load_name(type);
	}
	return mount(src, dst, type, flags, data);
}

static int open_loop_control(void)
{
	int fd = open("/dev/loop-control", O_RDWR | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT) {
		mod_load_name("loop");
		fd = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	}
	return fd;
}

static int open_loop(int n, char *dev, size_t size)
{
	int fd;

	sfmt(dev, size, "/dev/loop%d", n);
	fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		mknod(dev, S_IFBLK | 0600, makedev(LOOP_MAJOR, n));
		fd = open(dev, O_RDWR | O_CLOEXEC);
	}
	return fd;
}

/*
 * Attach file to a free loop device, read-only unless rw, with autoclear: the
 * device frees itself when its last user (the mount) goes.  Returns the
 * open loop device, to be closed only after mounting it (closing it before
 * would be that last user); -1 on error with errno set.
 */
int loop_attach(const char *file, int rw, char *dev, size_t size)
{
	struct loop_config c;
	int ctl, ffd, lfd = -1, n, tries, e;

	ffd = open(file, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (ffd < 0)
		return -1;
	ctl = open_loop_control();
	if (ctl < 0) {
		e = errno;
		close(ffd);
		errno = e;
		return -1;
	}
	memset(&c, 0, sizeof(c));
	c.fd = ffd;
	c.info.lo_flags = (rw ? 0 : LO_FLAGS_READ_ONLY) | LO_FLAGS_AUTOCLEAR;
	sfmt((char *)c.info.lo_file_name, sizeof(c.info.lo_file_name), "%s", file);

	/* another process may take the same free device: then ask again */
	for (tries = 0; tries < 16; tries++) {
		n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0)
			break;
		lfd = open_loop(n, dev, size);
		if (lfd < 0)
			break;
		if (ioctl(lfd, LOOP_CONFIGURE, &c) == 0)
			break;
		if (errno == EINVAL || errno == ENOTTY) {
			/* kernels before 5.8: two steps */
			if (ioctl(lfd, LOOP_SET_FD, ffd) == 0) {
				if (ioctl(lfd, LOOP_SET_STATUS64, &c.info) == 0)
					break;
				e = errno;
				ioctl(lfd, LOOP_CLR_FD, 0);
				errno = e;
			}
		}
		e = errno;
		close(lfd);
		lfd = -1;
		errno = e;
		if (e != EBUSY)
			break;
	}
	e = errno;
	close(ctl);
	close(ffd);
	errno = e;
	return lfd;
}

/* dm-verity over dev (mklive-helper verity: /dev/mapper/mklive-NAME
 * checked against the root hash of mklive.verity=IMAGE[,RW], mounted
 * read-only as squashfs on dir); the helper names a corrupt block. 0, or
 * -1 after its message. verity_mount("rw", NULL, NULL): that device
 * removed again. */
__attribute__((noinline)) static int verity_mount(char *dev, char *name, char *dir)
{
	return helper((char *[]){ "mklive-helper", "verity", dev, name, dir, NULL });
}

/*
 * How a format's file becomes a block device: 0 with dev named, and *hold
 * an fd to close once the device is mounted (or -1); -1 after a message.
 */
static int attach_loop(const struct init_cfg *cfg, const char *file, char *dev,
		       size_t size, int *hold)
{
	*hold = loop_attach(file, 0, dev, size);
	if (*hold < 0) {
		err("error: cannot attach the image %s to a loop device: %s",
		    file, errstr(errno));
		if (errno == ENOENT)
			err("check mklive.image= (now %s) against the files on the medium",
			    cfg->image);
		return -1;
	}
	dbg("image %s on %s", file, dev);
	return 0;
}

/* Formats the kernel cannot read: our reader serves it through nbd. */
static int attach_nbd(const struct init_cfg *cfg, const char *file, char *dev,
		      size_t size, int *hold)
{
	*hold = -1;
	return nbd_attach(file, cfg->argv, dev, size);
}

/*
 * The image formats, one row each: the name in /mklive.conf (format=),
 * how the file becomes a block device, and the filesystem on that device
 * (fstype= in /mklive.conf overrides it: a cloop whose blocks hold ext2 is
 * format=cloop with fstype=ext2).  A new format is a row here, and a
 * reader behind nbd if the kernel cannot read it.
 */
static const struct image_format {
	const char *name;
	int (*attach)(const struct init_cfg *cfg, const char *file, char *dev,
		      size_t size, int *hold);
	const char *fstype;
} formats[] = {
	{ "squashfs", attach_loop, "squashfs" },
	{ "cloop", attach_nbd, "iso9660" },	/* nbd.c */
};
#define NFORMATS (sizeof(formats) / sizeof(formats[0]))

/* 0 if name is a known image format; else -1 and known gets their list. */
int image_format_check(const char *name, char *known, size_t size)
{
	size_t i, n = 0;

	for (i = 0; i < NFORMATS; i++)
		if (!strcmp(formats[i].name, name))
			return 0;
	for (i = 0; i < NFORMATS && n < size; i++)
		n += sfmt(known + n, size - n, "%s%s", i ? ", " : "", formats[i].name);
	return -1;
}

/*
 * The image, read-only on MKL_RO: attached as its format's row says (a
 * squashfs on a loop device, a cloop image served through nbd) and mounted
 * as the row's filesystem, or fstype= of /mklive.conf.  dev gets the block
 * device.
 */
static int mount_image(const struct init_cfg *cfg, const char *file, char *dev,
		       size_t size)
{
	const struct image_format *f = formats;
	const char *fstype;
	int hold, r;

	while (f < formats + NFORMATS - 1 && strcmp(f->name, cfg->format))
		f++;	/* main() checked the name */
	fstype = cfg->fstype ? cfg->fstype : f->fstype;
	if (f->attach(cfg, file, dev, size, &hold) < 0)
		return -1;
	if (cfg->verity) {	/* the helper mounts it, or says why not */
		r = verity_mount(dev, "image", MKL_RO);
		sfmt(dev, size, "/dev/mapper/mklive-image");
	} else if ((r = mount_fs(dev, MKL_RO, fstype, MS_RDONLY, NULL)) < 0)
		err("error: cannot mount %s (%s image %s) as %s on " MKL_RO ": %s",
		    dev, f->name, file, fstype, errstr(errno));
	if (hold >= 0)
		close(hold);
	return r;
}

/* The overlay root; upper and work on the persistence fs when base is set. */
static int overlay_root(const char *base)
{
	char opts[256];

	if (!base) {
		if (mount_fs("tmpfs", MKL_RW, "tmpfs", 0, "mode=0755") < 0) {
			err("error: cannot mount tmpfs on " MKL_RW ": %s", errstr(errno));
			return -1;
		}
		if (mkdir(MKL_RW "/upper", 0755) < 0 || mkdir(MKL_RW "/work", 0755) < 0) {
			err("error: cannot create " MKL_RW "/upper and work: %s",
			    errstr(errno));
			return -1;
		}
		base = MKL_RW;
	}
	sfmt(opts, sizeof(opts), "lowerdir=" MKL_RO ",upperdir=%s/upper,workdir=%s/work",
	     base, base);
	if (mount_fs("overlay", MKL_NEWROOT, "overlay", 0, opts) < 0) {
		err("error: cannot mount the overlay root on " MKL_NEWROOT ": %s",
		    errstr(errno));
		return -1;
	}
	return 0;
}

/*
 * Symlink mode, the article's layout: a tmpfs root holding a copy of the
 * writable part (the rw squashfs, whose read-only directories are links
 * such as usr -> /ro/usr), and the image bind-mounted on its /ro.  Returns
 * the number of entries copied, -1 on error.
 */
static long symlink_root(const struct init_cfg *cfg)
{
	char file[256], loop[32];
	struct stat st;
	long n;
	int lfd, r;

	sfmt(file, sizeof(file), MKL_MEDIUM "%s%s",
	     cfg->rwimage[0] == '/' ? "" : "/", cfg->rwimage);
	lfd = loop_attach(file, 0, loop, sizeof(loop));
	if (lfd < 0) {
		err("error: cannot attach the writable root image %s to a loop "
		    "device: %s", file, errstr(errno));
		if (errno == ENOENT)
			err("check rwimage= / mklive.rwimage= (now %s) against the "
			    "files on the medium", cfg->rwimage);
		return -1;
	}
	if (cfg->verity)	/* the second hash of mklive.verity= */
		r = verity_mount(loop, "rw", MKL_RWSRC);
	else if ((r = mount_fs(loop, MKL_RWSRC, "squashfs", MS_RDONLY, NULL)) < 0)
		err("error: cannot mount %s (%s) as squashfs on " MKL_RWSRC ": %s",
		    loop, file, errstr(errno));
	if (r < 0) {
		close(lfd);
		return -1;
	}
	close(lfd);
	if (mount_fs("tmpfs", MKL_NEWROOT, "tmpfs", 0, "mode=0755") < 0) {
		err("error: cannot mount tmpfs on " MKL_NEWROOT ": %s", errstr(errno));
		return -1;
	}
	n = copy_tree(MKL_RWSRC, MKL_NEWROOT);
	/* the loop device clears itself with the unmount (autoclear) */
	if (umount2(MKL_RWSRC, MNT_DETACH) < 0)
		err("warning: cannot unmount " MKL_RWSRC ": %s", errstr(errno));
	else
		rmdir(MKL_RWSRC);
	if (cfg->verity)	/* the device goes, then its loop: toram can release the medium */
		verity_mount("rw", NULL, NULL);
	if (n < 0) {
		err("error: cannot copy %s into the tmpfs root", cfg->rwimage);
		return -1;
	}
	if (lstat(MKL_NEWROOT "/ro", &st) < 0 && mkdir(MKL_NEWROOT "/ro", 0755) < 0) {
		err("error: cannot create " MKL_NEWROOT "/ro: %s", errstr(errno));
		return -1;
	}
	if (mount(MKL_RO, MKL_NEWROOT "/ro", NULL, MS_BIND, NULL) < 0) {
		err("error: cannot bind " MKL_RO " on " MKL_NEWROOT "/ro: %s",
		    errstr(errno));
		return -1;
	}
	return n;
}

static const char *base(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* toram: the medium is no longer needed; unmount it so it can be removed. */
static void release_medium(void)
{
	if (umount2(MKL_MEDIUM, 0) < 0) {
		err("warning: toram: cannot unmount the medium from " MKL_MEDIUM
		    ": %s; do not remove it", errstr(errno));
		return;
	}
	rmdir(MKL_MEDIUM);
	info("toram: the medium is unmounted and may be removed");
}

/*
 * The root on /newroot: the image read-only on MKL_RO (from a copy in RAM
 * with toram), then overlay mode (overlayfs with a tmpfs upper, or the
 * persistence fs) or symlink mode (tmpfs root, image on /ro).
 */
int build_root(const struct init_cfg *cfg)
{
	char file[256], dev[32], desc[160];
	unsigned long t = now_ms();
	int toram = 0;
	long n;

	sfmt(file, sizeof(file), MKL_MEDIUM "%s%s",
	     cfg->image[0] == '/' ? "" : "/", cfg->image);
	if (cfg->toram)
		toram = toram_copy(file, file, sizeof(file)) == 0;
	if (mount_image(cfg, file, dev, sizeof(dev)) < 0)
		return -1;
	dbg("image: %lu ms", now_ms() - t);
	if (!strcmp(cfg->root, "symlink")) {
		if (cfg->persist)
			err("warning: persistence: needs the overlay root mode, this "
			    "system boots in symlink mode: it is not persistent, "
			    "changes are lost at power-off (persistence needs an image "
			    "built for overlay mode)");
		n = symlink_root(cfg);
		if (n < 0)
			return -1;
		dbg("root: %lu ms", now_ms() - t);
		info("root ready: tmpfs with %ld entries from %s, /ro from %s%s on %s",
		     n, base(cfg->rwimage), base(cfg->image), toram ? " (in RAM)" : "",
		     dev);
		if (toram)
			release_medium();
		return 0;
	}
	if (cfg->persist && persist_setup(cfg, desc, sizeof(desc)) == 0) {
		if (overlay_root(MKL_PERSIST "/mklive") < 0)
			return -1;
		info("root ready: %s%s on %s, overlay with %s: changes persist",
		     cfg->image, toram ? " (in RAM)" : "", dev, desc);
	} else {
		if (overlay_root(NULL) < 0)
			return -1;
		info("root ready: %s%s on %s, overlay with tmpfs: changes are lost "
		     "at power-off%s", cfg->image, toram ? " (in RAM)" : "", dev,
		     cfg->persist ? "" :
		     " (boot option persistence keeps them)");
	}
	dbg("root: %lu ms", now_ms() - t);
	if (toram)
		release_medium();
	return 0;
}
