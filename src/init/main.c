/*
 * mklive-init: PID 1 of the mklive initramfs (see mklive-init(7)).
 *
 *   mount /proc /sys /dev /run; read /mklive.conf and /proc/cmdline;
 *   load the drivers the hardware asks for; find the medium by its ID;
 *   mount it; attach the image (loop, or nbd for cloop; from a copy in RAM
 *   with toram); build the overlay root (upper layer on the persistence
 *   filesystem with persistence) or symlink root; write the live user
 *   and settings into it; switch_root; exec the real init.
 *
 * PID 1 must never exit (the kernel panics): every failure says what was
 * looked for and where, then goes to rescue(), which never returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init.h"

#define RESCUE_SHELL "/bin/sh"

static struct init_cfg cfg = {
	.image = "/live/filesystem.squashfs",
	.format = "squashfs",
	.root = "overlay",
	.timeout = 30,
	.ptimeout = 5,
	.ufd = -1,
	.autologin = 1,
};

/*
 * Run the rescue shell, if the initramfs (or, after switch_root, the root)
 * has one, as a child with the console as its controlling terminal, and
 * wait for it to exit.  -1 if there is no shell.
 */
int run_shell(void)
{
	pid_t pid, w;
	int fd;

	if (access(RESCUE_SHELL, X_OK) < 0)
		return -1;
	/* _Fork (musl 1.2.2, glibc 2.34): fork without the atfork handlers
	 * and libc locks that only threads need; the init has none */
	pid = _Fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		setsid();
		fd = open("/dev/console", O_RDWR);
		if (fd >= 0) {
			ioctl(fd, TIOCSCTTY, 1);
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
			if (fd > 2)
				close(fd);
		}
		/* execv: musl's execl copies its arguments, 0.3 KB */
		execv(RESCUE_SHELL, (char *[]){ "sh", NULL });
		_exit(127);
	}
	do
		w = waitpid(-1, NULL, 0);
	while (w != pid && !(w < 0 && errno == ECHILD));
	return 0;
}

_Noreturn void rescue(void)
{
	setpriority(PRIO_PROCESS, 0, 0);
	usb_settle_done();
	if (access(RESCUE_SHELL, X_OK) == 0) {
		err("starting a rescue shell (" RESCUE_SHELL "); the system stops "
		    "when it exits");
		run_shell();
		err("rescue shell exited; the system is stopped: reset the machine");
	} else {
		err("no rescue shell in the initramfs; the system is stopped: "
		    "reset the machine");
	}
	for (;;)
		pause();
}

static void early_mounts(void)
{
	static const struct {
		const char *dir, *type, *data;
		unsigned long flags;
	} m[] = {
		{ "/dev", "devtmpfs", "mode=0755", MS_NOSUID },
		{ "/proc", "proc", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC },
		{ "/sys", "sysfs", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC },
		{ "/run", "tmpfs", "mode=0755", MS_NOSUID | MS_NODEV },
	};
	size_t i;
	int e[4];

	for (i = 0; i < 4; i++) {
		mkdir(m[i].dir, 0755);
		e[i] = 0;
		if (mount(m[i].type, m[i].dir, m[i].type, m[i].flags, m[i].data) < 0 &&
		    errno != EBUSY)
			e[i] = errno;
	}
	/* with /dev mounted the console can open, and messages can be seen */
	open_console();
	for (i = 0; i < 4; i++)
		if (e[i])
			err("warning: cannot mount %s on %s: %s", m[i].type, m[i].dir,
			    errstr(e[i]));
}

/*
 * PATH for the rescue shell and the real init when the kernel gave none:
 * the kernel's environment (at most 32 strings) and PATH.  setenv would
 * bring musl's copy-and-free handling of environment strings.
 */
static void default_path(void)
{
	static char path[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
	static char *env[34];
	extern char **environ;
	size_t n = 0;

	if (getenv("PATH"))
		return;
	while (environ && environ[n] && n < 32) {
		env[n] = environ[n];
		n++;
	}
	env[n] = path;
	environ = env;
}

static int yes(const char *v)
{
	return !v || (strcmp(v, "0") && strcmp(v, "no"));
}

static void set_level(void)
{
	log_level = cfg.debug ? MKL_DEBUG : cfg.quiet ? MKL_ERR : MKL_INFO;
}

/* SECONDS (0..86400) of mklive.NAME=v into *t, or a warning. */
static void seconds(const char *name, const char *v, unsigned *t)
{
	unsigned long n;
	const char *end;

	for (n = 0, end = v; *end >= '0' && *end <= '9' && n <= 86400; end++)
		n = n * 10 + *end - '0';
	if (*v && !*end && n <= 86400)
		*t = n;
	else
		err("warning: ignoring mklive.%s=%s (seconds, 0..86400)", name, v);
}

/*
 * Every setting the init takes, one row each: from the kernel command line
 * (bare, like toram, or as mklive.NAME) and/or from the initramfs's
 * /mklive.conf that the builder writes.  A new boot option is a row here
 * (and its field in struct init_cfg, and docs/mklive-init.7).
 */
enum { ON_BARE = 1, ON_MKLIVE = 2, IN_CONF = 4 };
enum { K_FLAG, K_NOVAL, K_YES, K_STR, K_ANY, K_SECS };
#define AT(field) offsetof(struct init_cfg, field)
static const struct setting {
	char name[12];		/* the longest, "persistence", and its NUL */
	unsigned char where, kind;
	unsigned short at;
} settings[] = {
	{ "quiet", ON_BARE, K_FLAG, AT(quiet) },
	{ "toram", ON_BARE, K_NOVAL, AT(toram) },	/* toram=... is the kernel's */
	{ "persistence", ON_BARE, K_ANY, AT(persist) },	/* persistence[=LABEL[:/FILE]] */
	{ "init", ON_BARE, K_STR, AT(init) },
	{ "findiso", ON_BARE, K_STR, AT(findiso) },	/* and iso-scan/filename= */
	{ "debug", ON_MKLIVE, K_YES, AT(debug) },
	{ "shell", ON_MKLIVE, K_YES, AT(shell) },
	{ "verify", ON_MKLIVE, K_YES, AT(verify) },
	{ "verity", ON_MKLIVE, K_STR, AT(verity) },
	{ "timeout", ON_MKLIVE, K_SECS, AT(timeout) },
	{ "ptimeout", ON_MKLIVE, K_SECS, AT(ptimeout) },
	{ "id", ON_MKLIVE | IN_CONF, K_STR, AT(id) },
	{ "image", ON_MKLIVE | IN_CONF, K_STR, AT(image) },
	{ "root", ON_MKLIVE | IN_CONF, K_STR, AT(root) },
	{ "rwimage", ON_MKLIVE | IN_CONF, K_STR, AT(rwimage) },
	{ "kver", IN_CONF, K_STR, AT(kver) },
	{ "modules", IN_CONF, K_STR, AT(modules) },
	{ "format", IN_CONF, K_STR, AT(format) },
	{ "fstype", IN_CONF, K_STR, AT(fstype) },
	{ "isomods", IN_CONF, K_STR, AT(isomods) },
	/* the signed UKI's menu: entry.ID=ARGS lines, read by mklive-helper */
	{ "entries", IN_CONF, K_YES, AT(entries) },
	/* the live user and settings (live.c), from [live] of mklive.conf */
	{ "user", ON_MKLIVE | IN_CONF, K_STR, AT(user) },
	{ "autologin", ON_MKLIVE | IN_CONF, K_YES, AT(autologin) },
	{ "hostname", ON_MKLIVE | IN_CONF, K_STR, AT(hostname) },
	{ "locale", ON_MKLIVE | IN_CONF, K_STR, AT(locale) },
	{ "keyboard", ON_MKLIVE | IN_CONF, K_STR, AT(keyboard) },
	{ "timezone", ON_MKLIVE | IN_CONF, K_STR, AT(timezone) },
};

/* NAME[=v] from one of the places `where`: 1 taken, 0 not ours (or a value
 * that does not fit, with a warning for the command line's). */
static int setting(const char *w, char *v, int where)
{
	void *f;

	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
		const struct setting *s = &settings[i];

		if (!(s->where & where) || strcmp(s->name, w))
			continue;
		f = (char *)&cfg + s->at;
		switch (s->kind) {
		case K_NOVAL:
			if (v)
				return 0;
			/* fall through */
		case K_FLAG:
			*(int *)f = 1;
			return 1;
		case K_YES:
			*(int *)f = yes(v);
			return 1;
		case K_SECS:
			if (v)
				seconds(w, v, f);
			return !!v;
		case K_ANY:
			*(const char **)f = v ? v : "";
			return 1;
		default:
			if (!v || !*v)
				return 0;
			*(const char **)f = v;
			return 1;
		}
	}
	return 0;
}

/* One word of /proc/cmdline: ours, or the kernel's, or the real init's. */
static void option(char *w)
{
	char *v = strchr(w, '=');

	if (v)
		*v++ = 0;
	if (!strcmp(w, "iso-scan/filename"))	/* dracut's name */
		w = "findiso";
	if (setting(w, v, ON_BARE))
		return;
	if (!strncmp(w, "mklive.", 7)) {
		if (!setting(w + 7, v, ON_MKLIVE))
			err("warning: unknown option mklive.%s", w + 7);
	} else if (strchr(w, '.') && v) {
		mod_param(w, v);
	}
}

/* Split the kernel command line into words ("" quote spaces), up to "--". */
static void parse_cmdline(char *s)
{
	char *p = s, *w, *out;
	int quoted;

	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		if (!*p)
			break;
		w = out = p;
		quoted = 0;
		while (*p && (quoted || (*p != ' ' && *p != '\t' && *p != '\n'))) {
			if (*p == '"')
				quoted = !quoted;
			else
				*out++ = *p;
			p++;
		}
		if (*p)
			p++;
		*out = 0;
		if (!strcmp(w, "--"))
			break;
		option(w);
	}
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = 0;
	return s;
}

/* /mklive.conf: key=value lines written by the builder. */
static void parse_conf(char *s)
{
	char *line, *next, *v, *k;

	for (line = s; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		v = strchr(line, '=');
		if (!v || *trim(line) == '#')
			continue;
		*v++ = 0;
		k = trim(line);
		v = trim(v);
		setting(k, v, IN_CONF);
	}
}

/* PID 1's sequence, step after step (docs/mklive-init.7 DESCRIPTION lists
 * the same steps). Long (about 130 lines) so that it reads as that list;
 * each step is a call into its own file. */
int main(int argc, char **argv)
{
	static struct utsname uts;
	char dev[64], known[96], *conf, *cmdline;
	unsigned long t;

	since_start_ms();
	early_mounts();
	default_path();

	conf = read_file("/mklive.conf");
	if (conf)
		parse_conf(conf);
	else
		err("warning: no /mklive.conf in the initramfs");
	cmdline = read_file("/proc/cmdline");
	if (cmdline)
		parse_cmdline(cmdline);
	set_level();

	uname(&uts);
	if (!cfg.kver || !*cfg.kver)
		cfg.kver = uts.release;
	else if (strcmp(cfg.kver, uts.release)) {
		/* Modules of another kernel do not load (wrong vermagic): the
		 * medium would go unfound for a reason no message would name. */
		err("error: the initramfs has modules for kernel %s, but this kernel is %s: "
		    "boot the kernel built with it (/live/vmlinuz on the medium), or rebuild "
		    "the image with this kernel's modules (--kernel and --modules together)",
		    cfg.kver, uts.release);
		rescue();
	}
	cfg.argv = argv;
	dbg("id=%s image=%s format=%s fstype=%s root=%s rwimage=%s kver=%s timeout=%u "
	    "init=%s persistence=%s toram=%d", cfg.id ? cfg.id : "(none)", cfg.image,
	    cfg.format, cfg.fstype ? cfg.fstype : "(the format's)", cfg.root,
	    cfg.rwimage ? cfg.rwimage : "(none)", cfg.kver,
	    cfg.timeout, cfg.init ? cfg.init : "(default)",
	    cfg.persist ? cfg.persist : "(none)", cfg.toram);
	if (image_format_check(cfg.format, known, sizeof(known)) < 0) {
		err("error: unknown image format '%s' in /mklive.conf (format=); this "
		    "init knows %s: were the initramfs's init and its /mklive.conf made by "
		    "different mklive versions? build the image again", cfg.format, known);
		rescue();
	}
	if (strcmp(cfg.root, "overlay") && strcmp(cfg.root, "symlink")) {
		err("error: unknown root mode '%s' (mklive.root=overlay or symlink)",
		    cfg.root);
		rescue();
	}
	if (!strcmp(cfg.root, "symlink") && (!cfg.rwimage || !*cfg.rwimage)) {
		err("error: root mode symlink needs the writable part of the root: "
		    "/mklive.conf has no rwimage= and the command line no mklive.rwimage=");
		rescue();
	}
	if (!cfg.id || !*cfg.id) {
		err("error: no medium ID: /mklive.conf has no id= and the kernel "
		    "command line no mklive.id=");
		rescue();
	}

	/* Until the medium is found the drivers' work goes first: on one CPU
	 * the controllers' probes, the USB hub's enumeration and the disk
	 * scans run in kernel workers at nice 0, and the init loading
	 * modules beside them at nice 0 held them back (0.2 s from a USB
	 * stick under QEMU TCG). */
	setpriority(PRIO_PROCESS, 0, 19);
	/* the uevent socket first, so no device added meanwhile is missed */
	t = now_ms();
	cfg.ufd = uevent_open();
	mod_init(cfg.kver);
	/* hardware first: its drivers probe in the background (async_probe)
	 * while the filesystem modules load */
	mod_coldplug();
	/* A USB host controller (its driver needs usbcore): the sticks'
	 * drivers now, while the kernel enumerates the bus (a third of a
	 * second of its fixed power-on, debounce and reset delays), so that a
	 * stick binds as it appears rather than after the init has read its
	 * uevent and loaded them (45 ms under QEMU TCG, and the init busy
	 * with other modules then) */
	if (mod_loaded("usbcore")) {
		mod_load_name("usb_storage");
		mod_load_name("uas");
	}
	/* then the disk and CD drivers that every controller's disks need:
	 * their modalias only comes once a controller has scanned its bus,
	 * and loaded then they stood between the disk and the medium search
	 * (35 ms from a USB stick under QEMU TCG, 100 ms with the host busy) */
	mod_load_name("sd_mod");
	mod_load_name("sr_mod");
	mod_load_list(cfg.modules);
	dbg("modules: %lu ms", now_ms() - t);
	/* The signed UKI: the choice made in systemd-boot's menu, its
	 * arguments from the signed table (mklive-helper entry). */
	if (cfg.entries && !helper((char *[]){ "mklive-helper", "entry", "/run/mklive.entry", NULL }) &&
	    (cmdline = read_file("/run/mklive.entry"))) {
		parse_cmdline(cmdline);
		set_level();
	}

	t = now_ms();
	if (medium_find(&cfg, cfg.ufd, dev, sizeof(dev)) < 0)
		rescue();
	setpriority(PRIO_PROCESS, 0, 0);
	if (mount_fs(dev, MKL_MEDIUM, "iso9660", MS_RDONLY, NULL) < 0) {
		err("error: cannot mount %s (medium %s) as iso9660 on " MKL_MEDIUM ": %s",
		    dev, cfg.id, errstr(errno));
		rescue();
	}
	dbg("medium: %lu ms", now_ms() - t);
	info("found medium %s on %s", cfg.id, dev);
	cfg.medium = dev;
	if (cfg.verify && medium_verify(MKL_MEDIUM) < 0)
		rescue();
	if (medium_has_image(&cfg, dev) < 0)
		rescue();

	/* the uevent socket stays open for the persistence medium */
	if (build_root(&cfg) < 0)
		rescue();
	if (cfg.ufd >= 0)
		close(cfg.ufd);
	usb_settle_done();
	live_apply(&cfg, MKL_NEWROOT);
	if (cfg.shell) {
		info("mklive.shell: root ready on " MKL_NEWROOT "; exit the shell "
		     "to boot it");
		if (run_shell() < 0)
			err("mklive.shell: no shell (" RESCUE_SHELL ") in the initramfs");
	}
	switch_root(MKL_NEWROOT, cfg.init, argv);
	rescue();
}
