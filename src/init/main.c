/*
 * mklive-init: PID 1 of the mklive initramfs (see mklive-init(7)).
 *
 *   mount /proc /sys /dev /run; read /mklive.conf and /proc/cmdline;
 *   load the drivers the hardware asks for; find the medium by its ID;
 *   mount it; attach the image (loop, or nbd for cloop; from a copy in RAM
 *   with toram); build the overlay root (upper layer on the persistence
 *   filesystem with persistence) or symlink root; switch_root; exec the
 *   real init.
 *
 * PID 1 must never exit (the kernel panics): every failure says what was
 * looked for and where, then goes to rescue(), which never returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
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
		execl(RESCUE_SHELL, "sh", (char *)NULL);
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
	return !v || strcmp(v, "0") != 0;
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

/* One word of /proc/cmdline: ours, or the kernel's, or the real init's. */
static void option(char *w)
{
	char *v = strchr(w, '=');

	if (v)
		*v++ = 0;
	if (!strcmp(w, "quiet")) {
		cfg.quiet = 1;
	} else if (!strcmp(w, "toram") && !v) {
		cfg.toram = 1;
	} else if (!strcmp(w, "persistence")) {
		cfg.persist = v ? v : "";
	} else if (!strcmp(w, "init") && v && *v) {
		cfg.init = v;
	} else if (!strncmp(w, "mklive.", 7)) {
		w += 7;
		if (!strcmp(w, "debug")) {
			cfg.debug = yes(v);
		} else if (!strcmp(w, "shell")) {
			cfg.shell = yes(v);
		} else if (!strcmp(w, "verify")) {
			cfg.verify = yes(v);
		} else if (!strcmp(w, "id") && v && *v) {
			cfg.id = v;
		} else if (!strcmp(w, "image") && v && *v) {
			cfg.image = v;
		} else if (!strcmp(w, "root") && v && *v) {
			cfg.root = v;
		} else if (!strcmp(w, "rwimage") && v && *v) {
			cfg.rwimage = v;
		} else if (!strcmp(w, "timeout") && v) {
			seconds(w, v, &cfg.timeout);
		} else if (!strcmp(w, "ptimeout") && v) {
			seconds(w, v, &cfg.ptimeout);
		} else {
			err("warning: unknown option mklive.%s", w);
		}
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
		if (!strcmp(k, "id"))
			cfg.id = v;
		else if (!strcmp(k, "image"))
			cfg.image = v;
		else if (!strcmp(k, "kver"))
			cfg.kver = v;
		else if (!strcmp(k, "modules"))
			cfg.modules = v;
		else if (!strcmp(k, "format") && *v)
			cfg.format = v;
		else if (!strcmp(k, "fstype") && *v)
			cfg.fstype = v;
		else if (!strcmp(k, "root") && *v)
			cfg.root = v;
		else if (!strcmp(k, "rwimage") && *v)
			cfg.rwimage = v;
	}
}

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
	log_level = cfg.debug ? MKL_DEBUG : cfg.quiet ? MKL_ERR : MKL_INFO;

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
	/* then the disk and CD drivers that every controller's disks need:
	 * their modalias only comes once a controller has scanned its bus,
	 * and loaded then they stood between the disk and the medium search
	 * (35 ms from a USB stick under QEMU TCG, 100 ms with the host busy) */
	mod_load_name("sd_mod");
	mod_load_name("sr_mod");
	mod_load_list(cfg.modules);
	dbg("modules: %lu ms", now_ms() - t);

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
	if (cfg.shell) {
		info("mklive.shell: root ready on " MKL_NEWROOT "; exit the shell "
		     "to boot it");
		if (run_shell() < 0)
			err("mklive.shell: no shell (" RESCUE_SHELL ") in the initramfs");
	}
	switch_root(MKL_NEWROOT, cfg.init, argv);
	rescue();
}
