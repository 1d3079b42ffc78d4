/*
 * mklive-init: the static PID 1 of a mklive initramfs.
 *
 * Finds the live medium by the ID the builder wrote, attaches the compressed
 * root image, builds an overlay root and switches to it.  See mklive-init(7).
 *
 * Shared declarations of the init's files: main.c (the sequence, options,
 * rescue), util.c (messages, files, directories), modules.c (modalias and
 * uevents), usb.c (USB sticks without usb-storage's settle time, unless
 * they need it), medium.c (finding the medium), mount.c (the image format
 * table; loop, overlay and symlink roots), dir.c (opendir and readdir in
 * place of musl's), persist.c (the persistence filesystem, found by its label),
 * toram.c (the image copied into RAM), alloc.c (malloc and free in place of
 * musl's), nbd.c (cloop images served to the nbd
 * driver), unpack.c (zlib and lz4 for cloop blocks), live.c (the live
 * user and settings written into the root), copy.c
 * (copying a tree with its metadata) and switch_root.c (leaving the
 * initramfs).
 */
#ifndef MKLIVE_INIT_H
#define MKLIVE_INIT_H

#include <fcntl.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

/* stat in one system call: musl's converts from the kernel's struct after
 * trying statx (0.5 KB); on x86-64 the kernel's struct stat is musl's.
 * utimensat likewise, without musl's fallbacks for old kernels. See dir.c. */
#ifdef __x86_64__
static inline int init_fstatat(int dfd, const char *path, struct stat *st, int flags)
{
	return (int)syscall(SYS_newfstatat, dfd, path, st, flags);
}
static inline int init_utimensat(int dfd, const char *path, const struct timespec *ts, int flags)
{
	return (int)syscall(SYS_utimensat, dfd, path, ts, flags);
}
#define fstatat(dfd, path, st, flags) init_fstatat(dfd, path, st, flags)
#define stat(path, st) init_fstatat(AT_FDCWD, path, st, 0)
#define lstat(path, st) init_fstatat(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW)
#define fstat(fd, st) init_fstatat(fd, "", st, AT_EMPTY_PATH)
#define utimensat(dfd, path, ts, flags) init_utimensat(dfd, path, ts, flags)
#endif

/* message levels, lowest first: a message is shown when level <= log_level */
enum { MKL_ERR, MKL_INFO, MKL_DEBUG };

struct init_cfg {
	const char *id;		/* volume set ID of the medium */
	const char *image;	/* path of the image inside the medium */
	const char *format;	/* image format: a row of mount.c's table */
	const char *fstype;	/* filesystem in the image, NULL: the row's */
	const char *root;	/* root mode: "overlay" or "symlink" */
	const char *rwimage;	/* symlink mode: squashfs of the writable part */
	char **argv;		/* our own, for the nbd server's process title */
	const char *kver;	/* kernel release of /lib/modules/<kver> */
	char *modules;		/* modules loaded early, space separated */
	const char *init;	/* init=, NULL for the default list */
	const char *findiso;	/* findiso=: the medium is this ISO file on a disk */
	char *isomods;		/* modules findiso needs: the disks' filesystems */
	unsigned timeout;	/* seconds to wait for the medium */
	const char *persist;	/* persistence: "LABEL", "LABEL:/FILE", or NULL */
	const char *medium;	/* the device the medium was found on */
	unsigned ptimeout;	/* seconds to wait for the persistence medium */
	int ufd;		/* uevent socket, -1 if none */
	int debug, quiet, shell, toram;
	int verify;		/* mklive.verify: check the medium's checksums */
	/* mklive.verity=IMAGE[,RW]: root hashes; the image (and symlink
	 * mode's writable root) mounted through dm-verity by mklive-helper */
	const char *verity;
	/* the live user's settings (live.c); NULL: leave the tree's */
	const char *user, *hostname, *locale, *keyboard, *timezone;
	int autologin;		/* log the user in on tty1, serial consoles, the DM */
	int entries;		/* /mklive.conf has the signed UKI's menu (entry.ID=) */
};

/* mount points, all below /run so that they survive switch_root */
#define MKL_RUN		"/run/mklive"
#define MKL_MEDIUM	MKL_RUN "/medium"
#define MKL_RO		MKL_RUN "/ro"
#define MKL_RW		MKL_RUN "/rw"
#define MKL_RWSRC	MKL_RUN "/rwsrc"
#define MKL_PERSIST	MKL_RUN "/persist"	/* holds mklive/upper, mklive/work */
#define MKL_PHOST	MKL_RUN "/persist-host"	/* the fs holding a persistence file */
/* MKL_RUN "/iso-host": the fs holding the ISO with findiso= (mklive-helper) */
#define MKL_TORAM	MKL_RUN "/toram"	/* tmpfs with the image copied to RAM */
#define MKL_NEWROOT	"/newroot"

/* util.c */
extern int log_level;
void msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define err(...)	msg(MKL_ERR, __VA_ARGS__)
#define info(...)	msg(MKL_INFO, __VA_ARGS__)
#define dbg(...)	msg(MKL_DEBUG, __VA_ARGS__)
size_t sfmt(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
const char *errstr(int e);
unsigned long now_ms(void);
unsigned long since_start_ms(void);
char *read_file(const char *path);
char *read_fd(int fd);
int read_attr(int dfd, const char *name, char *buf, size_t size);
int mkdir_p(const char *path, mode_t mode);
int open_console(void);
int helper(char **argv);

/* main.c */
_Noreturn void rescue(void);
int run_shell(void);

/* modules.c */
void mod_init(const char *kver);
void mod_load_name(const char *name);
void mod_param(const char *word, const char *value);
void mod_load_list(char *names);
int mod_loaded(const char *name);
void mod_add_tree(const char *root);
void mod_coldplug(void);
int uevent_open(void);
int uevent_handle(int fd);
void mod_close(void);

/* medium.c */
typedef int probe_fn(int sysdir, const char *name, const void *arg);
int open_dev(int sysdir, const char *name);
int dev_wait(probe_fn *fn, const void *arg, int ufd, unsigned long ms,
	     unsigned long quiet_ms, const char *what, char *dev, size_t size);
int medium_find(const struct init_cfg *cfg, int ufd, char *dev, size_t size);

/* usb.c: usb-storage without its settle time, and with it again for the
 * devices that need it */
void usb_fast_scan(void);
void usb_suspect(const char *name, const char *why);
int usb_settle(void);
void usb_settle_done(void);

/* verify.c: check the mounted medium against its sha256sum.txt; -1 when
 * it is not whole (each damaged file named on the console). */
int medium_verify(const char *mnt);
/* The medium holds the image (and the writable part) the build put there;
 * else -1, with a message that names what is missing and on which device. */
int medium_has_image(const struct init_cfg *cfg, const char *dev);
int medium_match(const unsigned char *pvd, size_t len, const char *id,
		 char *what, size_t size);

/* persist.c */
int persist_setup(const struct init_cfg *cfg, char *desc, size_t size);

/* toram.c */
int toram_copy(const char *file, char *out, size_t size);

/* mount.c */
int mount_fs(const char *src, const char *dst, const char *type,
	     unsigned long flags, const char *data);
int loop_attach(const char *file, int rw, char *dev, size_t size);
int build_root(const struct init_cfg *cfg);
int image_format_check(const char *name, char *known, size_t size);

/* nbd.c */
int nbd_attach(const char *file, char **argv, char *dev, size_t size);

/* unpack.c */
long zlib_unpack(const void *in, size_t inlen, void *out, size_t cap);
long lz4_unpack(const void *in, size_t inlen, void *out, size_t cap);

/* copy.c */
long copy_tree(const char *src, const char *dst);

/* live.c: the live user, autologin, hostname, locale, keyboard and time
 * zone written into the root at newroot; warnings only, never fails. */
void live_apply(const struct init_cfg *cfg, const char *newroot);

/* switch_root.c */
void switch_root(const char *newroot, const char *init, char **argv);

#endif
