/*
 * cloop images through the kernel's nbd driver.
 *
 * Mainline Linux has no cloop driver.  The init serves the image itself:
 * a socketpair, one end handed to /dev/nbdN (NBD_SET_SOCK), the other read
 * by a server process that answers the kernel's read requests with blocks
 * of the cloop file, decompressed on demand through a small LRU cache.
 *
 *   PID 1 ──fork──► "@mklive-nbd" (ioctl NBD_DO_IT: the kernel's side,
 *                    blocks until the device is disconnected)
 *                       └─fork─► "@mklive-nbd" (the server loop)
 *
 * Both processes outlive switch_root.  They chroot into /run/mklive (which
 * moves into the new root), so they hold no directory of the initramfs, and
 * their command line starts with '@', which systemd reads as "root storage
 * daemon: do not kill before the root is unmounted".  They close every
 * descriptor they do not need (the init's module directory is one).
 *
 * cloop layout (V2.0 and V4.0, src/fmt/cloop_format.h): a 128-byte preamble
 * naming the version, a u32 BE block size, a u32 BE block count n, n+1 u64
 * BE offsets, the blocks (V4.0 may have the table and header at the end).
 * Block i is bytes off[i]..off[i+1] of the file; every block decompresses
 * to block-size bytes (the last one zero padded).  V4.0 keeps the codec of
 * block i in the top 4 bits of off[i] (0 zlib, 1 none, 2 xz, 3 lz4, 4 lzo);
 * V2.0 blocks are all zlib.
 *
 * The init decodes zlib, lz4 (unpack.c) and stored blocks; xz and lzo
 * blocks read as EIO, with one message (liblzma would double the init).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

#include "init.h"
#include "../fmt/cloop_format.h"

/* <linux/nbd.h> is not part of musl's headers */
#define NBD_SET_SOCK		0xab00
#define NBD_SET_BLKSIZE		0xab01
#define NBD_SET_SIZE		0xab02
#define NBD_DO_IT		0xab03
#define NBD_CLEAR_SOCK		0xab04
#define NBD_SET_TIMEOUT		0xab09
#define NBD_SET_FLAGS		0xab0a
#define NBD_FLAG_HAS_FLAGS	(1 << 0)
#define NBD_FLAG_READ_ONLY	(1 << 1)
#define NBD_REQUEST_MAGIC	0x25609513
#define NBD_REPLY_MAGIC		0x67446698
#define NBD_CMD_READ		0
#define NBD_CMD_WRITE		1
#define NBD_CMD_DISC		2
#define NBD_CMD_MASK		0xffff
#define NBD_MAJOR		43
#define NBD_SECTOR		512
#define NBD_MAX_DEVS		16

/* cloop: the layout and codec numbers are src/fmt/cloop_format.h's */
#define CLOOP_PREAMBLE		MKL_CLOOP_HEADROOM
#define CLOOP_CODEC(o)		MKL_CLOOP_FLAGS(o)
#define CLOOP_OFFSET(o)		MKL_CLOOP_OFFSET(o)
enum {
	CODEC_ZLIB = MKL_CLOOP_ZLIB, CODEC_NONE = MKL_CLOOP_NONE,
	CODEC_LZ4 = MKL_CLOOP_LZ4
};
#define CACHE_BLOCKS		8	/* 2 for blocks over 4 MiB */
#define MAX_BLOCK_SIZE		MKL_CLOOP_MAX_BLOCK
#define MAX_REQUEST		(32u << 20)

struct cblock {
	uint32_t num;		/* block number, or UINT32_MAX when empty */
	unsigned long used;	/* LRU clock */
	char *data;
};

struct cloop {
	int fd;
	int v4;
	uint32_t bsize, nblocks;
	uint64_t *off;		/* nblocks + 1, host order, codec bits kept */
	uint64_t size;		/* uncompressed: nblocks * bsize */
	char *cbuf;		/* one compressed block */
	size_t cbuf_size;
	struct cblock cache[CACHE_BLOCKS];
	int ncache;
	unsigned long clock;
	int warned;
};

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const unsigned char *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* sig (4 bytes, "V2.0" or "V4.0") anywhere in the 128-byte preamble */
static int has_sig(const unsigned char *head, const char *sig)
{
	for (int i = 0; i + 4 <= CLOOP_PREAMBLE; i++)
		if (!memcmp(head + i, sig, 4))
			return 1;
	return 0;
}

/* All of len bytes: read (how 'r'), write ('w') or pread at pos ('p'). */
static int full(int how, int fd, void *buf, size_t len, uint64_t pos)
{
	char *p = buf;
	ssize_t r;

	while (len) {
		r = how == 'r' ? read(fd, p, len) : how == 'w' ? write(fd, p, len) :
		    pread(fd, p, len, pos);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		pos += r;
		len -= r;
	}
	return 0;
}
#define read_full(fd, buf, len) full('r', fd, buf, len, 0)
#define write_full(fd, buf, len) full('w', fd, (void *)(buf), len, 0)
#define pread_full(fd, buf, len, pos) full('p', fd, buf, len, pos)

/* Everything cloop_open() allocated and opened; c stays reusable. */
static void cloop_free(struct cloop *c)
{
	int i;

	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->off);
	free(c->cbuf);
	c->off = NULL;
	c->cbuf = NULL;
	for (i = 0; i < CACHE_BLOCKS; i++) {
		free(c->cache[i].data);
		c->cache[i].data = NULL;
	}
}

/*
 * Read and check the header and the offset table: the version, a sane block
 * size, offsets in order, after the table and within the file.  Says what
 * is wrong and returns -1.
 */
static int cloop_open(struct cloop *c, const char *file)
{
	unsigned char head[CLOOP_PREAMBLE + 8], *tab;
	uint64_t first, prev, o, tabsize, tabpos, end, max_c = 0;
	struct stat st;
	uint32_t i;
	int nomem;

	memset(c, 0, sizeof(*c));
	c->fd = open(file, O_RDONLY | O_CLOEXEC);
	if (c->fd < 0) {
		err("error: cannot open the cloop image %s: %s", file, errstr(errno));
		goto fail;
	}
	if (fstat(c->fd, &st) < 0 || pread_full(c->fd, head, sizeof(head), 0) < 0) {
		err("error: %s: too short for a cloop image", file);
		goto fail;
	}
	end = st.st_size;
	if (!has_sig(head, MKL_CLOOP_SIG_V4) &&
	    !has_sig(head, MKL_CLOOP_SIG_V2) &&
	    end >= sizeof(head)) {
		/* V4.0 "header last": the table, then the header, at the end */
		if (pread_full(c->fd, head, sizeof(head), end - sizeof(head)) < 0 ||
		    !has_sig(head, MKL_CLOOP_SIG_V4)) {
			err("error: %s: not a cloop V2.0 or V4.0 image (no version "
			    "in its first or last 136 bytes)", file);
			goto fail;
		}
		end -= sizeof(head);
	}
	c->v4 = has_sig(head, MKL_CLOOP_SIG_V4);
	c->bsize = be32(head + CLOOP_PREAMBLE);
	c->nblocks = be32(head + CLOOP_PREAMBLE + 4);
	if (c->bsize < NBD_SECTOR || c->bsize > MAX_BLOCK_SIZE || c->bsize % NBD_SECTOR) {
		err("error: %s: cloop block size %u is not a multiple of 512 "
		    "up to 64 MiB", file, c->bsize);
		goto fail;
	}
	tabsize = ((uint64_t)c->nblocks + 1) * 8;
	if (end == (uint64_t)st.st_size) {
		tabpos = CLOOP_PREAMBLE + 8;
		first = tabpos + tabsize;
	} else {
		tabpos = end - tabsize;
		first = 0;
		end = tabpos;
	}
	if (!c->nblocks || tabsize > (uint64_t)st.st_size || first > end) {
		err("error: %s: cloop header says %u blocks; the file (%lu bytes) "
		    "is truncated or corrupt", file, c->nblocks, (unsigned long)st.st_size);
		goto fail;
	}
	tab = malloc(tabsize);
	c->off = malloc(tabsize);
	if (!tab || !c->off ||
	    pread_full(c->fd, tab, tabsize, tabpos) < 0) {
		err("error: %s: cannot read the cloop offset table (%u blocks)",
		    file, c->nblocks);
		free(tab);
		goto fail;
	}
	prev = first;
	for (i = 0; i <= c->nblocks; i++) {
		c->off[i] = be64(tab + 8 * (size_t)i);
		o = CLOOP_OFFSET(c->off[i]);
		if ((!c->v4 && CLOOP_CODEC(c->off[i])) || o < prev || o > end) {
			err("error: %s: cloop offset %u of %u is corrupt (%lu; "
			    "previous %lu, blocks end at %lu: truncated?)", file, i,
			    c->nblocks, (unsigned long)o, (unsigned long)prev,
			    (unsigned long)end);
			free(tab);
			goto fail;
		}
		if (i && o - prev > max_c)
			max_c = o - prev;
		prev = o;
	}
	free(tab);
	/* zlib may expand a block a little; anything bigger is corrupt */
	if (max_c > (uint64_t)c->bsize * 2 + 4096) {
		err("error: %s: a cloop block of %lu bytes for %u-byte blocks: "
		    "corrupt table", file, (unsigned long)max_c, c->bsize);
		goto fail;
	}
	c->cbuf_size = max_c ? max_c : 1;
	c->cbuf = malloc(c->cbuf_size);
	c->ncache = c->bsize > (4u << 20) ? 2 : CACHE_BLOCKS;
	nomem = !c->cbuf;
	for (i = 0; i < (uint32_t)c->ncache; i++) {
		c->cache[i].num = UINT32_MAX;
		c->cache[i].data = malloc(c->bsize);
		nomem |= !c->cache[i].data;
	}
	if (nomem) {
		err("error: out of memory for the cloop cache (%d x %u bytes)",
		    c->ncache, c->bsize);
		goto fail;
	}
	c->size = (uint64_t)c->nblocks * c->bsize;
	return 0;
fail:
	cloop_free(c);
	return -1;
}

/* Decompress block n into out (bsize bytes); -1 if it is corrupt. */
static int decompress(struct cloop *c, uint32_t n, char *out)
{
	uint64_t start = CLOOP_OFFSET(c->off[n]);
	size_t clen = CLOOP_OFFSET(c->off[n + 1]) - start, olen = c->bsize;
	unsigned codec = c->v4 ? CLOOP_CODEC(c->off[n]) : CODEC_ZLIB;
	int ok = 0;
	long r;

	if (!clen || pread_full(c->fd, c->cbuf, clen, start) < 0)
		return -1;
	switch (codec) {
	case CODEC_NONE:
		if (clen > olen)
			return -1;
		memcpy(out, c->cbuf, clen);
		olen = clen;
		ok = 1;
		break;
	case CODEC_ZLIB:
	case CODEC_LZ4:
		r = (codec == CODEC_ZLIB ? zlib_unpack : lz4_unpack)(c->cbuf, clen,
								     out, olen);
		ok = r >= 0;
		olen = ok ? (size_t)r : 0;
		break;
	default:
		if (!c->warned)
			err("error: cloop block %u uses codec %u (V4.0: 2 xz, 4 lzo), "
			    "which the init cannot decode: zlib, lz4 and none only",
			    n, codec);
		c->warned = 1;
		return -2;
	}
	if (!ok)
		return -1;
	memset(out + olen, 0, c->bsize - olen);
	return 0;
}

/* Block n, from the cache or decompressed into its least recently used slot. */
static const char *get_block(struct cloop *c, uint32_t n)
{
	struct cblock *b, *lru = &c->cache[0];
	int i;

	for (i = 0; i < c->ncache; i++) {
		b = &c->cache[i];
		if (b->num == n) {
			b->used = ++c->clock;
			return b->data;
		}
		if (b->used < lru->used)
			lru = b;
	}
	lru->num = UINT32_MAX;
	i = decompress(c, n, lru->data);
	if (i < 0) {
		if (i == -1 && !c->warned)
			err("error: cloop block %u (bytes %lu..%lu of the image) is "
			    "corrupt: reads of it fail with EIO", n,
			    (unsigned long)CLOOP_OFFSET(c->off[n]),
			    (unsigned long)CLOOP_OFFSET(c->off[n + 1]));
		c->warned = 1;
		return NULL;
	}
	lru->num = n;
	lru->used = ++c->clock;
	return lru->data;
}

/* Fill buf with len bytes of the uncompressed image from pos; an errno. */
static int cloop_read(struct cloop *c, char *buf, uint64_t pos, uint32_t len)
{
	const char *b;
	uint32_t n, in, k;

	if (pos > c->size || len > c->size - pos)
		return EINVAL;
	while (len) {
		n = pos / c->bsize;
		in = pos % c->bsize;
		k = c->bsize - in < len ? c->bsize - in : len;
		b = get_block(c, n);
		if (!b)
			return EIO;
		memcpy(buf, b + in, k);
		buf += k;
		pos += k;
		len -= k;
	}
	return 0;
}

/* The server: answer requests on sock until NBD_CMD_DISC or EOF. */
static _Noreturn void serve(struct cloop *c, int sock)
{
	unsigned char req[28], rep[16];
	char *buf = NULL;
	size_t cap = 0;
	uint32_t type, len, e;
	uint64_t from;

	for (;;) {
		if (read_full(sock, req, sizeof(req)) < 0)
			_exit(0);
		if (be32(req) != NBD_REQUEST_MAGIC) {
			err("error: nbd server: bad request magic; stopping");
			_exit(1);
		}
		type = be32(req + 4) & NBD_CMD_MASK;
		from = be64(req + 16);
		len = be32(req + 24);
		if (type == NBD_CMD_DISC)
			_exit(0);
		put32(rep, NBD_REPLY_MAGIC);
		memcpy(rep + 8, req + 8, 8);	/* handle */
		e = 0;
		if (type == NBD_CMD_WRITE) {
			/* the payload follows the request: read and drop it */
			while (len && !e) {
				char drop[4096];
				uint32_t k = len < sizeof(drop) ? len : sizeof(drop);

				if (read_full(sock, drop, k) < 0)
					_exit(1);
				len -= k;
			}
			e = EPERM;
		} else if (type != NBD_CMD_READ) {
			e = EINVAL;	/* flush, trim: none of ours; read-only */
			if (type == 3)
				e = 0;	/* NBD_CMD_FLUSH: nothing to flush */
		} else if (len > MAX_REQUEST) {
			e = EINVAL;
		} else {
			if (len > cap) {
				free(buf);
				cap = len;
				buf = malloc(cap);
				if (!buf)
					cap = 0;
			}
			e = buf || !len ? cloop_read(c, buf, from, len) : ENOMEM;
		}
		put32(rep + 4, e);
		if (write_full(sock, rep, sizeof(rep)) < 0 ||
		    (type == NBD_CMD_READ && !e && write_full(sock, buf, len) < 0))
			_exit(1);
	}
}

/*
 * Become a root-storage daemon: "@mklive-nbd" as the command line (systemd
 * leaves processes whose argv[0] starts with '@' alone at shutdown), the
 * name in /proc/PID/comm, no directory of the initramfs held.
 */
static void daemonize(char **argv)
{
	static const char title[] = "@mklive-nbd";
	extern char **environ;
	char *end;
	int i;

	prctl(PR_SET_NAME, "mklive-nbd", 0, 0, 0);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if (argv && argv[0]) {
		/* argv and environ strings lie one after the other: the title
		 * may run over both (the kernel reads past argv's end then) */
		end = argv[0];
		for (i = 0; argv[i]; i++)
			end = argv[i] + strlen(argv[i]) + 1;
		for (i = 0; environ && environ[i]; i++)
			if (environ[i] == end)
				end = environ[i] + strlen(environ[i]) + 1;
		if ((size_t)(end - argv[0]) >= sizeof(title)) {
			environ = NULL;
			memset(argv[0], 0, end - argv[0]);
			memcpy(argv[0], title, sizeof(title));
		} else {
			argv[0][0] = '@';
		}
	}
	if (chroot(MKL_RUN) < 0 || chdir("/") < 0)
		err("warning: nbd server: cannot chroot to " MKL_RUN ": %s",
		    errstr(errno));
}

/* Close every descriptor but 0-2 and the ones given (-1: none). */
static void close_others(int a, int b)
{
	int i;

	for (i = 3; i < 1024; i++)
		if (i != a && i != b)
			close(i);
}

static int open_nbd(int n, char *dev, size_t size)
{
	int fd;

	sfmt(dev, size, "/dev/nbd%d", n);
	fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		mknod(dev, S_IFBLK | 0600, makedev(NBD_MAJOR, n * 16));
		fd = open(dev, O_RDWR | O_CLOEXEC);
	}
	return fd;
}

/*
 * Wait (up to 5 s) for the kernel's side to run: NBD_DO_IT creates
 * /sys/block/nbdN/pid first and sets the capacity after it, so wait for
 * the size (in 512-byte sectors) too; a mount before it sees an empty disk.
 */
static int wait_ready(int n, uint64_t bytes)
{
	char path[48], buf[32], want[32];
	int i;

	sfmt(path, sizeof(path), "/sys/block/nbd%d/size", n);
	sfmt(want, sizeof(want), "%lu", (unsigned long)(bytes / NBD_SECTOR));
	for (i = 0; i < 1000; i++) {
		if (read_attr(AT_FDCWD, path, buf, sizeof(buf)) == 0 && !strcmp(buf, want))
			return 0;
		usleep(5000);
	}
	return -1;
}

/*
 * Serve the cloop image file through a free /dev/nbdN; dev gets its name.
 * Returns 0 once the device is ready to mount, -1 after saying why not.
 */
int nbd_attach(const char *file, char **argv, char *dev, size_t size)
{
	static struct cloop c;
	int sv[2], fd = -1, n, dn = -1;
	pid_t pid;

	if (cloop_open(&c, file) < 0)
		return -1;
	if (access("/sys/module/nbd", F_OK) < 0)
		mod_load_name("nbd");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		err("error: socketpair for the nbd server: %s", errstr(errno));
		return -1;
	}
	for (n = 0; n < NBD_MAX_DEVS; n++) {
		fd = open_nbd(n, dev, size);
		if (fd < 0) {
			if (n == 0)
				err("error: cannot open %s (is the nbd module in the "
				    "initramfs?): %s", dev, errstr(errno));
			break;
		}
		if (ioctl(fd, NBD_SET_SOCK, sv[0]) == 0) {
			dn = n;
			break;
		}
		close(fd);
		fd = -1;
		if (errno != EBUSY) {
			err("error: %s: NBD_SET_SOCK: %s", dev, errstr(errno));
			break;
		}
	}
	if (dn < 0) {
		if (fd < 0 && n > 0)
			err("error: no free nbd device for the cloop image (%d busy)", n);
		close(sv[0]);
		close(sv[1]);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (ioctl(fd, NBD_SET_BLKSIZE, (unsigned long)NBD_SECTOR) < 0 ||
	    ioctl(fd, NBD_SET_SIZE, (unsigned long)c.size) < 0 ||
	    ioctl(fd, NBD_SET_FLAGS, (unsigned long)(NBD_FLAG_HAS_FLAGS |
						      NBD_FLAG_READ_ONLY)) < 0) {
		err("error: %s: cannot set size %lu: %s", dev,
		    (unsigned long)c.size, errstr(errno));
		ioctl(fd, NBD_CLEAR_SOCK);
		goto fail;
	}
	ioctl(fd, NBD_SET_TIMEOUT, 0UL);
	pid = _Fork();
	if (pid < 0) {
		err("error: cannot fork the nbd server: %s", errstr(errno));
		ioctl(fd, NBD_CLEAR_SOCK);
		goto fail;
	}
	if (pid == 0) {
		setsid();
		daemonize(argv);
		pid = _Fork();
		if (pid == 0) {
			close_others(sv[1], c.fd);
			serve(&c, sv[1]);
		}
		close_others(fd, -1);
		if (pid < 0) {
			err("error: cannot fork the nbd server: %s", errstr(errno));
			ioctl(fd, NBD_CLEAR_SOCK);
			_exit(1);
		}
		/* the kernel's side: runs until the device is disconnected */
		ioctl(fd, NBD_DO_IT);
		ioctl(fd, NBD_CLEAR_SOCK);
		_exit(0);
	}
	close(sv[0]);
	close(sv[1]);
	close(c.fd);
	close(fd);
	if (wait_ready(dn, c.size) < 0) {
		err("error: %s did not come up within 5 s", dev);
		return -1;
	}
	info("cloop %s: %s, %u blocks of %u bytes, served on %s",
	     file, c.v4 ? "V4.0" : "V2.0", c.nblocks, c.bsize, dev);
	return 0;
fail:
	close(sv[0]);
	close(sv[1]);
	close(fd);
	return -1;
}
