/* ISO writer, read back by xorriso, isoinfo, bsdtar and fdisk: names,
 * modes, owners, sizes, content, volume ids, Rock Ridge and Joliet, the
 * El Torito entry and boot info table, the isohybrid MBR; reproducibility;
 * errors (bad label, full disk, cancel). Set MKL_KEEP=1 to keep the files. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fmt/iso.h"
#include "t.h"

#define TIME 1700000000
#define ISOLINUX "/usr/lib/ISOLINUX/isolinux.bin"
#define ISOHDPFX "/usr/lib/ISOLINUX/isohdpfx.bin"
#define VOLSET "mklive-2023-11-14-0123456789abcdef"
#define BIG_SIZE (3u << 20)

static char dir[] = "/tmp/mklive-iso.XXXXXX";
static int t_rc;

/* Arrays through a call: T_EQ_STR tests its arguments for NULL. */
static const char *S(const char *s)
{
	return s;
}

static int have(const char *tool)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", tool);
	return system(cmd) == 0;
}

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;
	long n;

	*len = 0;
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n ? (size_t)n : 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf)
		*len = (size_t)n;
	return buf;
}

/* Run cmd, return its stdout (NUL-terminated, malloc'd). */
static char *run(const char *cmd)
{
	size_t len = 0, cap = 4096;
	char *out = malloc(cap);
	FILE *p = popen(cmd, "r");
	size_t n;

	if (!p) {
		out[0] = '\0';
		return out;
	}
	while ((n = fread(out + len, 1, cap - len - 1, p)) > 0) {
		len += n;
		if (cap - len < 1024)
			out = realloc(out, cap *= 2);
	}
	out[len] = '\0';
	pclose(p);
	return out;
}

static uint32_t le32(const unsigned char *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

struct progress {
	uint64_t last_done, total;
	int calls, monotonic, cancel_after;
};

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct progress *p = ctx;

	if (done < p->last_done)
		p->monotonic = 0;
	p->last_done = done;
	p->total = total;
	p->calls++;
	if (p->cancel_after && p->calls >= p->cancel_after)
		mkl_cancel();
}

static unsigned char *isolinux, *mbr, *big;
static size_t isolinux_len, mbr_len;
static int big_fd = -1;
static const char cfg[] = "default live\nlabel live\n  kernel /live/vmlinuz\n";
static const char readme[] = "nested file\n";

static struct mkl_iso_file files[7];
static size_t nfiles;

static void setup_files(void)
{
	files[0] = (struct mkl_iso_file){ .path = "isolinux/isolinux.bin", .mem = isolinux,
					  .size = isolinux_len };
	files[1] = (struct mkl_iso_file){ .path = "isolinux/isolinux.cfg", .mem = cfg,
					  .size = sizeof(cfg) - 1, .mode = 0644 };
	files[2] = (struct mkl_iso_file){ .path = "live/filesystem.squashfs", .fd = big_fd,
					  .size = BIG_SIZE };
	files[3] = (struct mkl_iso_file){ .path = "live/deep/nested/dir/readme.txt", .mem = readme,
					  .size = sizeof(readme) - 1, .mode = 0640 };
	files[4] = (struct mkl_iso_file){ .path = "/live/empty", .mem = "", .size = 0 };
	files[5] = (struct mkl_iso_file){ .path = "tools/run", .mem = "#!/bin/sh\n", .size = 10,
					  .mode = 0555 };
	nfiles = 6;
}

static struct mkl_iso_opts base_opts(void)
{
	return (struct mkl_iso_opts){
		.volume_id = "MKLIVE_TEST-1",
		.volume_set_id = VOLSET,
		.application_id = "MKLIVE TEST",
		.time = TIME,
		.boot_image = "isolinux/isolinux.bin",
		.boot_catalog = "isolinux/boot.cat",
		.mbr_template = mbr,
		.mbr_template_size = mbr_len,
	};
}

static int write_iso(const char *name, const struct mkl_iso_opts *o, struct progress *pr,
		     struct mkl_err *err)
{
	char path[512];
	int fd, ret;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return mkl_error(err, errno, "cannot create '%s'", path);
	ret = mkl_iso_write(fd, o, files, nfiles, pr ? on_progress : NULL, pr, err);
	close(fd);
	return ret;
}

static int same_files(const char *a, const char *b)
{
	char cmd[1200];

	snprintf(cmd, sizeof(cmd), "cmp -s '%s/%s' '%s/%s'", dir, a, dir, b);
	return system(cmd) == 0;
}

/* Find the "ls -l" line of path in xorriso's -find ... -exec lsdl output. */
static const char *find_line(const char *listing, const char *path, char *line, size_t size)
{
	const char *p = listing;
	char quoted[600];

	snprintf(quoted, sizeof(quoted), "'%s'", path);
	while (p && *p) {
		const char *e = strchr(p, '\n');
		size_t n = e ? (size_t)(e - p) : strlen(p);

		if (n >= strlen(quoted) && n < size &&
		    memcmp(p + n - strlen(quoted), quoted, strlen(quoted)) == 0) {
			memcpy(line, p, n);
			line[n] = '\0';
			return line;
		}
		p = e ? e + 1 : NULL;
	}
	return NULL;
}

static void check_xorriso_tree(const char *iso)
{
	static const struct {
		const char *path, *mode;
		long size;
	} want[] = {
		{ "/", "dr-xr-xr-x", -1 },
		{ "/isolinux", "dr-xr-xr-x", -1 },
		{ "/isolinux/isolinux.bin", "-r--r--r--", -2 },
		{ "/isolinux/isolinux.cfg", "-rw-r--r--", sizeof(cfg) - 1 },
		{ "/isolinux/boot.cat", "er--r--r--", 2048 },	/* e: catalog */
		{ "/live", "dr-xr-xr-x", -1 },
		{ "/live/filesystem.squashfs", "-r--r--r--", BIG_SIZE },
		{ "/live/deep/nested/dir", "dr-xr-xr-x", -1 },
		{ "/live/deep/nested/dir/readme.txt", "-rw-r-----", sizeof(readme) - 1 },
		{ "/live/empty", "-r--r--r--", 0 },
		{ "/tools/run", "-r-xr-xr-x", 10 },
	};
	char cmd[1200], line[1024];
	char *out;
	size_t i;
	int lines = 0;

	snprintf(cmd, sizeof(cmd), "xorriso -indev '%s' -find / -exec lsdl 2>/dev/null", iso);
	out = run(cmd);
	for (i = 0; out[i]; i++)
		lines += out[i] == '\n';
	/* 14 nodes: root, 6 directories, 6 files and the boot catalog. */
	T_EQ_INT(lines, 14);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		char mode[16], uid[32], gid[32];
		long nlink, size;

		if (!find_line(out, want[i].path, line, sizeof(line))) {
			T_OK(0, "xorriso does not list '%s'", want[i].path);
			continue;
		}
		if (sscanf(line, "%15s %ld %31s %31s %ld", mode, &nlink, uid, gid, &size) != 5) {
			T_OK(0, "cannot parse '%s'", line);
			continue;
		}
		T_EQ_STR(S(mode), want[i].mode);
		T_EQ_STR(S(uid), "0");
		T_EQ_STR(S(gid), "0");
		if (want[i].size >= 0)
			T_EQ_INT(size, want[i].size);
		else if (want[i].size == -2)
			T_EQ_INT(size, isolinux_len);
		/* Every node's time is TIME: Nov 14 2023 22:13 UTC. */
		T_OK(strstr(line, "Nov 14  2023") != NULL, "time in '%s'", line);
	}
	free(out);
}

static void check_bsdtar(const char *iso)
{
	char cmd[1200], *out;

	snprintf(cmd, sizeof(cmd), "TZ=UTC bsdtar -tvf '%s' --numeric-owner 2>&1", iso);
	out = run(cmd);
	T_OK(strstr(out, "-r--r--r--  1 0      0     3145728 Nov 14  2023 live/filesystem.squashfs"),
	     "bsdtar: big file\n%s", out);
	T_OK(strstr(out, "-rw-r-----  1 0      0          12 Nov 14  2023 "
			 "live/deep/nested/dir/readme.txt"), "bsdtar: nested file");
	T_OK(strstr(out, "-r-xr-xr-x  1 0      0          10 Nov 14  2023 tools/run"),
	     "bsdtar: mode 0555 file");
	T_OK(strstr(out, "dr-xr-xr-x  2 0      0") != NULL, "bsdtar: dirs 0555");
	free(out);
}

int main(void)
{
	struct mkl_err err = { 0 };
	struct mkl_iso_opts o;
	struct progress pr = { .monotonic = 1 };
	char iso[512], cmd[2048], *out;
	unsigned char *img = NULL;
	size_t img_len = 0, i;
	uint32_t x = 99;
	int ok_tools;

	if (!mkdtemp(dir)) {
		printf("not ok - mkdtemp\n");
		return 1;
	}

	/* Labels. */
	T_EQ_INT(mkl_iso_check_label("MKLIVE_2024-01", &err), 0);
	T_EQ_INT(mkl_iso_check_label("ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", &err), 0);
	T_EQ_INT(mkl_iso_check_label("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456", &err), -1);
	T_EQ_INT(mkl_iso_check_label("", &err), -1);
	T_EQ_INT(mkl_iso_check_label("live cd", &err), -1);
	T_EQ_INT(mkl_iso_check_label("mklive", &err), -1);
	T_OK(strstr(err.msg, "invalid volume label 'mklive'") && strstr(err.msg, "A-Z"),
	     "msg: %s", err.msg);

	isolinux = slurp(ISOLINUX, &isolinux_len);
	mbr = slurp(ISOHDPFX, &mbr_len);
	ok_tools = have("xorriso");
	if (!isolinux || !mbr) {
		T_SKIP("isolinux (" ISOLINUX ", " ISOHDPFX ") not installed: no ISO written");
		return t_done();
	}

	/* The big file, read through an fd. */
	big = malloc(BIG_SIZE);
	for (i = 0; i < BIG_SIZE; i++) {
		x = x * 1103515245u + 12345u;
		big[i] = (unsigned char)(x >> 16);
	}
	snprintf(iso, sizeof(iso), "%s/big.bin", dir);
	big_fd = open(iso, O_RDWR | O_CREAT | O_TRUNC, 0644);
	T_OK(big_fd >= 0 && write(big_fd, big, BIG_SIZE) == BIG_SIZE, "write big file");
	setup_files();

	o = base_opts();
	T_OK((t_rc = write_iso("a.iso", &o, &pr, &err)) == 0, "write a.iso: %s", err.msg);
	snprintf(iso, sizeof(iso), "%s/a.iso", dir);
	img = slurp(iso, &img_len);
	T_OK(img && img_len > 3 * 1024 * 1024, "a.iso has %zu bytes", img_len);
	T_OK(img_len % (1024 * 1024) == 0, "isohybrid image is padded to 1 MiB: %zu", img_len);
	T_EQ_INT(pr.total, img_len);
	T_EQ_INT(pr.last_done, img_len);
	T_OK(pr.monotonic && pr.calls > 2, "progress: %d calls, monotonic %d", pr.calls,
	     pr.monotonic);
	if (!img || img_len < 40000)
		return t_done();

	/* Primary volume descriptor, read as bytes. */
	{
		const unsigned char *pvd = img + 32768;
		char volset[129], want[129];

		T_OK(pvd[0] == 1 && memcmp(pvd + 1, "CD001", 5) == 0, "PVD at sector 16");
		T_OK(memcmp(pvd + 40, "MKLIVE_TEST-1                   ", 32) == 0, "volume id");
		memcpy(volset, pvd + 190, 128);
		volset[128] = '\0';
		snprintf(want, sizeof(want), "%-128s", VOLSET);
		T_EQ_STR(S(volset), S(want));
		T_OK(memcmp(pvd + 318, "MKLIVE ", 7) == 0, "publisher id");
		T_OK(memcmp(pvd + 446, "MKLIVE ", 7) == 0, "data preparer id");
		T_OK(memcmp(pvd + 574, "MKLIVE TEST ", 12) == 0, "application id");
		/* Creation and modification: 2023111422132000, GMT. */
		T_OK(memcmp(pvd + 813, "2023111422132000", 16) == 0 && pvd[829] == 0,
		     "creation time %.16s", (const char *)pvd + 813);
		T_OK(memcmp(pvd + 830, "2023111422132000", 16) == 0, "modification time");
	}

	/* The isohybrid MBR: the template's code untouched, partition 1
	 * active from sector 0, the boot signature. */
	T_OK(memcmp(img, mbr, 432) == 0, "first 432 bytes are the template's");
	T_OK(img[510] == 0x55 && img[511] == 0xaa, "MBR signature");
	T_EQ_INT(img[446], 0x80);
	T_EQ_INT(le32(img + 446 + 8), 0);
	T_EQ_INT(le32(img + 446 + 12), img_len / 512);

	if (have("isoinfo")) {
		snprintf(cmd, sizeof(cmd), "isoinfo -d -i '%s' 2>&1", iso);
		out = run(cmd);
		T_OK(strstr(out, "Volume id: MKLIVE_TEST-1\n") != NULL, "isoinfo volume id\n%s", out);
		T_OK(strstr(out, "Volume set id: " VOLSET "\n") != NULL, "isoinfo volume set id");
		T_OK(strstr(out, "Publisher id: MKLIVE\n") != NULL, "isoinfo publisher");
		T_OK(strstr(out, "Joliet with UCS level 3 found") != NULL, "isoinfo: Joliet");
		T_OK(strstr(out, "Rock Ridge signatures version 1 found") != NULL, "isoinfo: RR");
		T_OK(strstr(out, "El Torito VD version 1 found") != NULL, "isoinfo: El Torito");
		T_OK(strstr(out, "Bootmedia Type: 0") || strstr(out, "No Emulation"),
		     "isoinfo: no emulation");
		free(out);
		/* Joliet names (libisofs keeps the ";1" versions), lowercase
		 * and long. */
		snprintf(cmd, sizeof(cmd), "isoinfo -J -f -i '%s' 2>&1", iso);
		out = run(cmd);
		T_OK(strstr(out, "/live/filesystem.squashfs;1\n") != NULL, "Joliet name\n%s", out);
		T_OK(strstr(out, "/live/deep/nested/dir/readme.txt;1\n") != NULL, "Joliet nested");
		free(out);
	} else {
		T_SKIP("isoinfo (genisoimage) not installed: volume descriptors not read by it");
	}

	if (have("fdisk")) {
		snprintf(cmd, sizeof(cmd), "fdisk -l '%s' 2>&1", iso);
		out = run(cmd);
		/* "/tmp/.../a.iso1 *        0 6143 6144   3M 17 Hidden HPFS/NTFS" */
		{
			char pat[600], *l;

			snprintf(pat, sizeof(pat), "%s1 ", iso);
			l = strstr(out, pat);
			T_OK(l != NULL, "fdisk lists partition 1\n%s", out);
			if (l) {
				char star[8];
				long start = -1, end = -1;

				l += strlen(pat);
				T_OK(sscanf(l, "%7s %ld %ld", star, &start, &end) == 3, "parse %s", l);
				T_EQ_STR(S(star), "*");
				T_EQ_INT(start, 0);
				T_EQ_INT(end, (long)(img_len / 512) - 1);
			}
		}
		free(out);
	} else {
		T_SKIP("fdisk not installed: MBR not read by it");
	}

	if (ok_tools) {
		char *l;
		unsigned long lba = 0;

		snprintf(cmd, sizeof(cmd), "xorriso -indev '%s' -report_el_torito plain 2>/dev/null",
			 iso);
		out = run(cmd);
		/* "El Torito boot img :   1  BIOS  y   none  0x0000  0x00      4         NNN" */
		l = strstr(out, "El Torito boot img :   1  BIOS");
		T_OK(l != NULL, "el torito entry\n%s", out);
		if (l) {
			char boot[8], emul[16], seg[16], sys[16];
			int n, ldsiz = 0;

			n = sscanf(l, "El Torito boot img : %*d BIOS %7s %15s %15s %15s %d %lu", boot,
				   emul, seg, sys, &ldsiz, &lba);
			T_EQ_INT(n, 6);
			T_EQ_STR(S(boot), "y");
			T_EQ_STR(S(emul), "none");
			T_EQ_INT(ldsiz, 4);
		}
		T_OK(strstr(out, "El Torito cat path : /isolinux/boot.cat"), "catalog path");
		T_OK(strstr(out, "El Torito img path :   1  /isolinux/isolinux.bin"), "image path");
		T_OK(strstr(out, "El Torito img opts :   1  boot-info-table isohybrid-suitable"),
		     "boot info table option\n%s", out);
		free(out);

		/* The boot info table at offset 8 of isolinux.bin in the image:
		 * PVD LBA 16, the file's LBA and length, and the checksum of the
		 * file from byte 64 on (32-bit LE words). */
		T_OK(lba > 0 && (lba + 1) * 2048 < img_len, "boot image lba %lu", lba);
		if (lba > 0 && (lba + 1) * 2048 < img_len) {
			const unsigned char *b = img + lba * 2048;
			uint32_t sum = 0;

			T_EQ_INT(le32(b + 8), 16);
			T_EQ_INT(le32(b + 12), lba);
			T_EQ_INT(le32(b + 16), isolinux_len);
			for (i = 64; i + 4 <= isolinux_len; i += 4)
				sum += le32(b + i);
			T_EQ_INT(le32(b + 20), sum);
			T_OK(memcmp(b + 64, isolinux + 64, isolinux_len - 64) == 0,
			     "rest of isolinux.bin unchanged");
			/* isohybrid: MBR byte 432 holds isolinux.bin's 512-byte LBA. */
			T_EQ_INT(le32(img + 432), lba * 4);
		}

		snprintf(cmd, sizeof(cmd),
			 "xorriso -indev '%s' -report_system_area plain 2>/dev/null", iso);
		out = run(cmd);
		T_OK(strstr(out, "System area summary: MBR isohybrid") != NULL, "system area\n%s",
		     out);
		{
			const char *l2 = strstr(out, "MBR partition      :   1 ");
			unsigned st = 0, ty = 0;
			long start = -1, blocks = -1;

			T_OK(l2 && sscanf(l2, "MBR partition      : %*d %x %x %ld %ld", &st, &ty,
					  &start, &blocks) == 4, "MBR partition 1\n%s", out);
			T_EQ_INT(st, 0x80);
			T_EQ_INT(ty, 0x17);
			T_EQ_INT(start, 0);
			T_EQ_INT(blocks, (long)(img_len / 512));
		}
		free(out);

		/* Rock Ridge present; the tree as xorriso reads it. */
		snprintf(cmd, sizeof(cmd), "xorriso -indev '%s' -pvd_info 2>&1", iso);
		out = run(cmd);
		T_OK(strstr(out, "Volume Id    : MKLIVE_TEST-1") != NULL, "pvd_info volume id\n%s",
		     out);
		T_OK(strstr(out, "Volume Set Id: " VOLSET) != NULL, "pvd_info volume set id");
		free(out);
		snprintf(cmd, sizeof(cmd), "xorriso -indev '%s' -toc 2>&1", iso);
		out = run(cmd);
		T_OK(strstr(out, "Rock Ridge") == NULL || strstr(out, "no Rock Ridge") == NULL,
		     "toc");
		free(out);
		check_xorriso_tree(iso);

		/* Content of the fd file and a memory file. */
		snprintf(cmd, sizeof(cmd),
			 "xorriso -osirrox on -indev '%s' -extract /live/filesystem.squashfs "
			 "'%s/big.out' -extract /live/deep/nested/dir/readme.txt '%s/readme.out' "
			 ">/dev/null 2>&1", iso, dir, dir);
		T_OK((t_rc = system(cmd)) == 0, "xorriso -extract: %d", t_rc);
		{
			char p[600];
			size_t n;
			unsigned char *got;

			snprintf(p, sizeof(p), "%s/big.out", dir);
			got = slurp(p, &n);
			T_OK(got && n == BIG_SIZE && memcmp(got, big, BIG_SIZE) == 0,
			     "extracted big file equals the source (%zu bytes)", n);
			free(got);
			snprintf(p, sizeof(p), "%s/readme.out", dir);
			got = slurp(p, &n);
			T_OK(got && n == sizeof(readme) - 1 && memcmp(got, readme, n) == 0,
			     "extracted nested file");
			free(got);
		}
	} else {
		T_SKIP("xorriso not installed: El Torito, system area and tree not read by it");
	}
	if (have("bsdtar"))
		check_bsdtar(iso);
	else
		T_SKIP("bsdtar not installed: libarchive's ISO reader not used");

	/* Reproducible: the same inputs a second later give the same bytes;
	 * another time gives others. */
	sleep(1);
	o = base_opts();
	T_OK((t_rc = write_iso("b.iso", &o, NULL, &err)) == 0, "write b.iso: %s", err.msg);
	T_OK(same_files("a.iso", "b.iso"), "two writes are byte-identical");
	o.time = TIME + 3600;
	T_OK((t_rc = write_iso("c.iso", &o, NULL, &err)) == 0, "write c.iso: %s", err.msg);
	T_OK(!same_files("a.iso", "c.iso"), "another time gives another image");
	/* No boot record, no MBR: still an ISO, and reproducible. */
	o = base_opts();
	o.boot_image = o.boot_catalog = NULL;
	o.mbr_template = NULL;
	T_OK((t_rc = write_iso("d.iso", &o, NULL, &err)) == 0, "write d.iso: %s", err.msg);
	T_OK((t_rc = write_iso("e.iso", &o, NULL, &err)) == 0, "write e.iso: %s", err.msg);
	T_OK(same_files("d.iso", "e.iso"), "plain image reproducible");
	if (ok_tools) {
		snprintf(cmd, sizeof(cmd), "xorriso -indev '%s/d.iso' -report_el_torito plain "
			 "-find /live -name readme.txt 2>/dev/null", dir);
		out = run(cmd);
		T_OK(strstr(out, "El Torito") == NULL, "no El Torito record\n%s", out);
		T_OK(strstr(out, "/live/deep/nested/dir/readme.txt") != NULL, "plain image tree");
		free(out);
	}

	/* Errors. */
	o = base_opts();
	o.volume_id = "live";
	T_EQ_INT(write_iso("f.iso", &o, NULL, &err), -1);
	T_OK(strstr(err.msg, "invalid volume label 'live'") != NULL, "msg: %s", err.msg);
	o = base_opts();
	o.boot_image = "isolinux/missing.bin";
	T_EQ_INT(write_iso("f.iso", &o, NULL, &err), -1);
	T_OK(strstr(err.msg, "isolinux/missing.bin") != NULL, "msg: %s", err.msg);
	o = base_opts();
	files[nfiles++] = (struct mkl_iso_file){ .path = "live/empty/x", .mem = "x", .size = 1 };
	T_EQ_INT(write_iso("f.iso", &o, NULL, &err), -1);
	T_OK(strstr(err.msg, "live/empty/x") && strstr(err.msg, "is a file"), "msg: %s", err.msg);
	files[nfiles - 1] = (struct mkl_iso_file){ .path = "live/empty", .mem = "x", .size = 1 };
	T_EQ_INT(write_iso("f.iso", &o, NULL, &err), -1);
	T_OK(strstr(err.msg, "already there") != NULL, "msg: %s", err.msg);
	nfiles--;
	{
		int fd = open("/dev/full", O_WRONLY);

		if (fd >= 0) {
			memset(&err, 0, sizeof(err));
			T_EQ_INT(mkl_iso_write(fd, &o, files, nfiles, NULL, NULL, &err), -1);
			T_OK(strstr(err.msg, "writing the ISO image: No space left on device") != NULL,
			     "msg: %s", err.msg);
			T_EQ_INT(err.code, ENOSPC);
			close(fd);
		} else {
			T_SKIP("no /dev/full: full disk not checked");
		}
	}

	/* Cancel while writing (in a child: the flag stays set): fails with
	 * ECANCELED, does not hang, and the writer thread is gone. */
	{
		pid_t pid = fork();
		int status = 0;

		if (pid == 0) {
			struct progress cp = { .monotonic = 1, .cancel_after = 3 };
			int r;

			alarm(60);
			r = write_iso("g.iso", &o, &cp, &err);
			if (r == -1 && err.code == ECANCELED && strstr(err.msg, "cancelled") &&
			    cp.last_done < cp.total)
				_exit(0);
			printf("# cancel: r %d code %d msg %s\n", r, err.code, err.msg);
			_exit(1);
		}
		T_OK(pid > 0 && waitpid(pid, &status, 0) == pid, "fork/wait");
		T_OK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "cancel: status 0x%x", status);
	}

	free(img);
	free(big);
	free(isolinux);
	free(mbr);
	close(big_fd);
	if (!getenv("MKL_KEEP")) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			printf("# cannot remove %s\n", dir);
	} else {
		printf("# kept %s\n", dir);
	}
	return t_done();
}
