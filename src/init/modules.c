/*
 * Kernel modules: load what the hardware asks for.
 *
 * The initramfs holds a filtered /lib/modules/<kver> with modules.dep and
 * modules.alias in the usual depmod formats.  A device's modalias (from the
 * sysfs "modalias" files at coldplug, from MODALIAS= in uevents afterwards) is
 * matched against every alias pattern with glob rules, and each matching
 * module is loaded with its dependencies through finit_module(2).  Loading a
 * host driver creates new devices (a SCSI disk behind an AHCI port, a USB
 * stick behind xHCI), whose uevents load the next drivers.
 *
 * Modules needed only once the image is mounted (the filesystems of a
 * persistence medium) are not in the initramfs: mod_add_tree() adds the
 * image's own modules.dep to the table, and they load from there.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "init.h"

#ifndef MODULE_INIT_COMPRESSED_FILE
#define MODULE_INIT_COMPRESSED_FILE 4
#endif
#ifndef NETLINK_KOBJECT_UEVENT
#define NETLINK_KOBJECT_UEVENT 15
#endif

/* <linux/netlink.h> is not part of musl's headers */
struct nl_addr {
	sa_family_t nl_family;
	unsigned short nl_pad;
	uint32_t nl_pid;
	uint32_t nl_groups;
};

enum { MOD_NEW, MOD_LOADING, MOD_OK, MOD_FAILED };

struct mod {
	char *path;	/* relative to /lib/modules/<kver> */
	int dir;	/* that directory: the initramfs's or the image's */
	char *deps;	/* space separated paths, load right to left */
	char name[56];	/* basename without .ko*, '-' as '_' */
	int state;
};

struct alias {
	const char *pattern;
	const char *module;
	size_t fixed;	/* length of the pattern before its first wildcard */
};

static struct mod *mods;
static size_t nmods, capmods;
static const char *modkver;
static struct alias *aliases;
static size_t naliases;
static int moddir = -1;

/* module names use '-' and '_' interchangeably; compare with '_' */
static void mod_name(char *out, size_t size, const char *in, size_t len)
{
	size_t i;

	if (len >= size)
		len = size - 1;
	for (i = 0; i < len; i++)
		out[i] = in[i] == '-' ? '_' : in[i];
	out[len] = 0;
}

static void parse_dep(char *buf, int dir)
{
	char *line, *next, *colon, *base, *dot;

	for (line = buf; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		colon = strchr(line, ':');
		if (!colon || *line == '#')
			continue;
		*colon = 0;
		if (nmods == capmods) {
			struct mod *n;

			n = realloc(mods, (capmods ? capmods * 2 : 64) * sizeof(*mods));
			if (!n)
				return;
			mods = n;
			capmods = capmods ? capmods * 2 : 64;
		}
		struct mod *m = &mods[nmods++];

		m->path = line;
		m->dir = dir;
		m->deps = colon + 1;
		m->state = MOD_NEW;
		base = strrchr(line, '/');
		base = base ? base + 1 : line;
		for (dot = base; *dot && strncmp(dot, ".ko", 3); dot++)
			;
		mod_name(m->name, sizeof(m->name), base, dot - base);
	}
}

static void parse_alias(char *buf)
{
	char *line, *next, *pat, *mod, *end;
	size_t cap = 0;

	for (line = buf; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if (strncmp(line, "alias ", 6))
			continue;
		pat = line + 6;
		while (*pat == ' ')
			pat++;
		mod = strchr(pat, ' ');
		if (!mod)
			continue;
		*mod++ = 0;
		while (*mod == ' ')
			mod++;
		end = mod + strcspn(mod, " \t\r");
		*end = 0;
		if (!*mod)
			continue;
		if (naliases == cap) {
			struct alias *n;

			cap = cap ? cap * 2 : 256;
			n = realloc(aliases, cap * sizeof(*aliases));
			if (!n)
				return;
			aliases = n;
		}
		aliases[naliases].pattern = pat;
		aliases[naliases].module = mod;
		aliases[naliases].fixed = strcspn(pat, "*?[\\");
		naliases++;
	}
}

void mod_init(const char *kver)
{
	char path[160];
	char *dep, *alias;

	modkver = kver;
	sfmt(path, sizeof(path), "/lib/modules/%s", kver);
	moddir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	sfmt(path, sizeof(path), "/lib/modules/%s/modules.dep", kver);
	dep = read_file(path);
	if (dep)
		parse_dep(dep, moddir);
	sfmt(path, sizeof(path), "/lib/modules/%s/modules.alias", kver);
	alias = read_file(path);
	if (alias)
		parse_alias(alias);
	if (moddir < 0 || !dep)
		err("warning: no /lib/modules/%s/modules.dep in the initramfs "
		    "(kernel %s?): loading no modules", kver, kver);
	dbg("%zu modules, %zu aliases in /lib/modules/%s", nmods, naliases, kver);
}

/*
 * Add the modules of the tree at root (the mounted image): its
 * lib/modules/<kver>/modules.dep, or usr/lib/... when lib is an absolute
 * link.  Names found in the initramfs keep their entries there.  Once.
 */
void mod_add_tree(const char *root)
{
	static const char *const sub[] = { "lib", "usr/lib" };
	static int done;
	char path[200], *dep = NULL;
	size_t before = nmods;
	int dir = -1, i;

	if (done++ || !modkver)
		return;
	for (i = 0; i < 2 && !dep; i++) {
		sfmt(path, sizeof(path), "%s/%s/modules/%s", root, sub[i], modkver);
		dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dir < 0)
			continue;
		sfmt(path, sizeof(path), "%s/%s/modules/%s/modules.dep", root, sub[i],
		     modkver);
		dep = read_file(path);
		if (!dep)
			close(dir);
	}
	if (!dep) {
		dbg("no lib/modules/%s/modules.dep in %s", modkver, root);
		return;
	}
	parse_dep(dep, dir);
	dbg("%zu more modules from %s", nmods - before, path);
}

/* Read buffers stay allocated: the table points into them. */
void mod_close(void)
{
	size_t i;

	for (i = 0; i < nmods; i++)
		if (mods[i].dir != moddir && mods[i].dir >= 0) {
			close(mods[i].dir);	/* the image's, one for all */
			break;
		}
	if (moddir >= 0)
		close(moddir);
	moddir = -1;
}

/* Module parameters from the kernel command line ("usb_storage.delay_use=0"):
 * the kernel leaves them to whoever loads the module, as modprobe does. */
#define MAX_PARAMS 32
static struct {
	char mod[64];
	const char *param;	/* "delay_use=0", points into the command line */
} params[MAX_PARAMS];
static size_t nparams;

void mod_param(const char *word, const char *value)
{
	const char *dot = strchr(word, '.');

	if (!dot || dot == word || !dot[1] || nparams == MAX_PARAMS)
		return;
	mod_name(params[nparams].mod, sizeof(params[nparams].mod), word, (size_t)(dot - word));
	/* the caller split "name.p=v" at '='; glue it back for the kernel */
	if (value)
		((char *)value)[-1] = '=';
	params[nparams++].param = dot + 1;
}

static void params_for(const char *name, char *out, size_t size)
{
	size_t n = 0, l;

	out[0] = 0;
	for (size_t i = 0; i < nparams; i++) {
		if (strcmp(params[i].mod, name))
			continue;
		l = strlen(params[i].param);
		if (n + l + 2 > size)
			break;
		if (n)
			out[n++] = ' ';
		memcpy(out + n, params[i].param, l + 1);
		n += l;
	}
}

/* Did the command line give module name the parameter starting with p? */
static int has_param(const char *name, const char *p)
{
	for (size_t i = 0; i < nparams; i++)
		if (!strcmp(params[i].mod, name) &&
		    !strncmp(params[i].param, p, strlen(p)))
			return 1;
	return 0;
}

static struct mod *find_name(const char *name)
{
	char n[56];
	size_t i;

	mod_name(n, sizeof(n), name, strlen(name));
	for (i = 0; i < nmods; i++)
		if (!strcmp(mods[i].name, n))
			return &mods[i];
	return NULL;
}

static struct mod *find_path(const char *path, size_t len)
{
	size_t i;

	for (i = 0; i < nmods; i++)
		if (!strncmp(mods[i].path, path, len) && !mods[i].path[len])
			return &mods[i];
	return NULL;
}

static int compressed(const char *path)
{
	size_t n = strlen(path);

	return (n > 3 && !strcmp(path + n - 3, ".xz")) ||
	       (n > 4 && !strcmp(path + n - 4, ".zst")) ||
	       (n > 3 && !strcmp(path + n - 3, ".gz"));
}

static void load(struct mod *m)
{
	char args[512], *end, *tok;
	struct mod *d;
	int fd, r;

	if (m->state != MOD_NEW)
		return;
	m->state = MOD_LOADING;
	/* modules.dep lists every dependency, the deepest last */
	end = m->deps + strlen(m->deps);
	while (end > m->deps) {
		while (end > m->deps && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		tok = end;
		while (tok > m->deps && tok[-1] != ' ' && tok[-1] != '\t')
			tok--;
		if (tok < end) {
			d = find_path(tok, end - tok);
			if (d)
				load(d);
			else
				dbg("%s: dependency %.*s missing", m->name,
				    (int)(end - tok), tok);
		}
		end = tok;
	}
	fd = openat(m->dir, m->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		m->state = MOD_FAILED;
		dbg("cannot open module %s: %s", m->path, errstr(errno));
		return;
	}
	/* async_probe: the module loader's own parameter (any module takes
	 * it). A driver's probe of its hardware (ata_piix resetting its ports:
	 * a quarter second) then runs in the background instead of inside
	 * finit_module, so several controllers probe at once while we go on;
	 * the devices they find arrive as uevents, which we wait for anyway. */
	memcpy(args, "async_probe=1", 14);
	params_for(m->name, args + 14, sizeof(args) - 14);
	if (!strcmp(m->name, "usb_storage") && !has_param(m->name, "delay_use")) {
		/* no settle time unless a device needs it (usb.c) */
		size_t l = strlen(args + 14);

		sfmt(args + 14 + l, sizeof(args) - 14 - l, "%sdelay_use=0", l ? " " : "");
		usb_fast_scan();
	}
	if (args[14]) {
		args[13] = ' ';
		dbg("%s: parameters %s", m->name, args + 14);
	}
	r = syscall(SYS_finit_module, fd, args,
		    compressed(m->path) ? MODULE_INIT_COMPRESSED_FILE : 0);
	if (r == 0 || errno == EEXIST) {
		m->state = MOD_OK;
		dbg("loaded %s%s", m->name, r ? " (already there)" : "");
	} else {
		m->state = MOD_FAILED;
		dbg("cannot load %s: %s", m->name, errstr(errno));
	}
	close(fd);
}

void mod_load_name(const char *name)
{
	struct mod *m = find_name(name);

	if (m)
		load(m);
	else
		dbg("module %s: not in the initramfs (built in?)", name);
}

/* Did the init load module name (1), or not (0: not yet, failed, built in)? */
int mod_loaded(const char *name)
{
	struct mod *m = find_name(name);

	return m && m->state == MOD_OK;
}

void mod_load_list(char *names)
{
	char *p, *save = NULL;

	if (!names)
		return;
	for (p = strtok_r(names, " \t,", &save); p; p = strtok_r(NULL, " \t,", &save))
		mod_load_name(p);
}

/*
 * [set] at p against c: 1 or 0, with *end past the ']'; -1 if the set is
 * not closed (then '[' is an ordinary character, as in fnmatch).
 */
static int match_set(const char *p, char c, const char **end)
{
	const char *start;
	int neg = 0, ok = 0;
	char lo, hi;

	p++;
	if (*p == '!' || *p == '^') {
		neg = 1;
		p++;
	}
	start = p;
	while (*p && (*p != ']' || p == start)) {
		if (*p == '\\' && p[1])
			p++;
		lo = hi = *p++;
		if (p[0] == '-' && p[1] && p[1] != ']') {
			hi = p[1];
			p += 2;
		}
		if (c >= lo && c <= hi)
			ok = 1;
	}
	if (*p != ']')
		return -1;
	*end = p + 1;
	return ok != neg;
}

/*
 * fnmatch(pattern, s, 0) for the ASCII patterns of modules.alias: '*', '?',
 * [sets] with ranges and '!' or '^', backslash escapes.  musl's fnmatch
 * brings wide character tables three times its own size.  A mismatch after
 * a '*' retries with that star taking one more character, which is
 * complete for patterns without FNM_PATHNAME.
 */
static int glob_match(const char *p, const char *s)
{
	const char *star = NULL, *retry = NULL, *q;
	int m;

	while (*s) {
		if (*p == '*') {
			star = ++p;
			retry = s;
			continue;
		}
		if (*p == '?') {
			m = 1;
			q = p + 1;
		} else if (*p != '[' || (m = match_set(p, *s, &q)) < 0) {
			q = p;
			if (*q == '\\' && q[1])
				q++;
			m = *q == *s;
			q++;
		}
		if (m) {
			p = q;
			s++;
		} else if (star) {
			p = star;
			s = ++retry;
		} else {
			return 0;
		}
	}
	while (*p == '*')
		p++;
	return !*p;
}

static void load_alias(const char *modalias)
{
	size_t i;

	for (i = 0; i < naliases; i++) {
		const struct alias *a = &aliases[i];

		if (strncmp(a->pattern, modalias, a->fixed))
			continue;
		if (!glob_match(a->pattern, modalias))
			continue;
		struct mod *m = find_name(a->module);

		if (m && m->state == MOD_NEW) {
			dbg("%s -> %s", modalias, m->name);
			load(m);
		}
	}
}

/* Depth-first over /sys/devices, not following symlinks. */
static void walk(int dfd, int depth)
{
	char alias[512];	/* dmi: aliases run to 300 characters */
	struct dirent *e;
	DIR *d;
	int sub;

	if (!read_attr(dfd, "modalias", alias, sizeof(alias)) && alias[0])
		load_alias(alias);
	if (depth > 24)
		return;
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return;
	}
	while ((e = readdir(d))) {
		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		sub = openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub >= 0)
			walk(sub, depth + 1);
	}
	closedir(d);
}

void mod_coldplug(void)
{
	int fd = open("/sys/devices", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0)
		walk(fd, 0);
}

/*
 * Kernel uevents, opened before the first coldplug walk so that no device
 * added while walking is missed.  A big receive buffer rides out the bursts
 * of a driver probing many devices; if it overflows anyway, walk again.
 */
int uevent_open(void)
{
	struct nl_addr a = { .nl_family = AF_NETLINK, .nl_groups = 1 };
	int size = 4 << 20;
	int fd;

	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    NETLINK_KOBJECT_UEVENT);
	if (fd < 0) {
		err("warning: no uevent socket: %s", errstr(errno));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		err("warning: cannot bind the uevent socket: %s", errstr(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Read every pending uevent and load the modules their MODALIAS asks for.
 * Returns how many concerned block devices, so the caller knows to look.
 */
int uevent_handle(int fd)
{
	char buf[8192];
	struct nl_addr from;
	struct iovec iov = { buf, sizeof(buf) - 1 };
	struct msghdr mh = {
		.msg_name = &from, .msg_namelen = sizeof(from),
		.msg_iov = &iov, .msg_iovlen = 1,
	};
	int block = 0, overflow = 0;
	const char *action, *alias, *subsys;
	ssize_t n;
	char *p;

	if (fd < 0)
		return 0;
	for (;;) {
		mh.msg_namelen = sizeof(from);
		n = recvmsg(fd, &mh, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				overflow = 1;
				continue;
			}
			break;
		}
		if (from.nl_pid != 0 || n == 0)
			continue;	/* only the kernel speaks here */
		buf[n] = 0;
		action = alias = subsys = "";
		for (p = buf; p < buf + n; p += strlen(p) + 1) {
			if (!strncmp(p, "ACTION=", 7))
				action = p + 7;
			else if (!strncmp(p, "MODALIAS=", 9))
				alias = p + 9;
			else if (!strncmp(p, "SUBSYSTEM=", 10))
				subsys = p + 10;
		}
		if (!strcmp(action, "add") && *alias)
			load_alias(alias);
		if (!strcmp(subsys, "block"))
			block++;
	}
	if (overflow) {
		dbg("uevent buffer overflowed: walking /sys/devices again");
		mod_coldplug();
		block++;
	}
	return block;
}
