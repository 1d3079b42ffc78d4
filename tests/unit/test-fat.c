/* FAT writer, through the library API: files from memory and from an fd,
 * implied and empty directories, the boot sector and FAT fields byte by
 * byte, the short names and NT case bits, the long-name checksum; errors
 * for bad names, collisions and short files. Images are read back by
 * fsck.fat -n and mtools (mdir, mtype) when they are installed. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fmt/fat.h"
#include "t.h"

static char dir[] = "/tmp/mklive-fat.XXXXXX";

static unsigned rd16(const unsigned char *p)
{
	return p[0] | p[1] << 8;
}

static uint32_t rd32(const unsigned char *p)
{
	return rd16(p) | (uint32_t)rd16(p + 2) << 16;
}

/* Write an image to a file in dir; return its bytes (and size). */
static unsigned char *make(const char *name, const struct mkl_fat_opts *o, const struct mkl_fat_file *f, size_t n,
			   size_t *size, struct mkl_err *err)
{
	char path[256];
	int fd;
	struct stat st;
	unsigned char *img = NULL;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return NULL;
	if (mkl_fat_write(fd, o, f, n, err) == 0 && fstat(fd, &st) == 0) {
		img = malloc((size_t)st.st_size);
		if (img && pread(fd, img, (size_t)st.st_size, 0) != st.st_size) {
			free(img);
			img = NULL;
		}
		*size = (size_t)st.st_size;
	}
	close(fd);
	return img;
}

static int have(const char *tool)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", tool);
	return system(cmd) == 0;
}

/* Run a shell command, return its output (first 64 KiB). */
static char *run(const char *fmt, const char *arg)
{
	static char out[65536];
	char cmd[1024];
	FILE *p;
	size_t n;

	snprintf(cmd, sizeof(cmd), fmt, arg, arg);
	p = popen(cmd, "r");
	if (!p)
		return NULL;
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	if (pclose(p) != 0)
		return NULL;
	return out;
}

/* Find the directory entry with short name s11 in a directory at off. */
static const unsigned char *find_entry(const unsigned char *img, size_t off, size_t count, const char *s11)
{
	for (size_t i = 0; i < count; i++) {
		const unsigned char *e = img + off + i * 32;

		if (e[11] != 0x0f && !memcmp(e, s11, 11))
			return e;
	}
	return NULL;
}

static void test_basic(void)
{
	static const char big_text[] = "0123456789abcdef";
	unsigned char *big = malloc(100000);
	struct mkl_fat_opts o = { .label = "MKLIVE", .serial = 0x12345678, .time = 1700000000 };
	struct mkl_err err = { 0 };
	char src[256];
	int fd;
	size_t size = 0;

	for (size_t i = 0; i < 100000; i++)
		big[i] = (unsigned char)big_text[i % 16] ^ (unsigned char)(i >> 8);
	snprintf(src, sizeof(src), "%s/from-fd", dir);
	fd = open(src, O_RDWR | O_CREAT | O_TRUNC, 0644);
	T_OK(fd >= 0 && write(fd, "from an fd\n", 11) == 11, "cannot make %s", src);

	struct mkl_fat_file files[] = {
		{ .path = "EFI/BOOT/BOOTX64.EFI", .mem = "efi!", .size = 4, .fd = -1 },
		{ .path = "EFI/BOOT/grubx64.efi", .mem = "grub", .size = 4, .fd = -1 },
		{ .path = "boot/grub/grub.cfg", .size = 11, .fd = fd },
		{ .path = "boot/grub/A Long Name.cfg", .mem = big, .size = 100000, .fd = -1 },
		{ .path = "README.txt", .mem = "r", .size = 1, .fd = -1 },
		{ .path = "empty/", .fd = -1 },
		{ .path = "zero", .fd = -1 },
	};
	unsigned char *img = make("basic.img", &o, files, sizeof(files) / sizeof(files[0]), &size, &err);

	T_OK(img != NULL, "mkl_fat_write: %s", err.msg);
	if (!img)
		goto out;
	/* Boot sector. */
	T_OK(!memcmp(img, "\xeb\x3c\x90MKLIVE  ", 11), "jump and OEM name");
	T_EQ_INT(rd16(img + 11), 512);
	T_EQ_INT(img[13], 1);			/* 512-byte clusters for a small volume */
	T_EQ_INT(rd16(img + 14), 1);
	T_EQ_INT(img[16], 2);
	T_EQ_INT(rd16(img + 17), 512);
	T_EQ_INT(rd16(img + 19) * 512u, size);
	T_EQ_INT(img[21], 0xf8);
	T_EQ_INT(rd32(img + 28), 0);		/* hidden sectors */
	T_EQ_INT(img[38], 0x29);
	T_EQ_INT(rd32(img + 39), 0x12345678);
	T_OK(!memcmp(img + 43, "MKLIVE     FAT12   ", 19), "label and type");
	T_OK(img[510] == 0x55 && img[511] == 0xaa, "signature");
	T_OK(size < 200000 && size > 100000, "sized to content: %zu", size);
	/* Two identical FATs starting with the media byte. */
	unsigned fs = rd16(img + 22);
	T_OK(!memcmp(img + 512, img + 512 + fs * 512, fs * 512), "FAT copies differ");
	T_OK(img[512] == 0xf8 && img[513] == 0xff && img[514] == 0xff, "FAT[0..1]");
	/* Root directory: label first, then entries sorted by name. */
	size_t root = 512 + 2 * fs * 512;
	T_OK(!memcmp(img + root, "MKLIVE     \x08", 12), "label entry");
	T_OK(!memcmp(img + root + 32, "EFI        \x10", 12), "EFI is the second entry");
	const unsigned char *e = find_entry(img, root, 512, "README  TXT");
	T_OK(e && e[12] == 0x10, "README.txt: short name, extension lower case (NT bit 0x10)");
	/* 2023-11-14 22:13:20 UTC */
	T_OK(e && rd16(e + 24) == ((2023 - 1980) << 9 | 11 << 5 | 14) && rd16(e + 22) == (22 << 11 | 13 << 5 | 10),
	     "time stamp encoding");
	e = find_entry(img, root, 512, "ZERO       ");
	T_OK(e && e[12] == 0x08 && rd16(e + 26) == 0 && rd32(e + 28) == 0, "empty file: no cluster, NT bit 0x08");
	/* Readers we did not write. */
	if (have("fsck.fat") && have("mdir") && have("mtype")) {
		char path[256], *out;

		snprintf(path, sizeof(path), "%s/basic.img", dir);
		T_OK(run("fsck.fat -n %s >/dev/null 2>&1 && echo clean", path) != NULL, "fsck.fat -n not clean");
		out = run("MTOOLS_SKIP_CHECK=1 mdir -i %s -/ -a ::", path);
		T_OK(out && strstr(out, "A Long Name.cfg") && strstr(out, "grubx64  efi") && strstr(out, "BOOTX64  EFI")
		     && strstr(out, "100000"), "mdir: %s", out ? out : "failed");
		out = run("MTOOLS_SKIP_CHECK=1 mtype -i %s ::/boot/grub/grub.cfg", path);
		T_EQ_STR(out, "from an fd\n");
		snprintf(path, sizeof(path), "MTOOLS_SKIP_CHECK=1 mtype -i %s/basic.img '::/boot/grub/A Long Name.cfg' | cmp - %s/big", dir, dir);
		FILE *bf;
		char bigpath[300];

		snprintf(bigpath, sizeof(bigpath), "%s/big", dir);
		bf = fopen(bigpath, "w");
		if (bf) {
			fwrite(big, 1, 100000, bf);
			fclose(bf);
		}
		T_OK(system(path) == 0, "100000-byte file from memory differs after mtype");
	} else {
		T_SKIP("fsck.fat, mdir or mtype missing (dosfstools, mtools): image not read back");
	}
	free(img);
	/* Same input, same bytes. */
	unsigned char *again = make("again.img", &o, files, sizeof(files) / sizeof(files[0]), &size, &err);
	unsigned char *first = make("basic.img", &o, files, sizeof(files) / sizeof(files[0]), &size, &err);
	T_OK(again && first && !memcmp(again, first, size), "two writes differ");
	free(again);
	free(first);
out:
	if (fd >= 0)
		close(fd);
	free(big);
}

static void test_short_names(void)
{
	struct mkl_fat_opts o = { .time = 1700000000 };
	struct mkl_err err = { 0 };
	size_t size = 0;
	struct mkl_fat_file files[] = {
		{ .path = "Makefile", .fd = -1 },		/* fits 8.3, mixed case: no tail */
		{ .path = "longfilename1.txt", .fd = -1 },
		{ .path = "longfilename2.txt", .fd = -1 },
		{ .path = "LONGFI~1.TXT", .fd = -1 },		/* taken first: the long ones skip it */
		{ .path = ".bashrc", .fd = -1 },
		{ .path = "a.b.c", .fd = -1 },
		{ .path = "x+y", .fd = -1 },
	};
	unsigned char *img = make("short.img", &o, files, sizeof(files) / sizeof(files[0]), &size, &err);

	T_OK(img != NULL, "mkl_fat_write: %s", err.msg);
	if (!img)
		return;
	size_t root = 512 + 2 * rd16(img + 22) * 512;
	static const char *const want[] = { "MAKEFILE   ", "LONGFI~1TXT", "LONGFI~2TXT", "LONGFI~3TXT",
					    "BASHRC~1   ", "AB~1    C  ", "X_Y~1      " };
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		T_OK(find_entry(img, root, 512, want[i]) != NULL, "no short name '%s'", want[i]);
	/* longfilename1.txt sorts before longfilename2.txt: ~2, then ~3. */
	const unsigned char *e = find_entry(img, root, 512, "LONGFI~2TXT");
	T_OK(e && e[-32 + 11] == 0x0f && e[-32] == 0x01 && e[-64] == 0x42,
	     "long-name entries precede the short one (last first)");
	/* The checksum of every long-name entry matches its short name. */
	int bad = 0;
	for (size_t i = 0; i + 1 < 512; i++) {
		const unsigned char *l = img + root + i * 32;

		if (l[0] && l[11] == 0x0f && (l[0] & 0x3f) == 1) {
			const unsigned char *s = l + 32;
			unsigned char sum = 0;

			for (int k = 0; k < 11; k++)
				sum = (unsigned char)(((sum & 1) << 7) + (sum >> 1) + s[k]);
			bad += sum != l[13];
		}
	}
	T_EQ_INT(bad, 0);
	e = find_entry(img, root, 512, "MAKEFILE   ");
	T_OK(e && e[-32 + 11] == 0x0f, "Makefile keeps its case through a long name");
	free(img);
}

static void expect_fail(const char *what, const struct mkl_fat_opts *o, const struct mkl_fat_file *f, size_t n,
			const char *msg)
{
	struct mkl_err err = { 0 };
	size_t size;
	unsigned char *img = make("fail.img", o, f, n, &size, &err);

	T_OK(img == NULL && strstr(err.msg, msg), "%s: want '%s', got '%s'", what, msg, err.msg);
	free(img);
}

static void test_errors(void)
{
	struct mkl_fat_opts o = { .time = 1700000000 };
	char name256[300], name255[300], path[320];
	memset(name256, 'n', 256);
	name256[256] = '\0';
	struct mkl_fat_file f1[] = { { .path = name256, .fd = -1 } };
	expect_fail("256 units", &o, f1, 1, "longer than 255 UTF-16 units");
	memset(name255, 'n', 255);
	name255[255] = '\0';
	snprintf(path, sizeof(path), "d/%s", name255);
	struct mkl_fat_file ok255[] = { { .path = path, .fd = -1 } };
	struct mkl_err err = { 0 };
	size_t size;
	unsigned char *img = make("n255.img", &o, ok255, 1, &size, &err);
	T_OK(img != NULL, "a 255-character name: %s", err.msg);
	free(img);
	/* U+1F600 is two UTF-16 units: 127 of them and one more is 256. */
	char emoji[600] = "";
	for (int i = 0; i < 128; i++)
		strcat(emoji, "\xf0\x9f\x98\x80");
	struct mkl_fat_file f2[] = { { .path = emoji, .fd = -1 } };
	expect_fail("surrogate pairs count twice", &o, f2, 1, "longer than 255 UTF-16 units");
	struct mkl_fat_file f3[] = { { .path = "a/b\xff", .fd = -1 } };
	expect_fail("invalid UTF-8", &o, f3, 1, "not valid UTF-8");
	struct mkl_fat_file f4[] = { { .path = "x/Foo", .fd = -1 }, { .path = "x/fOO", .fd = -1 } };
	expect_fail("case collision", &o, f4, 2, "same name on FAT");
	struct mkl_fat_file f4b[] = { { .path = "\xc3\xa9", .fd = -1 }, { .path = "\xc3\x89", .fd = -1 } };
	expect_fail("case collision in Latin-1 (e acute)", &o, f4b, 2, "same name on FAT");
	struct mkl_fat_file f5[] = { { .path = "a/b", .fd = -1 }, { .path = "a/b", .fd = -1 } };
	expect_fail("duplicate", &o, f5, 2, "duplicate path 'a/b'");
	struct mkl_fat_file f6[] = { { .path = "a/b", .fd = -1 }, { .path = "a/b/c", .fd = -1 } };
	expect_fail("file and directory", &o, f6, 2, "'a/b' is both a file and a directory");
	struct mkl_fat_file f7[] = { { .path = "a//b", .fd = -1 } };
	expect_fail("empty component", &o, f7, 1, "empty name");
	struct mkl_fat_file f8[] = { { .path = "a/../b", .fd = -1 } };
	expect_fail("dot-dot", &o, f8, 1, "invalid name '..'");
	struct mkl_fat_file f9[] = { { .path = "short", .size = 10, .fd = -1 } };
	expect_fail("no contents", &o, f9, 1, "has no contents");
	int fd = open("/dev/null", O_RDONLY);
	struct mkl_fat_file f10[] = { { .path = "shorter", .size = 10, .fd = fd } };
	expect_fail("fd shorter than size", &o, f10, 1, "is shorter than 10 bytes");
	close(fd);
	struct mkl_fat_file f11[] = { { .path = "huge", .size = 40u << 20, .fd = -1, .mem = "" } };
	expect_fail("too big", &o, f11, 1, "ESP content of 41943040 bytes does not fit in 32 MiB");
	struct mkl_fat_opts lo = { .label = "lower", .time = 0 };
	struct mkl_fat_file f12[] = { { .path = "x", .fd = -1 } };
	expect_fail("lower-case label", &lo, f12, 1, "FAT label 'lower'");
	struct mkl_fat_opts fl = { .floppy = 1 };
	struct mkl_fat_file f13[] = { { .path = "x", .size = 1500000, .fd = -1, .mem = "" } };
	expect_fail("floppy too small", &fl, f13, 1, "does not fit in a 1.44 MB floppy");
	T_OK(mkl_fat_check_label("EFI SYSTEM", &err) == 0, "label with a space: %s", err.msg);
	/* 21845 names of 3 entries each, with . and ..: 65537 entries, 1 more than a FAT
	 * directory may hold (and 21845 "~N" tails on one basis). */
	size_t nmany = 21845;
	struct mkl_fat_file *many = calloc(nmany, sizeof(*many));
	char (*names)[40] = calloc(nmany, 40);

	if (many && names) {
		for (size_t i = 0; i < nmany; i++) {
			snprintf(names[i], 40, "d/long name number %05zu", i);
			many[i] = (struct mkl_fat_file){ .path = names[i], .fd = -1 };
		}
		expect_fail("directory over 65536 entries", &o, many, nmany, "needs 65537 entries, more than FAT allows (65536)");
		img = make("many.img", &o, many, nmany - 1, &size, &err);
		T_OK(img != NULL, "a directory of 65535 entries: %s", err.msg);
		free(img);
	}
	free(many);
	free(names);
	{
		struct mkl_fat_input none = { 0 };

		mkl_fat_input_free(&none);	/* a never-read input: fine */
	}
}

/* A directory through the source layer (src/source) into a list. */
static int from_source(const char *path, struct mkl_fat_input *in, struct mkl_err *err)
{
	struct mkl_source *src = NULL;
	int rc = mkl_source_open(path, &src, err) || mkl_fat_input_read(in, src, path, NULL, err) ? -1 : 0;

	mkl_source_close(src);
	return rc;
}

static void test_from_dir(void)
{
	char p[300];
	struct mkl_fat_input in = { 0 };
	struct mkl_fat_file *files;
	size_t n;
	struct mkl_err err = { 0 };
	int fd;

	snprintf(p, sizeof(p), "%s/tree/sub/deeper", dir);
	T_OK(system((snprintf(p, sizeof(p), "mkdir -p %s/tree/sub/deeper %s/tree/b", dir, dir), p)) == 0, "mkdir");
	snprintf(p, sizeof(p), "%s/tree/sub/file", dir);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	T_OK(fd >= 0 && write(fd, "12345", 5) == 5, "write");
	close(fd);
	snprintf(p, sizeof(p), "%s/tree", dir);
	T_OK(from_source(p, &in, &err) == 0, "%s", err.msg);
	files = in.files;
	n = in.n;
	T_EQ_INT(n, 4);
	if (n == 4) {
		T_EQ_STR(files[0].path, "b/");
		T_EQ_STR(files[1].path, "sub/");
		T_EQ_STR(files[2].path, "sub/deeper/");
		T_EQ_STR(files[3].path, "sub/file");
		T_EQ_INT(files[3].size, 5);
		T_EQ_INT(files[3].fd, -1);
	}
	/* The contents come back from the spool into an image. */
	{
		struct mkl_fat_opts o = { .serial = 1, .time = 1700000000 };
		size_t size = 0;
		unsigned char *img = make("fromdir.img", &o, files, n, &size, &err);

		T_OK(img != NULL, "image from the list: %s", err.msg);
		T_OK(img && memmem(img, size, "12345", 5) != NULL, "the file's content is in the image");
		free(img);
	}
	mkl_fat_input_free(&in);
	snprintf(p, sizeof(p), "%s/none", dir);
	T_OK(from_source(p, &in, &err) < 0 && strstr(err.msg, "cannot open"), "%s", err.msg);
	mkl_fat_input_free(&in);
}

int main(void)
{
	char cmd[300];

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_basic();
	test_short_names();
	test_errors();
	test_from_dir();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("warning: cannot remove %s\n", dir);
	return t_done();
}
