/*
 * Persistence: the overlay's upper layer on a filesystem found by its label,
 * so that changes to the live system survive a reboot.
 *
 *   persistence              the filesystem labelled "persistence"
 *   persistence=LABEL        the filesystem labelled LABEL
 *   persistence=LABEL:/FILE  an ext2/3/4 image file on that filesystem
 *   persistence=/FILE        the same on the filesystem labelled "persistence"
 *
 * The upper and work directories are mklive/upper and mklive/work on the
 * filesystem (or in the image file), created when missing.
 *
 * Labels are read from the devices themselves (a static PID 1 has no blkid)
 * by mklive-media's superblock reader (src/media/probe.c, compiled into the
 * init too): ext2/3/4 and FAT.  FAT labels are compared without regard to
 * case: mkfs.fat writes capitals.  overlayfs needs whiteouts and extended attributes in its upper
 * layer, which FAT lacks, so a FAT filesystem can only hold an image file.
 *
 * The modules for these filesystems (ext4, crc32c_generic, vfat and its code
 * pages) are loaded from the image, mounted by then (modules.c).
 *
 * Whatever goes wrong, the system still boots, with a tmpfs upper layer, and
 * the console says that it is not persistent.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init.h"
#include "../media/media.h"

#define DEFAULT_LABEL	"persistence"

static const char *found_type;	/* what probe_label() found: "ext4" or "vfat" */

/* 1 if /dev/name holds an ext2/3/4 or FAT filesystem labelled arg (FAT
 * labels without regard to case); the superblocks are read by the same
 * code as mklive-media's (src/media/probe.c). */
static int probe_label(int sysdir, const char *name, const void *arg)
{
	unsigned char b[2048];
	struct media_fs fs;
	char size[32];
	ssize_t r;
	int fd;

	/* CD drives hold no writable filesystem; empty devices nothing */
	if (!strncmp(name, "sr", 2) ||
	    read_attr(sysdir, "size", size, sizeof(size)) || !strcmp(size, "0"))
		return 0;
	fd = open_dev(sysdir, name);
	if (fd < 0)
		return 0;
	r = pread(fd, b, sizeof(b), 0);
	close(fd);
	if (r != (ssize_t)sizeof(b) || media_probe(b, sizeof(b), &fs) < 0)
		return 0;
	if (!strcmp(fs.type, "ext4") && !strcmp(fs.label, arg)) {
		found_type = "ext4";
		return 1;
	}
	if (!strcmp(fs.type, "vfat") && !strcasecmp(fs.label, arg)) {
		found_type = "vfat";
		return 1;
	}
	dbg("persistence: /dev/%s: %s, label '%s'", name, fs.type, fs.label);
	return 0;
}

static void not_persistent(void)
{
	err("warning: this system is not persistent: changes are lost at power-off");
}

/* First boot: nothing carries the label; mklive-helper (in the
 * initramfs: src/helper/) adds a partition with an ext4 filesystem in the
 * free space of the boot medium's disk, and says what it did or why not
 * (a CD, no room, ...). 0 when it made one. */
static int make_persist(const char *medium, const char *label)
{
	info("persistence: none yet: making it beside the medium %s", medium);
	return helper((char *[]){ "mklive-helper", "persist", (char *)medium, (char *)label, NULL });
}

int persist_setup(const struct init_cfg *cfg, char *desc, size_t size)
{
	char label[64], dev[64], what[128], file[256], loop[32];
	const char *path = NULL, *sep, *type;
	size_t n;
	int lfd;

	sep = strchr(cfg->persist, ':');
	if (cfg->persist[0] == '/') {
		path = cfg->persist;
		n = 0;
	} else {
		n = sep ? (size_t)(sep - cfg->persist) : strlen(cfg->persist);
		path = sep ? sep + 1 : NULL;
	}
	if (n >= sizeof(label))
		n = sizeof(label) - 1;
	memcpy(label, cfg->persist, n);
	label[n] = 0;
	if (!*label)
		sfmt(label, sizeof(label), DEFAULT_LABEL);
	if (path && !*path)
		path = NULL;

	sfmt(what, sizeof(what), "the persistence filesystem labelled '%s'", label);
	if (!strcmp(label, "luks")) {
		/* dm-crypt and the ciphers it asks the kernel for, with no
		 * modprobe to answer; AES-NI where the CPU has it */
		static char crypt_mods[] = "aesni_intel xts ecb dm_crypt";

		mod_add_tree(MKL_RO);
		mod_load_list(crypt_mods);
		/* mklive-helper opens the encrypted persistence on the medium's
		 * disk (asking the passphrase), or makes it, as
		 * /dev/mapper/mklive-persist; it says why not itself */
		if (helper((char *[]){ "mklive-helper", "luks", (char *)cfg->medium, NULL })) {
			not_persistent();
			return -1;
		}
		sfmt(dev, sizeof(dev), "/dev/mapper/mklive-persist");
		sfmt(label, sizeof(label), DEFAULT_LABEL);	/* the label inside */
		found_type = "ext4";
	} else if (dev_wait(probe_label, label, cfg->ufd, cfg->ptimeout * 1000UL, 0, what,
		     dev, sizeof(dev)) < 0 &&
	    (path || make_persist(cfg->medium, label) ||
	     dev_wait(probe_label, label, cfg->ufd, 10000, 0, what, dev, sizeof(dev)) < 0)) {
		err("warning: persistence: no ext2/3/4 or FAT filesystem labelled '%s' "
		    "found (waited %u s, mklive.ptimeout=)", label, cfg->ptimeout);
		not_persistent();
		err("to keep changes, attach an ext2/3/4 filesystem labelled '%s' "
		    "(mke2fs -L %s DEVICE, or an image from mklive ext2 --empty "
		    "--size 1G --label %s) and boot again", label, label, label);
		return -1;
	}
	type = found_type;
	dbg("persistence: label '%s' on %s (%s)", label, dev, type);
	if (!path && !strcmp(type, "vfat")) {
		err("warning: persistence: %s (label '%s') is FAT, which cannot hold "
		    "the overlay's upper layer: use ext2/3/4, or an ext2 image file on "
		    "it (persistence=%s:/FILE)", dev, label, label);
		not_persistent();
		return -1;
	}
	/* the filesystem modules come from the image (not needed before it, they
	 * stay out of the initramfs); and what these filesystems ask the kernel
	 * for at mount time, with no modprobe to answer: ext4 needs crc32c, FAT
	 * its code pages */
	mod_add_tree(MKL_RO);
	mod_load_name("crc32c_generic");
	if (!strcmp(type, "vfat")) {
		mod_load_name("nls_cp437");
		mod_load_name("nls_ascii");
	}
	if (mount_fs(dev, path ? MKL_PHOST : MKL_PERSIST, type, MS_NOATIME, NULL) < 0) {
		err("warning: persistence: cannot mount %s (label '%s') as %s: %s",
		    dev, label, type, errstr(errno));
		not_persistent();
		return -1;
	}
	if (path) {
		sfmt(file, sizeof(file), MKL_PHOST "%s%s", path[0] == '/' ? "" : "/",
		     path);
		lfd = loop_attach(file, 1, loop, sizeof(loop));
		if (lfd < 0) {
			err("warning: persistence: cannot attach %s on %s (label '%s') to "
			    "a loop device: %s", path, dev, label, errstr(errno));
			goto fail_host;
		}
		if (mount_fs(loop, MKL_PERSIST, "ext4", MS_NOATIME, NULL) < 0) {
			err("warning: persistence: cannot mount %s (%s on %s) as "
			    "ext2/3/4: %s", loop, path, dev, errstr(errno));
			close(lfd);
			goto fail_host;
		}
		close(lfd);
	}
	if (mkdir_p(MKL_PERSIST "/mklive/upper", 0755) < 0 ||
	    mkdir_p(MKL_PERSIST "/mklive/work", 0755) < 0) {
		err("warning: persistence: cannot create mklive/upper and mklive/work "
		    "on %s: %s", dev, errstr(errno));
		if (path)
			umount2(MKL_PERSIST, 0);
		goto fail_host;
	}
	if (path)
		sfmt(desc, size, "%s on %s (label '%s')", path, dev, label);
	else
		sfmt(desc, size, "%s (label '%s')", dev, label);
	return 0;

fail_host:
	if (path)
		umount2(MKL_PHOST, 0);
	else
		umount2(MKL_PERSIST, 0);
	not_persistent();
	return -1;
}
