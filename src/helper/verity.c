/* mklive-helper verity DEV NAME DIR: the squashfs image on DEV (the init's
 * loop device over the image file, on the medium or its copy in RAM)
 * mounted read-only on DIR through dm-verity, /dev/mapper/mklive-NAME.
 *
 * The root hash is the kernel command line's, mklive.verity=IMAGE[,RW]:
 * the first for the image (NAME "image"), the second for symlink mode's
 * writable root (NAME "rw"); in the signed path that line is part of the
 * signed UKI. `mklive-helper verity NAME` removes the device again (the
 * writable root's, once the init has copied it: its loop device, and with
 * it the medium, is then free for toram).
 * The rest comes from the file, and need not be trusted: the tree starts
 * at the squashfs's bytes_used rounded up to 4 KiB, with veritysetup's
 * superblock (format 1, sha256, 4 KiB blocks, the salt, the data blocks,
 * which must cover exactly that much); whatever it says, no block reads
 * through the device unless its hashes lead up to the root hash.
 *
 * The table has no error option: a block that does not match its hash is
 * an I/O error for the reader (the kernel logs "device-mapper: verity:
 * MAJ:MIN: data block N is corrupted"), at boot and in the running
 * system; see mklive-init(7). When the mount fails, the kernel's log says
 * why: a corrupt block is named. Exit 0 mounted; 1 with the reason on
 * standard error; 2 usage. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "helper.h"

static int fail(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "mklive-helper: verity: ");
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
	return 1;
}

/* The last dm-verity complaint in the kernel's log ("data block 12"), if any. */
static int corrupt_block(char *out, size_t size)
{
	char rec[1024];
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC), found = 0;
	ssize_t n;

	if (fd < 0)
		return 0;
	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)	/* overwritten records: go on */
			continue;
		if (n <= 0)
			break;
		rec[n] = 0;
		if (verity_corrupt(rec, out, size) == 0)
			found = 1;
	}
	close(fd);
	return found;
}

int helper_verity(int argc, char **argv)
{
	unsigned char sq[96], sb[512];
	char line[4096], root[65], params[1024], name[64], node[160], why[256], blk[64];
	const char *what = argc == 2 ? argv[1] : argc == 4 ? argv[2] : "";
	uint64_t data;
	struct stat st;
	ssize_t n;
	dev_t dm = 0;
	int fd, rw = !strcmp(what, "rw");

	if (!rw && strcmp(what, "image")) {
		fprintf(stderr, "usage: mklive-helper verity DEV image|rw DIR, or verity image|rw\n");
		return 2;
	}
	snprintf(name, sizeof(name), "mklive-%s", what);
	if (argc == 2)
		return dm_remove(name, why, sizeof(why)) ? fail("%s%s", why, "") : 0;
	fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, line, sizeof(line) - 1) : -1;
	if (fd >= 0)
		close(fd);
	line[n > 0 ? n : 0] = 0;
	if (verity_root(line, rw, root))
		return fail("mklive.verity= on the kernel command line must hold the %s's root hash "
			    "(64 hex digits)%s", rw ? "writable root" : "image", "");

	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) || pread(fd, sq, sizeof(sq), 0) != (ssize_t)sizeof(sq))
		return fail("cannot read %s: %s", argv[1], strerror(errno));
	if (!S_ISBLK(st.st_mode))
		return fail("%s is not a block device%s", argv[1], "");
	data = verity_data_bytes(sq);
	if (!data)
		return fail("%s holds no squashfs%s", argv[1], "");
	if (pread(fd, sb, sizeof(sb), (off_t)data) != (ssize_t)sizeof(sb)) {
		close(fd);
		return fail("%s: no dm-verity hash tree after the squashfs (%s)", argv[1],
			    "the image was built without --verity?");
	}
	close(fd);
	if (verity_params(sb, data, root, major(st.st_rdev), minor(st.st_rdev), params, sizeof(params),
			  why, sizeof(why)))
		return fail("%s: %s", argv[1], why);
	if (dm_create(&(struct dm_spec){ .name = name, .type = "verity", .sectors = data / 512,
					 .params = params, .readonly = 1 }, &dm, why, sizeof(why)) ||
	    dm_node(name, dm, node, sizeof(node), why, sizeof(why)))
		return fail("%s%s", why, "");
	mkdir(argv[3], 0755);
	if (mount(node, argv[3], "squashfs", MS_RDONLY, NULL)) {
		int e = errno;

		if (corrupt_block(blk, sizeof(blk))) {
			fprintf(stderr, "mklive-helper: dm-verity: the image is corrupt (%s of %s, "
				"read through %s): it does not match the root hash of the kernel "
				"command line; cannot mount it on %s: %s\n", blk, argv[1], node,
				argv[3], strerror(e));
			return 1;
		}
		fprintf(stderr, "mklive-helper: verity: cannot mount %s (%s through dm-verity) as "
			"squashfs on %s: %s\n", node, argv[1], argv[3], strerror(e));
		return 1;
	}
	return 0;
}
