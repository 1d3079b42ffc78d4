/* mklive-media's probing and naming (src/media/probe.c) on filesystems
 * made by tools we did not write (mkfs.vfat, mkfs.ext4, xorriso), with
 * hostile labels, and on keys autofs could hand the map. */
#include "t.h"

#include <fcntl.h>
#include <unistd.h>

#include "media/probe.c"

static int probe_file(const char *path, struct media_fs *fs)
{
	static unsigned char buf[MEDIA_PROBE_BYTES];
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf));

	if (fd >= 0)
		close(fd);
	return n < 0 ? -2 : media_probe(buf, (size_t)n, fs);
}

/* The name is one safe path component. */
static int safe(const char *n)
{
	if (!n[0] || n[0] == '.' || n[0] == '-' || strlen(n) > MEDIA_NAME_MAX)
		return 0;
	for (const char *p = n; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+", *p))
			return 0;
	return 1;
}

static int run(const char *cmd)
{
	char full[1024];

	snprintf(full, sizeof(full), "%s >/dev/null 2>&1", cmd);
	return system(full);
}

int main(void)
{
	char dir[] = "/tmp/mkl-media-XXXXXX", path[256], cmd[1024], name[MEDIA_NAME_MAX + 1], entry[256];
	struct media_fs fs;

	if (!mkdtemp(dir))
		return 1;

	/* FAT with a label, and one formatted without ("NO NAME"). */
	snprintf(path, sizeof(path), "%s/fat.img", dir);
	snprintf(cmd, sizeof(cmd), "truncate -s 8M %s && mkfs.vfat -n 'MY STICK' %s", path, path);
	if (run(cmd)) {
		T_SKIP("mkfs.vfat missing (dosfstools)");
	} else {
		T_EQ_INT(probe_file(path, &fs), 0);
		T_EQ_STR(fs.type, "vfat");
		T_EQ_STR(fs.label, "MY STICK");
		media_name(fs.label, "sdb1", name);
		T_EQ_STR(name, "MY_STICK");
		T_EQ_INT(media_entry(&fs, "sdb1", 1000, 1000, entry, sizeof(entry)), 0);
		T_EQ_STR(entry, "-fstype=vfat,rw,nosuid,nodev,uid=1000,gid=1000,fmask=0133,dmask=0022,"
			 "utf8,shortname=mixed :/dev/sdb1");
		snprintf(cmd, sizeof(cmd), "mkfs.vfat -F 32 %s", path);
		run(cmd);
		T_EQ_INT(probe_file(path, &fs), 0);
		T_EQ_STR(fs.label, "");
		media_name(fs.label, "sdc", name);
		T_EQ_STR(name, "sdc");
	}

	/* ext4 with labels that try to escape, hide, or run something. */
	static const char *const hostile[] = {
		"../../etc", "a b", "$(reboot)", "x\"y'z", ".hidden", "-rf", "/", "..", "`id`", "a;b|c&d",
	};
	snprintf(path, sizeof(path), "%s/ext4.img", dir);
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		FILE *f;

		snprintf(cmd, sizeof(cmd), "rm -f %s && mkfs.ext4 -q -F -L \"$(cat %s/label)\" %s 4M", path,
			 dir, path);
		snprintf(entry, sizeof(entry), "%s/label", dir);
		f = fopen(entry, "w");
		fputs(hostile[i], f);
		fclose(f);
		if (run(cmd)) {
			T_SKIP("mkfs.ext4 missing or refused the label");
			continue;
		}
		T_EQ_INT(probe_file(path, &fs), 0);
		T_EQ_STR(fs.type, "ext4");
		T_EQ_STR(fs.label, hostile[i]);
		media_name(fs.label, "sdd1", name);
		T_OK(safe(name), "label '%s' gave name '%s'", hostile[i], name);
		T_OK(media_key_ok(name), "the name '%s' is a key the map accepts", name);
	}
	media_name("/", "sde1", name);
	T_EQ_STR(name, "sde1");	/* nothing left of the label: the kernel name */
	media_name("..", "sde1", name);
	T_EQ_STR(name, "sde1");

	/* ISO 9660 (a CD, or a stick written with an image). */
	snprintf(path, sizeof(path), "%s/cd.iso", dir);
	snprintf(cmd, sizeof(cmd), "xorriso -outdev %s -volid MY_CD -map %s/label /label", path, dir);
	if (run(cmd)) {
		T_SKIP("xorriso missing");
	} else {
		T_EQ_INT(probe_file(path, &fs), 0);
		T_EQ_STR(fs.type, "iso9660");
		T_EQ_STR(fs.label, "MY_CD");
		T_EQ_INT(media_entry(&fs, "sr0", 0, 0, entry, sizeof(entry)), 0);
		T_EQ_STR(entry, "-fstype=iso9660,ro,nosuid,nodev :/dev/sr0");
	}

	/* Not a filesystem: zeros, a swap area. */
	snprintf(path, sizeof(path), "%s/zero.img", dir);
	snprintf(cmd, sizeof(cmd), "truncate -s 1M %s", path);
	run(cmd);
	T_EQ_INT(probe_file(path, &fs), -1);
	snprintf(cmd, sizeof(cmd), "mkswap %s", path);
	if (!run(cmd))
		T_EQ_INT(probe_file(path, &fs), -1);
	T_EQ_INT(media_probe((const unsigned char *)"", 0, &fs), -1);

	/* Keys from autofs: only names we make. */
	T_OK(media_key_ok("MY_STICK") && media_key_ok("sdb1") && media_key_ok("a.b-c+d"), "good keys");
	static const char *const bad[] = { "", ".", "..", ".x", "-x", "a/b", "a b", "$(x)", "a\nb", "a_", "a/" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		T_OK(!media_key_ok(bad[i]), "key '%s' refused", bad[i]);
	T_OK(media_entry(&fs, "../sda", 0, 0, entry, sizeof(entry)) < 0, "a kernel name with a path refused");
	T_OK(media_entry(&fs, "sda", 0, 0, entry, 10) < 0, "an entry that does not fit refused");

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	run(cmd);
	return t_done();
}
