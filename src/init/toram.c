/*
 * toram: the compressed image copied into RAM before it is mounted, so that
 * the medium can be removed once the root is built (mount.c unmounts it).
 *
 * The copy goes to a tmpfs of its own on /run/mklive/toram, sized to the
 * image, and only when MemAvailable (/proc/meminfo) has room for the image
 * and a margin for the running system: an eighth of the image and 128 MiB.
 * Otherwise, or when the copy fails, the image is read from the medium as
 * without toram, and the console says so.  Progress is shown in quarters:
 * a slow CD gives five lines, not thousands.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "init.h"

#define MIB		(1024UL * 1024)
#define CHUNK		(4 * MIB)
#define MARGIN_MB	128

static unsigned long mem_available_kb(void)
{
	char *s = read_file("/proc/meminfo"), *p;
	unsigned long kb = 0;

	if (!s)
		return 0;
	/* "MemAvailable:    123456 kB" at the start of a line */
	p = s;
	while (p && strncmp(p, "MemAvailable:", 13)) {
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	if (p) {
		for (p += 13; *p == ' '; p++)
			;
		for (; *p >= '0' && *p <= '9'; p++)
			kb = kb * 10 + *p - '0';
	}
	free(s);
	return kb;
}

/*
 * Copy file into the tmpfs MKL_TORAM; out (which may be file itself) gets
 * the copy's path.  0 on success; -1 after saying that the system boots
 * from the medium.
 */
int toram_copy(const char *file, char *out, size_t size)
{
	char src[256], dst[256], opts[48];
	unsigned long mb, need, avail, t = now_ms(), ms;
	const char *name;
	struct stat st;
	off_t done = 0;
	int in, o = -1, q = 1;
	ssize_t r;

	sfmt(src, sizeof(src), "%s", file);
	name = strrchr(src, '/') ? strrchr(src, '/') + 1 : src;
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0 || fstat(in, &st) < 0) {
		err("warning: toram: cannot open %s: %s; booting from the medium",
		    src, errstr(errno));
		if (in >= 0)
			close(in);
		return -1;
	}
	mb = (st.st_size + MIB - 1) / MIB;
	need = mb + mb / 8 + MARGIN_MB;
	avail = mem_available_kb() / 1024;
	if (avail < need) {
		err("warning: toram: not enough memory to copy %s (%lu MB) into RAM: "
		    "%lu MB available, %lu MB needed; booting from the medium, which "
		    "must stay in", name, mb, avail, need);
		close(in);
		return -1;
	}
	sfmt(opts, sizeof(opts), "size=%luk,mode=0755",
	     (unsigned long)(st.st_size / 1024) + 64);
	if (mount_fs("tmpfs", MKL_TORAM, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0) {
		err("warning: toram: cannot mount tmpfs on " MKL_TORAM ": %s; booting "
		    "from the medium", errstr(errno));
		close(in);
		return -1;
	}
	sfmt(dst, sizeof(dst), MKL_TORAM "/%s", name);
	o = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (o < 0)
		goto fail;
	info("toram: copying %s (%lu MB) into RAM ...", name, mb);
	while (done < st.st_size) {
		r = sendfile(o, in, NULL, CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;	/* the file shrank: a bad medium */
			goto fail;
		}
		done += r;
		for (; q < 4 && done >= st.st_size / 4 * q; q++)
			info("toram: %d%% (%lu of %lu MB)", q * 25,
			     (unsigned long)(done / MIB), mb);
	}
	if (close(o) < 0) {
		o = -1;
		goto fail;
	}
	close(in);
	ms = now_ms() - t;
	info("toram: %lu MB copied in %lu.%lu s", mb, ms / 1000, ms % 1000 / 100);
	sfmt(out, size, "%s", dst);
	return 0;

fail:
	err("warning: toram: cannot copy %s into RAM (%lu of %lu MB done): %s; "
	    "booting from the medium, which must stay in", src,
	    (unsigned long)(done / MIB), mb, errstr(errno));
	if (o >= 0)
		close(o);
	close(in);
	unlink(dst);
	umount2(MKL_TORAM, MNT_DETACH);
	rmdir(MKL_TORAM);
	return -1;
}
