/* mklive-helper luks DISK: encrypted persistence (boot option
 * persistence=luks) on the disk the medium DISK is on (a partition's device
 * stands for its disk, as for `persist`).
 *
 * Later boots: the first partition of that disk with a LUKS1 header is
 * opened: the passphrase is asked on every console, three tries; the
 * volume becomes /dev/mapper/mklive-persist (dm-crypt), which the init
 * mounts as ext4.
 *
 * First boot (no LUKS1 partition on the disk): the passphrase is asked
 * twice; a partition is added in the free space as `persist` does
 * (part.c), a LUKS1 container made in it (luks.c): aes-xts-plain64, a
 * 512-bit master key, PBKDF2-HMAC-SHA-256 with the iterations measured
 * here for 2 s (the master-key digest's for 1/8 s), 4000 stripes; the
 * key material is written through a dm-crypt mapping of its key slot with
 * the passphrase's key; then the volume is opened as above and an ext4
 * filesystem labelled "persistence" made in it (ext4.c); the header's
 * first sector last, so that a first boot cut short leaves no LUKS header
 * that leads nowhere.
 *
 * The kernel's dm-crypt does every encryption (dm_mod, dm_crypt, xts and
 * ecb are loaded by the init: there is no modprobe).
 *
 * Exit 0 when /dev/mapper/mklive-persist is there, 1 with the reason on
 * the consoles when not (three wrong passphrases, a CD, no room, ...),
 * 2 for a usage error. */
#include <dirent.h>
#include <sys/syscall.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "helper.h"

#define VOLUME "mklive-persist"		/* /dev/mapper/VOLUME: the init mounts it */
#define SLOTMAP "mklive-luks-slot"	/* a key slot's material, for a moment */
#define LABEL "persistence"
#define TRIES 3
#define SLOT_MS 2000	/* PBKDF2's time for a key slot, as cryptsetup's LUKS1 default */
#define DIGEST_MS 125	/* ... and for the master-key digest */
#define ITER_MIN 1000

/* a key slot's material (no malloc: musl's would be 6 KB of the helper) */
static unsigned char material[LUKS_KEY_MAX * LUKS_STRIPES_MAX + 512];

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char text[300];
	va_list ap;

	memcpy(text, "mklive-helper luks: ", 20);
	va_start(ap, fmt);
	vsnprintf(text + 20, sizeof(text) - 20, fmt, ap);
	va_end(ap);
	ask_say(text);
}

struct part {
	char name[32];		/* sysfs's: vda3 */
	dev_t dev;
	uint64_t sectors;
	unsigned pno;
};

/* A sysfs attribute of the directory dfd, its newline cut */
static int read_num(int dfd, const char *name, char *buf, size_t size)
{
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	ssize_t r = fd < 0 ? -1 : read(fd, buf, size - 1);

	if (fd >= 0)
		close(fd);
	if (r <= 0)
		return -1;
	buf[r] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

/* The partitions of disk (/dev/NAME) in sysfs: the one numbered want, or
 * with want 0 the first whose device starts with a LUKS1 header. */
static int find_part(const char *disk, unsigned want, struct part *pt, unsigned char *hdr)
{
	char path[160], num[32], *end;
	char ents[2048] __attribute__((aligned(8)));
	const char *dname = strrchr(disk, '/') ? strrchr(disk, '/') + 1 : disk;
	unsigned long maj, min;
	int found = -1, dir, dfd, fd;
	long got, off;

	snprintf(path, sizeof(path), "/sys/class/block/%s", dname);
	if ((dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	/* getdents64 rather than opendir: no malloc */
	while (found < 0 && (got = syscall(SYS_getdents64, dir, ents, sizeof(ents))) > 0) {
		for (off = 0; found < 0 && off < got; off += ((struct dirent *)(ents + off))->d_reclen) {
			const char *name = ((struct dirent *)(ents + off))->d_name;

			if (strncmp(name, dname, strlen(dname)) || strlen(name) >= sizeof(pt->name) ||
			    (dfd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
				continue;
			memset(pt, 0, sizeof(*pt));
			memcpy(pt->name, name, strlen(name) + 1);
			if (!read_num(dfd, "partition", num, sizeof(num)) &&
			    (pt->pno = (unsigned)strtoul(num, NULL, 10)) && (!want || pt->pno == want) &&
			    !read_num(dfd, "dev", num, sizeof(num)) && (maj = strtoul(num, &end, 10), *end == ':') &&
			    (min = strtoul(end + 1, NULL, 10), !read_num(dfd, "size", num, sizeof(num)))) {
				pt->dev = makedev(maj, min);
				pt->sectors = strtoull(num, NULL, 10);
				if (want) {
					found = 0;
				} else {
					snprintf(path, sizeof(path), "/dev/%s", pt->name);
					fd = open(path, O_RDONLY | O_CLOEXEC);
					if (fd >= 0 && pread(fd, hdr, LUKS_PHDR, 0) == LUKS_PHDR && luks_is(hdr))
						found = 0;
					if (fd >= 0)
						close(fd);
				}
			}
			close(dfd);
		}
	}
	close(dir);
	return found;
}

static void hex(const unsigned char *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = 0;
}

/* A dm-crypt device name of sectors from sector off of pt, with key;
 * its node's path in node. */
static int crypt_map(const char *name, const struct luks_hdr *h, const struct part *pt, uint64_t off,
		     uint64_t sectors, const unsigned char *key, int ro, char *node, size_t nsize,
		     char *why, size_t n)
{
	char cipher[80], kx[2 * LUKS_KEY_MAX + 1], params[400];
	struct dm_spec s = { .name = name, .type = "crypt", .sectors = sectors, .params = params,
			     .readonly = ro };
	dev_t dev = 0;
	int r;

	luks_dm_cipher(h, cipher, sizeof(cipher));
	hex(key, h->key_bytes, kx);
	/* cipher key iv_offset device offset: IVs count from 0 at off */
	snprintf(params, sizeof(params), "%s %s 0 %u:%u %llu", cipher, kx, major(pt->dev), minor(pt->dev),
		 (unsigned long long)off);
	r = dm_create(&s, &dev, why, n);
	explicit_bzero(kx, sizeof(kx));
	explicit_bzero(params, sizeof(params));
	if (r)
		return -1;
	if (dm_node(name, dev, node, nsize, why, n)) {
		dm_remove(name, NULL, 0);
		return -1;
	}
	return 0;
}

/* Key slot i's material in or out (m, the whole of its sectors) through a
 * dm-crypt mapping keyed with the passphrase's key. */
static int slot_io(const struct luks_hdr *h, unsigned i, const struct part *pt, const unsigned char *key,
		   unsigned char *m, int out, char *why, size_t n)
{
	uint32_t sectors = luks_slot_sectors(h, i);
	char node[64];
	ssize_t r;
	int fd, e = 0;

	if (crypt_map(SLOTMAP, h, pt, h->slot[i].offset, sectors, key, !out, node, sizeof(node), why, n))
		return -1;
	fd = open(node, (out ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
	} else {
		r = out ? pwrite(fd, m, (size_t)sectors * 512, 0) : pread(fd, m, (size_t)sectors * 512, 0);
		if (r != (ssize_t)sectors * 512 || (out && fsync(fd)))
			e = r < 0 ? errno : EIO;
		close(fd);
	}
	if (dm_remove(SLOTMAP, why, n))
		return -1;
	if (e) {
		snprintf(why, n, "key slot %u of /dev/%s: %s", i, pt->name, strerror(e));
		return -1;
	}
	return 0;
}

/* The master key from the passphrase, trying each active slot: 0, -1 for
 * no slot it opens, -2 for an error (in why) */
static int unlock(const struct luks_hdr *h, const struct part *pt, const char *pass, unsigned char *mk,
		  char *why, size_t n)
{
	unsigned char key[LUKS_KEY_MAX], digest[LUKS_DIGEST], *m = material;
	unsigned i, diff, j;
	int r = -1;

	for (i = 0; i < LUKS_SLOTS && r == -1; i++) {
		if (!h->slot[i].active)
			continue;
		pbkdf2_sha256(pass, strlen(pass), h->slot[i].salt, LUKS_SALT, h->slot[i].iter, key, h->key_bytes);
		if (slot_io(h, i, pt, key, m, 0, why, n)) {
			r = -2;
			break;
		}
		luks_af_merge(m, h->key_bytes, h->slot[i].stripes, mk);
		luks_mk_digest(h, mk, digest);
		for (diff = 0, j = 0; j < LUKS_DIGEST; j++)
			diff |= digest[j] ^ h->mk_digest[j];
		if (!diff)
			r = 0;
	}
	explicit_bzero(key, sizeof(key));
	explicit_bzero(m, sizeof(material));
	return r;
}

static int open_volume(const struct luks_hdr *h, const struct part *pt, const unsigned char *mk,
		       char *node, size_t nsize, char *why, size_t n)
{
	if (pt->sectors <= h->payload) {
		snprintf(why, n, "/dev/%s is smaller than its LUKS header says", pt->name);
		return -1;
	}
	return crypt_map(VOLUME, h, pt, h->payload, pt->sectors - h->payload, mk, 0, node, nsize, why, n);
}

static int open_existing(struct part *pt, const unsigned char *b)
{
	unsigned char mk[LUKS_KEY_MAX];
	char why[200], pass[256], prompt[120], node[64];
	struct luks_hdr h;
	int t, r = -1;

	if (luks_parse(b, &h, why, sizeof(why))) {
		say("/dev/%s: %s", pt->name, why);
		return 1;
	}
	snprintf(prompt, sizeof(prompt), "Passphrase for the encrypted persistence on /dev/%s: ", pt->name);
	for (t = 1; t <= TRIES && r == -1; t++) {
		if (ask_pass(prompt, pass, sizeof(pass))) {
			say("no console to ask the passphrase on");
			return 1;
		}
		r = unlock(&h, pt, pass, mk, why, sizeof(why));
		explicit_bzero(pass, sizeof(pass));
		if (r == -1 && t < TRIES)
			say("wrong passphrase (try %d of %d)", t, TRIES);
	}
	if (r == -1) {
		say("%d wrong passphrases: booting without persistence", TRIES);
		return 1;
	}
	if (r || open_volume(&h, pt, mk, node, sizeof(node), why, sizeof(why))) {
		explicit_bzero(mk, sizeof(mk));
		say("%s", why);
		return 1;
	}
	explicit_bzero(mk, sizeof(mk));
	say("/dev/%s opened as %s", pt->name, node);
	return 0;
}

static unsigned long ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long)ts.tv_sec * 1000 + (unsigned long)(ts.tv_nsec / 1000000);
}

/* PBKDF2 iterations for SLOT_MS with a key of key_bytes, and for
 * DIGEST_MS with the digest's 20 bytes (one SHA-256 block, not two), as
 * this machine runs them now. */
static void measure(uint32_t key_bytes, uint32_t *slot_iter, uint32_t *mk_iter)
{
	unsigned char out[LUKS_KEY_MAX];
	unsigned long t, dt;
	uint64_t it = 1000, blocks = (key_bytes + 31) / 32, s, d;

	for (;;) {
		t = ms_now();
		pbkdf2_sha256("mklive", 6, "measure", 7, (uint32_t)it, out, key_bytes);
		dt = ms_now() - t;
		if (dt >= 250 || it >= (1u << 28))
			break;
		it *= 2;
	}
	if (!dt)
		dt = 1;
	s = it * SLOT_MS / dt;
	d = it * blocks * DIGEST_MS / dt;
	*slot_iter = s < ITER_MIN ? ITER_MIN : s > 0xffffffffu ? 0xffffffffu : (uint32_t)s;
	*mk_iter = d < ITER_MIN ? ITER_MIN : d > 0xffffffffu ? 0xffffffffu : (uint32_t)d;
}

/* The passphrase, typed twice the same (and not empty) */
static int new_pass(char *pass, size_t size)
{
	char again[256];
	int r;

	for (;;) {
		if (ask_pass("New passphrase for the encrypted persistence: ", pass, size) ||
		    ask_pass("The same again: ", again, sizeof(again)))
			return -1;
		r = strcmp(pass, again);
		explicit_bzero(again, sizeof(again));
		if (!r && *pass)
			return 0;
		say(*pass ? "the two differ: once more" : "an empty passphrase protects nothing: once more");
	}
}

static void uuid_text(const unsigned char *u, char *out)
{
	char x[33];

	hex(u, 16, x);
	sprintf(out, "%.8s-%.4s-%.4s-%.4s-%.12s", x, x + 8, x + 12, x + 16, x + 20);
}

/* The LUKS1 header, its key slot 0 and the ext4 inside, on the new
 * partition pt of disk d (at sector start of the disk) */
static int make_container(const struct persist_disk *d, uint64_t start, const struct part *pt,
			  const char *pass, char *node, size_t nsize, char *why, size_t n)
{
	unsigned char mk[64], key[64], u[32], b[4096], *m = material;
	size_t mlen;
	struct luks_hdr h;
	int fd, r = -1;

	memset(&h, 0, sizeof(h));
	snprintf(h.cipher, sizeof(h.cipher), "aes");
	snprintf(h.mode, sizeof(h.mode), "xts-plain64");
	snprintf(h.hash, sizeof(h.hash), "sha256");
	h.key_bytes = sizeof(mk);
	luks_layout(&h);
	if (pt->sectors < h.payload + 2048) {
		snprintf(why, n, "/dev/%s is too small", pt->name);
		return -1;
	}
	measure(h.key_bytes, &h.slot[0].iter, &h.mk_iter);
	mlen = (size_t)luks_slot_sectors(&h, 0) * 512;
	memset(m, 0, mlen);
	if (persist_random(mk, sizeof(mk), 1) || persist_random(h.mk_salt, LUKS_SALT, 1) ||
	    persist_random(h.slot[0].salt, LUKS_SALT, 1) || persist_random(u, 16, 0) ||
	    persist_random(m, (size_t)(LUKS_STRIPES - 1) * sizeof(mk), 1)) {
		persist_fail(why, n, "no random numbers for the keys");
		goto out;
	}
	u[6] = (u[6] & 0x0F) | 0x40, u[8] = (u[8] & 0x3F) | 0x80;
	uuid_text(u, h.uuid);
	luks_mk_digest(&h, mk, h.mk_digest);
	h.slot[0].active = 1;
	pbkdf2_sha256(pass, strlen(pass), h.slot[0].salt, LUKS_SALT, h.slot[0].iter, key, sizeof(key));
	luks_af_split(mk, sizeof(mk), LUKS_STRIPES, m);

	/* no stale header on the partition while we work */
	memset(b, 0, sizeof(b));
	if (pwrite(d->fd, b, sizeof(b), (off_t)(start * 512)) != (ssize_t)sizeof(b) || fsync(d->fd)) {
		snprintf(why, n, "cannot write on /dev/%s: %s", pt->name, strerror(errno));
		goto out;
	}
	if (slot_io(&h, 0, pt, key, m, 1, why, n) || open_volume(&h, pt, mk, node, nsize, why, n))
		goto out;
	if (persist_random(u, 16, 0) || (fd = open(node, O_RDWR | O_CLOEXEC)) < 0) {
		snprintf(why, n, "cannot open %s: %s", node, strerror(errno));
		goto fail_volume;
	}
	u[6] = (u[6] & 0x0F) | 0x40, u[8] = (u[8] & 0x3F) | 0x80;
	if (persist_mkext4(fd, 0, ((pt->sectors - h.payload) * 512) & ~(uint64_t)4095, LABEL, u,
			   (uint32_t)time(NULL), why, n) || fsync(fd)) {
		close(fd);
		goto fail_volume;
	}
	close(fd);
	luks_encode(&h, b);
	if (pwrite(d->fd, b, LUKS_PHDR, (off_t)(start * 512)) != LUKS_PHDR || fsync(d->fd)) {
		snprintf(why, n, "cannot write the LUKS header on /dev/%s: %s", pt->name, strerror(errno));
		goto fail_volume;
	}
	r = 0;
	goto out;
fail_volume:
	dm_remove(VOLUME, NULL, 0);
out:
	explicit_bzero(mk, sizeof(mk));
	explicit_bzero(key, sizeof(key));
	explicit_bzero(m, mlen);
	return r;
}

static int make_new(const char *medium)
{
	char why[200], pass[256], node[64];
	struct persist_disk d;
	struct persist_plan p;
	struct part pt;
	int r;

	why[0] = 0;
	if (persist_open_disk(medium, &d, why, sizeof(why)) ||
	    persist_plan(d.fd, d.bytes, &p, why, sizeof(why))) {
		say("%s%s%s", d.fd >= 0 ? d.path : "", d.fd >= 0 ? ": " : "", why);
		return 1;
	}
	say("no encrypted persistence on %s yet: making it in its free space (%llu MiB)", d.path,
	    (unsigned long long)(p.sectors >> 11));
	if (new_pass(pass, sizeof(pass))) {
		say("no console to ask a passphrase on");
		return 1;
	}
	/* the container is made through the kernel's partition device (the
	 * medium's partition, mounted, keeps dm-crypt from the whole disk):
	 * so the tables first */
	if (persist_add(&d, &p, LABEL, why, sizeof(why)) || persist_tell_kernel(&d, &p, why, sizeof(why)) ||
	    find_part(d.path, p.partno, &pt, NULL)) {
		explicit_bzero(pass, sizeof(pass));
		say("%s", *why ? why : "the new partition is not in /sys/class/block");
		return 1;
	}
	r = make_container(&d, p.start, &pt, pass, node, sizeof(node), why, sizeof(why));
	explicit_bzero(pass, sizeof(pass));
	close(d.fd);
	if (r) {
		say("%s: %s", d.path, why);
		return 1;
	}
	say("%s: partition %u, %llu MiB, encrypted (LUKS1), opened as %s", d.path, p.partno,
	    (unsigned long long)(p.sectors >> 11), node);
	return 0;
}

int helper_luks(int argc, char **argv)
{
	unsigned char hdr[LUKS_PHDR];
	char whole[64];
	struct part pt;
	struct persist_disk d;
	char why[200];

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: mklive-helper luks DISK\n");
		return 2;
	}
	if (persist_open_disk(argv[1], &d, why, sizeof(why))) {
		say("%s", why);
		return 1;
	}
	snprintf(whole, sizeof(whole), "%s", d.path);
	close(d.fd);
	if (!find_part(whole, 0, &pt, hdr))
		return open_existing(&pt, hdr);
	return make_new(argv[1]);
}
