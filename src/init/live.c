/*
 * The live user and the system's settings, written into the new root
 * before the real init starts (issue 13; mklive.conf(5) [live],
 * mklive-init(7) mklive.user= ...).  What live-config does with scripts
 * inside the booted system, done here by writing ordinary files into the
 * writable layer: nothing in the tree is run.
 *
 * Each setting is a row of rows[]: its boot option, the rule its value
 * must follow (src/fmt/live.h, shared with the build) and what writes it.
 * Every path is opened with openat2(RESOLVE_IN_ROOT) below the new root,
 * so the tree's absolute links (symlink mode's /usr -> /ro/usr, merged
 * /usr's /lib -> usr/lib) resolve as they will in the booted system.
 * Files are replaced whole (a new file renamed over the old one, keeping
 * its owner and mode): with persistence a power cut leaves the old file
 * or the new one, never half of one.  Everything is done again on every
 * boot, except the user, created only when /etc/passwd lacks it: so a
 * persistent root stays as its user left it.  Nothing here stops the
 * boot: what cannot be done is a warning.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.h"
#include "../fmt/live.h"

static int root = -1;		/* the new root, O_PATH */

/* openat2(2) (Linux 5.6); musl 1.2 has no wrapper and no header for it */
struct how {
	uint64_t flags, mode, resolve;
};
#define RESOLVE_IN_ROOT 0x10

/* path (absolute) below the new root, its links resolved inside it */
static int ropen(const char *path, int flags)
{
	struct how h = { (uint64_t)(flags | O_CLOEXEC), flags & O_CREAT ? 0644 : 0,
			 RESOLVE_IN_ROOT };
	int fd = (int)syscall(437 /* SYS_openat2 */, root, path + 1, &h, sizeof(h));

	/* an older kernel: absolute links then lead outside, which only
	 * symlink mode's /usr has */
	if (fd < 0 && errno == ENOSYS)
		fd = openat(root, path + 1, flags | O_CLOEXEC, 0644);
	return fd;
}

static char *rread(const char *path)
{
	return read_fd(ropen(path, O_RDONLY));
}

/* the type of path (S_IFREG, S_IFDIR, ...), 0 when it is not there */
static unsigned rtype(const char *path)
{
	struct stat st;
	int fd = ropen(path, O_PATH);
	int r = fd >= 0 && !fstat(fd, &st);

	if (fd >= 0)
		close(fd);
	return r ? st.st_mode & S_IFMT : 0;
}

/* The directory that holds path, made (0755) where missing; its last
 * component in *base. */
static int parent(const char *path, const char **base)
{
	char buf[256], *s = buf, *c;
	int fd = dup(root), nfd;

	sfmt(buf, sizeof(buf), "%s", path);
	*base = strrchr(path, '/') + 1;
	while (fd >= 0 && (c = s + 1, s = strchr(c, '/'))) {
		*s = 0;
		mkdirat(fd, c, 0755);	/* EEXIST, or ropen says why */
		nfd = ropen(buf, O_PATH | O_DIRECTORY);
		*s = '/';
		close(fd);
		fd = nfd;
	}
	return fd;
}

static int fail(const char *what, const char *path)
{
	err("warning: cannot %s %s in the root: %s", what, path, errstr(errno));
	return -1;
}

/* Replace path with text (a new file renamed over it); an existing file's
 * owner and mode are kept, a new one gets mode and root's ownership. */
static int put(const char *path, const char *text, unsigned mode)
{
	const char *base;
	char tmp[80];
	struct stat st = { .st_mode = mode };
	size_t n = strlen(text);
	ssize_t w = 0;
	int dfd = parent(path, &base), fd = -1;

	if (dfd >= 0) {
		sfmt(tmp, sizeof(tmp), ".%s.mklive", base);
		if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode))
			st = (struct stat){ .st_mode = mode };
		unlinkat(dfd, tmp, 0);
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	}
	while (fd >= 0 && n && (w = write(fd, text, n)) > 0) {
		text += w;
		n -= w;
	}
	/* the *at calls: fchown and fchmod would bring more of musl */
	if (fd < 0 || w < 0 || close(fd) || fchownat(dfd, tmp, st.st_uid, st.st_gid, 0) ||
	    fchmodat(dfd, tmp, st.st_mode & 07777, 0) || renameat(dfd, tmp, dfd, base)) {
		fail("write", path);
		unlinkat(dfd, tmp, 0);
		n = 1;
	}
	if (dfd >= 0)
		close(dfd);
	return n ? -1 : 0;
}

/* Does line l set a key of lines ("KEY=value\n..." or "KEY\tvalue\n")? */
static int has_key(const char *l, const char *lines)
{
	size_t k;

	l += strspn(l, " \t");
	for (; *lines; lines += strcspn(lines, "\n") + 1) {
		k = strcspn(lines, "=\t");
		if (!strncmp(l, lines, k) && strchr(" \t=", l[k]))
			return 1;
	}
	return 0;
}

/*
 * text (freed) with the keys of lines set to theirs, the rest kept: in
 * section sec ("[name]"; NULL: a file without sections) each line that
 * sets one of those keys is dropped, and lines go right after the header,
 * or without sections where the first such line was; else at the end,
 * with the header.
 */
static char *set_keys(char *text, const char *sec, const char *lines)
{
	size_t n = strlen(text), ln = strlen(lines), sl = sec ? strlen(sec) : 0;
	char *out = malloc(n + ln + sl + 4), *o = out, *l, *e;
	int in = !sec, done = 0;

	for (l = text; out && *l; l = e) {
		e = l + strcspn(l, "\n");
		e += !!*e;
		if (*l == '[') {
			in = sec && !strncmp(l, sec, sl);
		} else if (in && has_key(l, lines)) {
			if (!done++)
				o = (char *)memcpy(o, lines, ln) + ln;
			continue;
		}
		memcpy(o, l, e - l);
		o += e - l;
		if (o[-1] != '\n')
			*o++ = '\n';
		if (in && !done && *l == '[')
			o = (char *)memcpy(o, lines, ln) + ln, done = 1;
	}
	if (out && !done) {
		if (sec)
			o += sfmt(o, sl + 2, "%s\n", sec);
		memcpy(o, lines, ln);
		o += ln;
	}
	if (out)
		*o = 0;
	free(text);
	return out;
}

/* set_keys on path's text (or dflt when it has none), written back */
static void edit(const char *path, const char *sec, const char *lines, const char *dflt)
{
	char *t = rread(path);

	if (!t && dflt)
		t = strdup(dflt);
	if (t && (t = set_keys(t, sec, lines)))
		put(path, t, 0644);
	free(t);
}

/* The line of passwd, group, shadow or gshadow text t for name, or NULL. */
static char *entry(char *t, const char *name)
{
	size_t n = strlen(name);

	for (; t && *t; t += strcspn(t, "\n"), t += !!*t)
		if (!strncmp(t, name, n) && t[n] == ':')
			return t;
	return NULL;
}

/* The third field (uid, gid) of an entry line */
static unsigned id_of(const char *l)
{
	unsigned v = 0;

	l = strchr(strchr(l, ':') + 1, ':') + 1;
	while (*l >= '0' && *l <= '9')
		v = v * 10 + *l++ - '0';
	return v;
}

static int id_used(char *t, unsigned id)
{
	for (; t && *t; t += strcspn(t, "\n"), t += !!*t)
		if (strchr(t, ':') && strchr(strchr(t, ':') + 1, ':') && id_of(t) == id)
			return 1;
	return 0;
}

/* t (freed) with more appended */
static char *append(char *t, const char *more)
{
	size_t n = strlen(t), m = strlen(more);
	char *o = malloc(n + m + 2);

	if (o) {
		memcpy(o, t, n);
		if (n && t[n - 1] != '\n')
			o[n++] = '\n';
		memcpy(o + n, more, m + 1);
	}
	free(t);
	return o;
}

/* t (freed) with user added to the members of group g, when it has it */
static char *member(char *t, const char *g, const char *user)
{
	char *l = entry(t, g), *o;
	size_t at, n;

	if (!l)
		return t;
	at = l - t + strcspn(l, "\n");
	n = strlen(t);
	o = malloc(n + strlen(user) + 2);
	if (o)
		sfmt(o, n + strlen(user) + 2, "%.*s%s%s%s", (int)at, t,
		     t[at - 1] == ':' ? "" : ",", user, t + at);
	free(t);
	return o;
}

/* the live user's supplementary groups, those the tree has: Debian's
 * live-config's list, and lpadmin, scanner, input, render */
static const char groups[] = "sudo\0audio\0video\0plugdev\0netdev\0cdrom\0floppy\0dip\0"
	"users\0bluetooth\0lpadmin\0scanner\0input\0render\0";

/* /etc/skel's contents into the new home, owned by the user */
static void skel(int sfd, int dfd, unsigned uid, unsigned gid)
{
	DIR *d = fdopendir(sfd);
	struct dirent *e;
	struct stat st;
	char t[256];
	ssize_t k;
	int s, o;

	while (d && (e = readdir(d))) {
		const char *n = e->d_name;

		if ((n[0] == '.' && (!n[1] || (n[1] == '.' && !n[2]))) ||
		    fstatat(sfd, n, &st, AT_SYMLINK_NOFOLLOW))
			continue;
		s = openat(sfd, n, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		o = -1;
		if (S_ISDIR(st.st_mode)) {
			mkdirat(dfd, n, 0700);
			o = openat(dfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (s >= 0 && o >= 0) {
				skel(s, o, uid, gid);
				s = o = -1;
			}
		} else if (S_ISREG(st.st_mode)) {
			o = openat(dfd, n, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
			while (s >= 0 && o >= 0 && sendfile(o, s, NULL, 1 << 20) > 0)
				;
		} else if (S_ISLNK(st.st_mode) && (k = readlinkat(sfd, n, t, sizeof(t) - 1)) > 0) {
			t[k] = 0;
			symlinkat(t, dfd, n);
		}
		if (s >= 0)
			close(s);
		if (o >= 0)
			close(o);
		fchownat(dfd, n, uid, gid, AT_SYMLINK_NOFOLLOW);
		if (!S_ISLNK(st.st_mode))
			fchmodat(dfd, n, st.st_mode & 07777, 0);
	}
	if (d)
		closedir(d);
	else
		close(sfd);
	close(dfd);
}

/*
 * The user as Debian's adduser makes one: uid and gid the first number
 * from 1000 free in both, a group of its own, shell bash (else sh), home
 * /home/USER (0700, as adduser's DIR_MODE in Debian 12) from /etc/skel.
 * The password is empty: a login without one on every console, as on a
 * live system anyone at the keyboard owns the machine anyway (ssh refuses
 * empty passwords). Returns 1 when made, 0 when the tree has it, -1.
 */
static int make_user(const char *u)
{
	char *pw = rread("/etc/passwd"), *gr = rread("/etc/group"), *sh = rread("/etc/shadow"),
	     *gs = rread("/etc/gshadow"), line[256], *g;
	const char *base;
	unsigned id = 1000, gid;
	int r = -1, hfd, sfd;

	if (!pw || !gr) {
		err("warning: no /etc/passwd or /etc/group in the root: no live user %s", u);
		goto out;
	}
	r = 0;
	if (entry(pw, u))
		goto out;
	while (id < 60000 && (id_used(pw, id) || id_used(gr, id)))
		id++;
	gid = (g = entry(gr, u)) ? id_of(g) : id;
	sfmt(line, sizeof(line), "%s:x:%u:%u:Live user,,,:/home/%s:%s\n", u, id, gid, u,
	     rtype("/bin/bash") ? "/bin/bash" : "/bin/sh");
	pw = append(pw, line);
	if (!g) {
		sfmt(line, sizeof(line), "%s:x:%u:\n", u, gid);
		gr = append(gr, line);
	}
	if (gs && !entry(gs, u)) {
		sfmt(line, sizeof(line), "%s:!::\n", u);
		gs = append(gs, line);
	}
	for (g = (char *)groups; *g; g += strlen(g) + 1) {
		gr = member(gr, g, u);
		gs = member(gs, g, u);
	}
	if (sh) {
		sfmt(line, sizeof(line), "%s::::::::\n", u);
		sh = append(sh, line);
	}
	/* passwd last: a user without its group or shadow line is none */
	r = -1;
	if (!gr || !pw || put("/etc/group", gr, 0644) ||
	    (gs && put("/etc/gshadow", gs, 0640)) || (sh && put("/etc/shadow", sh, 0640)) ||
	    put("/etc/passwd", pw, 0644))
		goto out;
	r = 1;
	sfmt(line, sizeof(line), "/home/%s", u);
	hfd = parent(line, &base);
	if (hfd < 0 || (mkdirat(hfd, base, 0700) && errno != EEXIST) ||
	    fchownat(hfd, base, id, gid, 0) || fchmodat(hfd, base, 0700, 0)) {
		fail("make", line);
	} else {
		sfd = ropen("/etc/skel", O_RDONLY | O_DIRECTORY);
		if (sfd >= 0)
			skel(sfd, openat(hfd, base, O_RDONLY | O_DIRECTORY | O_CLOEXEC), id, gid);
	}
	if (hfd >= 0)
		close(hfd);
	if (rtype("/usr/bin/sudo")) {
		sfmt(line, sizeof(line), "%s ALL=(ALL:ALL) NOPASSWD: ALL\n", u);
		put("/etc/sudoers.d/mklive-live", line, 0440);
	}
out:
	free(pw);
	free(gr);
	free(sh);
	free(gs);
	return r;
}

/* Where the user is logged in without a password, each only when the
 * program is installed: a systemd drop-in for agetty on tty1 and on the
 * serial consoles (ExecStart= emptied first: a service has one), and the
 * display managers' own settings. */
static const struct login {
	const char *needs, *file, *sec, *text;	/* text: %s is the user */
} logins[] = {
	{ "/lib/systemd/system/getty@.service",
	  "/etc/systemd/system/getty@tty1.service.d/mklive-autologin.conf", NULL,
	  "[Service]\nExecStart=\nExecStart=-/sbin/agetty -o '-p -f -- \\\\u' --noclear "
	  "--autologin %s - $TERM\n" },
	{ "/lib/systemd/system/serial-getty@.service",
	  "/etc/systemd/system/serial-getty@.service.d/mklive-autologin.conf", NULL,
	  "[Service]\nExecStart=\nExecStart=-/sbin/agetty -o '-p -f -- \\\\u' --keep-baud "
	  "--autologin %s 115200,57600,38400,9600 - $TERM\n" },
	{ "/usr/sbin/lightdm", "/etc/lightdm/lightdm.conf.d/50-mklive-autologin.conf", NULL,
	  "[Seat:*]\nautologin-user=%s\nautologin-user-timeout=0\n" },
	{ "/usr/sbin/gdm3", "/etc/gdm3/daemon.conf", "[daemon]",
	  "AutomaticLoginEnable=true\nAutomaticLogin=%s\n" },
	{ "/usr/bin/sddm", "/etc/sddm.conf.d/mklive-autologin.conf", NULL,
	  "[Autologin]\nUser=%s\n" },
	{ "/usr/sbin/lxdm", "/etc/lxdm/lxdm.conf", "[base]", "autologin=%s\n" },
};

static void user(const char *u, const struct init_cfg *c)
{
	char text[192];
	int made = make_user(u);

	if (made < 0)
		return;
	for (size_t i = 0; c->autologin && i < sizeof(logins) / sizeof(logins[0]); i++) {
		const struct login *l = &logins[i];

		if (!rtype(l->needs))
			continue;
		sfmt(text, sizeof(text), l->text, u);
		if (l->sec)
			edit(l->file, l->sec, text, "");
		else
			put(l->file, text, 0644);
	}
	info("live user %s: %s%s", u, made ? "added to the root" : "the root's",
	     c->autologin ? ", logged in automatically" : "");
}

static void hostname(const char *v, const struct init_cfg *c)
{
	char text[80];

	sfmt(text, sizeof(text), "%s\n", v);
	put("/etc/hostname", text, 0644);
	sfmt(text, sizeof(text), "127.0.1.1\t%s\n", v);
	edit("/etc/hosts", NULL, text, "127.0.0.1\tlocalhost\n");
}

static void locale(const char *v, const struct init_cfg *c)
{
	char text[96], *p;

	/* glibc's names for compiled locales: the codeset in lower case,
	 * without '-' (de_DE.utf8) */
	p = text + sfmt(text, sizeof(text), "/usr/lib/locale/");
	for (const char *s = v, *dot = NULL; *s; s++) {
		dot = *s == '.' ? s : *s == '@' ? NULL : dot;
		if (dot && s > dot && *s == '-')
			continue;
		*p++ = dot && s > dot && *s >= 'A' && *s <= 'Z' ? *s + 32 : *s;
	}
	*p = 0;
	if (strcmp(v, "C") && strcmp(v, "POSIX") && !rtype(text) &&
	    !rtype("/usr/lib/locale/locale-archive"))
		err("warning: locale %s is not compiled in the root (no %s or "
		    "locale-archive)", v, text);
	sfmt(text, sizeof(text), "LANG=%s\n", v);
	put("/etc/default/locale", text, 0644);
	put("/etc/locale.conf", text, 0644);
}

static void keyboard(const char *v, const struct init_cfg *c)
{
	size_t n = strcspn(v, "(");
	char text[128];

	sfmt(text, sizeof(text), "/usr/share/X11/xkb/symbols/%.*s", (int)n, v);
	if (rtype("/usr/share/X11/xkb/symbols") && rtype(text) != S_IFREG) {
		err("warning: unknown keyboard layout %.*s (not in the root's "
		    "/usr/share/X11/xkb/symbols): left as it was", (int)n, v);
		return;
	}
	sfmt(text, sizeof(text), "XKBLAYOUT=\"%.*s\"\nXKBVARIANT=\"%.*s\"\n", (int)n, v,
	     v[n] ? (int)strlen(v) - (int)n - 2 : 0, v + n + !!v[n]);
	/* Debian's console-setup reads it for the console too */
	edit("/etc/default/keyboard", NULL, text,
	     "XKBMODEL=\"pc105\"\nXKBLAYOUT=\"us\"\nXKBVARIANT=\"\"\nXKBOPTIONS=\"\"\n"
	     "BACKSPACE=\"guess\"\n");
	/* systemd-vconsole-setup's KEYMAP=, only where loadkeys has keymaps
	 * (not in Debian, where a missing one would fail the unit) */
	if (rtype("/usr/share/kbd/keymaps") || rtype("/usr/share/keymaps")) {
		sfmt(text, sizeof(text), "KEYMAP=%.*s\n", (int)n, v);
		edit("/etc/vconsole.conf", NULL, text, "");
	}
}

static void timezone(const char *v, const struct init_cfg *c)
{
	char target[96];
	const char *base;
	int dfd;

	sfmt(target, sizeof(target), "/usr/share/zoneinfo/%s", v);
	if (rtype(target) != S_IFREG) {
		err("warning: unknown time zone %s (no %s in the root): left as it was",
		    v, target);
		return;
	}
	dfd = parent("/etc/localtime", &base);
	unlinkat(dfd, ".localtime.mklive", 0);
	if (dfd < 0 || symlinkat(target, dfd, ".localtime.mklive") ||
	    renameat(dfd, ".localtime.mklive", dfd, base))
		fail("link", "/etc/localtime");
	if (dfd >= 0)
		close(dfd);
	sfmt(target, sizeof(target), "%s\n", v);
	put("/etc/timezone", target, 0644);
}

#define AT(field) offsetof(struct init_cfg, field)
static const struct row {
	char name[9];
	unsigned char kind;
	unsigned short at;
	void (*apply)(const char *v, const struct init_cfg *c);
} rows[] = {
	{ "user", MKL_LIVE_USER, AT(user), user },
	{ "hostname", MKL_LIVE_HOST, AT(hostname), hostname },
	{ "locale", MKL_LIVE_LOCALE, AT(locale), locale },
	{ "keyboard", MKL_LIVE_KEYBOARD, AT(keyboard), keyboard },
	{ "timezone", MKL_LIVE_TZ, AT(timezone), timezone },
};

void live_apply(const struct init_cfg *c, const char *newroot)
{
	root = open(newroot, O_PATH | O_DIRECTORY | O_CLOEXEC);
	for (size_t i = 0; root >= 0 && i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *v = *(const char *const *)((const char *)c + rows[i].at);

		if (!v || !*v)
			continue;
		if (mkl_live_ok(rows[i].kind, v))
			rows[i].apply(v, c);
		else
			err("warning: ignoring mklive.%s=%s: not a valid value",
			    rows[i].name, v);
	}
	if (root >= 0)
		close(root);
	root = -1;
}
