/* The init's live user and settings (src/init/live.c), compiled here with
 * the host's compiler and run on fake roots in a scratch directory: the
 * user's passwd, shadow, group and gshadow lines (groups the tree has
 * only), its home from /etc/skel with its ownership, sudo; each autologin
 * target only when its program is there (paths resolved inside the root:
 * its /lib is an absolute link); gdm3's file rewritten keeping the rest;
 * hostname and hosts, locale, keyboard, time zone; a second run (a
 * persistent root) changes nothing; unknown zone, layout and locale warn;
 * bad boot values are ignored; an empty root does not crash. Run as root
 * (the tests are): ownership is checked. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "t.h"

#include "init/live.c"

#include "../init-stubs.h"

static char top[256];

static void mk(const char *rel, const char *text, mode_t mode)
{
	char p[512], *s;
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", top, rel);
	for (s = p + strlen(top) + 1; (s = strchr(s, '/')); *s++ = '/') {
		*s = 0;
		mkdir(p, 0755);
	}
	f = fopen(p, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	chmod(p, mode);
}

static char *slurp(const char *rel)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", top, rel);
	return read_fd(open(p, O_RDONLY));
}

static int st(const char *rel, struct stat *s)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", top, rel);
	return lstat(p, s);
}

static int has_line(const char *rel, const char *line)
{
	char *t = slurp(rel), *l;
	size_t n = strlen(line);
	int found = 0;

	for (l = t; l && *l && !found; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l))
		found = !strncmp(l, line, n) && (l[n] == '\n' || !l[n]);
	free(t);
	return found;
}

/* live_apply on the root at top, its messages (stderr) into *out */
static void apply(struct init_cfg *c, char **out)
{
	char log[300];
	int fd, saved = dup(2);

	snprintf(log, sizeof(log), "%s.log", top);
	fd = open(log, O_RDWR | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 2);
	stub_quiet = 0;
	live_apply(c, top);
	stub_quiet = 1;
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	lseek(fd, 0, SEEK_SET);
	*out = read_fd(fd);
	if (!*out)
		*out = strdup("(no log)");
}

static const char gdm[] = "# GDM configuration storage\n\n[daemon]\n# Uncomment the line below "
	"to force the login screen to use Xorg\n#WaylandEnable=false\nAutomaticLogin=old\n\n"
	"[security]\nAutomaticLogin=keep\n";

static void full_root(void)
{
	mk("etc/passwd", "root:x:0:0:root:/root:/bin/bash\nold:x:1000:1000::/home/old:/bin/sh\n", 0644);
	mk("etc/group", "root:x:0:\nsudo:x:27:\naudio:x:29:old\nvideo:x:44:\nold:x:1000:\n"
	   "users:x:100:\n", 0644);
	mk("etc/shadow", "root::19000:0:99999:7:::\nold:*:19000:0:99999:7:::\n", 0640);
	chown(strcat(strcpy((char[300]){ 0 }, top), "/etc/shadow"), 0, 42);
	mk("etc/gshadow", "root:*::\nsudo:*::\naudio:*::old\n", 0640);
	mk("etc/skel/.bashrc", "# bashrc\n", 0644);
	mk("etc/skel/.config/app/rc", "x=1\n", 0600);
	mk("etc/hosts", "127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n::1\tip6-localhost\n", 0644);
	mk("bin/bash", "", 0755);
	mk("usr/bin/sudo", "", 0755);
	/* merged /usr, /lib an absolute link: found only when resolved inside */
	mk("usr/lib/systemd/system/getty@.service", "[Service]\n", 0644);
	mk("usr/sbin/lightdm", "", 0755);
	mk("usr/sbin/gdm3", "", 0755);
	mk("etc/gdm3/daemon.conf", gdm, 0644);
	mk("usr/sbin/lxdm", "", 0755);
	mk("usr/share/zoneinfo/Europe/Berlin", "TZif", 0644);
	mk("usr/share/X11/xkb/symbols/de", "", 0644);
	mk("usr/lib/locale/C.utf8/LC_CTYPE", "", 0644);
}

int main(void)
{
	struct init_cfg c = { .user = "live", .autologin = 1, .hostname = "box",
			      .locale = "de_DE.UTF-8", .keyboard = "de(nodeadkeys)",
			      .timezone = "Europe/Berlin" };
	char link[300], lt[256], *log, *before[8], *t;
	static const char *const files[] = { "etc/passwd", "etc/group", "etc/shadow", "etc/gshadow",
		"etc/hosts", "etc/gdm3/daemon.conf", "etc/default/keyboard", "etc/lxdm/lxdm.conf" };
	struct stat s;
	ssize_t n;

	if (geteuid() != 0) {
		T_SKIP("not root: the user's files cannot be given to it");
		return t_done();
	}
	snprintf(top, sizeof(top), "/tmp/mklive-live-XXXXXX");
	if (!mkdtemp(top))
		return 1;
	full_root();
	snprintf(link, sizeof(link), "%s/lib", top);
	symlink("/usr/lib", link);
	apply(&c, &log);

	/* the user */
	T_OK(has_line("etc/passwd", "live:x:1001:1001:Live user,,,:/home/live:/bin/bash"),
	     "passwd: first free id from 1000 (1000 taken), bash");
	T_OK(has_line("etc/passwd", "old:x:1000:1000::/home/old:/bin/sh"), "other lines kept");
	T_OK(has_line("etc/group", "live:x:1001:"), "its own group");
	T_OK(has_line("etc/group", "sudo:x:27:live"), "added to sudo");
	T_OK(has_line("etc/group", "audio:x:29:old,live"), "added to audio after old");
	T_OK(has_line("etc/group", "users:x:100:live"), "and users");
	t = slurp("etc/group");
	T_OK(t && !strstr(t, "netdev") && !strstr(t, "plugdev"), "no group the tree lacks: %s", t);
	free(t);
	T_OK(has_line("etc/shadow", "live::::::::"), "shadow: an empty password");
	T_OK(!st("etc/shadow", &s) && (s.st_mode & 07777) == 0640 && s.st_gid == 42,
	     "shadow keeps its mode and group (%o %u)", s.st_mode & 07777, (unsigned)s.st_gid);
	T_OK(has_line("etc/gshadow", "live:!::") && has_line("etc/gshadow", "sudo:*::live") &&
	     has_line("etc/gshadow", "audio:*::old,live"), "gshadow: its group and memberships");
	T_OK(!st("home/live", &s) && S_ISDIR(s.st_mode) && (s.st_mode & 0777) == 0700 &&
	     s.st_uid == 1001 && s.st_gid == 1001, "home 0700, the user's");
	t = slurp("home/live/.bashrc");
	T_OK(t && !strcmp(t, "# bashrc\n"), "skel's .bashrc copied");
	free(t);
	T_OK(!st("home/live/.bashrc", &s) && s.st_uid == 1001 && (s.st_mode & 0777) == 0644,
	     ".bashrc the user's, 0644");
	T_OK(!st("home/live/.config/app/rc", &s) && s.st_uid == 1001 && s.st_gid == 1001 &&
	     (s.st_mode & 0777) == 0600, "nested skel file the user's, its mode kept");
	T_OK(!st("home/live/.config", &s) && s.st_uid == 1001, "skel directory the user's");
	T_OK(has_line("etc/sudoers.d/mklive-live", "live ALL=(ALL:ALL) NOPASSWD: ALL") &&
	     !st("etc/sudoers.d/mklive-live", &s) && (s.st_mode & 0777) == 0440,
	     "sudo without a password, 0440");
	/* autologin: each where installed */
	T_OK(has_line("etc/systemd/system/getty@tty1.service.d/mklive-autologin.conf",
		      "ExecStart=") &&
	     has_line("etc/systemd/system/getty@tty1.service.d/mklive-autologin.conf",
		      "ExecStart=-/sbin/agetty -o '-p -f -- \\\\u' --noclear --autologin live - $TERM"),
	     "tty1: ExecStart emptied, agetty --autologin live (through /lib -> /usr/lib)");
	T_OK(st("etc/systemd/system/serial-getty@.service.d", &s) && errno == ENOENT,
	     "no serial-getty@.service in the root: no drop-in (the host's not looked at)");
	T_OK(has_line("etc/lightdm/lightdm.conf.d/50-mklive-autologin.conf", "autologin-user=live") &&
	     has_line("etc/lightdm/lightdm.conf.d/50-mklive-autologin.conf", "[Seat:*]"), "lightdm");
	t = slurp("etc/gdm3/daemon.conf");
	T_EQ_STR(t, "# GDM configuration storage\n\n[daemon]\nAutomaticLoginEnable=true\n"
		 "AutomaticLogin=live\n# Uncomment the line below to force the login screen to use "
		 "Xorg\n#WaylandEnable=false\n\n[security]\nAutomaticLogin=keep\n");
	free(t);
	T_OK(st("etc/sddm.conf.d", &s) && errno == ENOENT, "no sddm: no sddm file");
	t = slurp("etc/lxdm/lxdm.conf");
	T_EQ_STR(t, "[base]\nautologin=live\n");
	free(t);
	/* the system's settings */
	t = slurp("etc/hostname");
	T_EQ_STR(t, "box\n");
	free(t);
	t = slurp("etc/hosts");
	T_EQ_STR(t, "127.0.0.1\tlocalhost\n127.0.1.1\tbox\n::1\tip6-localhost\n");
	free(t);
	T_OK(has_line("etc/default/locale", "LANG=de_DE.UTF-8") &&
	     has_line("etc/locale.conf", "LANG=de_DE.UTF-8"), "locale files");
	T_OK(strstr(log, "warning: locale de_DE.UTF-8 is not compiled in the root (no "
			   "/usr/lib/locale/de_DE.utf8 or locale-archive)"),
	     "an uncompiled locale warns: %s", log);
	t = slurp("etc/default/keyboard");
	T_EQ_STR(t, "XKBMODEL=\"pc105\"\nXKBLAYOUT=\"de\"\nXKBVARIANT=\"nodeadkeys\"\n"
		 "XKBOPTIONS=\"\"\nBACKSPACE=\"guess\"\n");
	free(t);
	T_OK(st("etc/vconsole.conf", &s), "no kbd keymaps in the root: no vconsole.conf");
	n = readlink(strcat(strcpy((char[300]){ 0 }, top), "/etc/localtime"), lt, sizeof(lt) - 1);
	lt[n > 0 ? n : 0] = 0;
	T_EQ_STR(lt, "/usr/share/zoneinfo/Europe/Berlin");
	t = slurp("etc/timezone");
	T_EQ_STR(t, "Europe/Berlin\n");
	free(t);
	T_OK(strstr(log, "live user live: added to the root, logged in automatically"),
	     "the console says so: %s", log);
	T_OK(!strstr(log, "cannot"), "no failure: %s", log);
	free(log);

	/* a second boot on the same (persistent) root: the same files */
	for (size_t i = 0; i < 8; i++)
		before[i] = slurp(files[i]);
	apply(&c, &log);
	for (size_t i = 0; i < 8; i++) {
		t = slurp(files[i]);
		T_OK(t && before[i] && !strcmp(t, before[i]), "second run: %s unchanged", files[i]);
		free(t);
		free(before[i]);
	}
	T_OK(strstr(log, "live user live: the root's"), "second run: the user is there: %s",
	     log);
	free(log);

	/* unknown zone and layout: warnings, the files left; a bad boot value */
	c = (struct init_cfg){ .user = "Bad:User", .timezone = "Mars/Olympus", .keyboard = "xx",
			       .hostname = "-bad", .locale = "C" };
	apply(&c, &log);
	T_OK(strstr(log, "warning: unknown time zone Mars/Olympus"), "unknown zone warns: %s",
	     log);
	T_OK(strstr(log, "warning: unknown keyboard layout xx"), "unknown layout warns");
	T_OK(strstr(log, "ignoring mklive.user=Bad:User") &&
	     strstr(log, "ignoring mklive.hostname=-bad"), "bad values ignored");
	T_OK(!strstr(log, "locale"), "C needs no compiled locale");
	n = readlink(strcat(strcpy((char[300]){ 0 }, top), "/etc/localtime"), lt, sizeof(lt) - 1);
	lt[n > 0 ? n : 0] = 0;
	T_EQ_STR(lt, "/usr/share/zoneinfo/Europe/Berlin");
	T_OK(has_line("etc/default/keyboard", "XKBLAYOUT=\"de\""), "keyboard left as it was");
	T_OK(has_line("etc/hostname", "box"), "hostname left as it was");
	free(log);

	/* an empty root: no user (said), the rest written; autologin off */
	snprintf(lt, sizeof(lt), "rm -rf '%s' '%s.log'", top, top);
	T_OK(system(lt) == 0, "scratch removed");
	T_OK(mkdir(top, 0755) == 0, "empty root");
	c = (struct init_cfg){ .user = "live", .hostname = "box", .timezone = "UTC" };
	mk("usr/lib/systemd/system/getty@.service", "", 0644);
	mk("etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0644);
	mk("etc/group", "root:x:0:\n", 0644);
	apply(&c, &log);
	T_OK(has_line("etc/passwd", "live:x:1000:1000:Live user,,,:/home/live:/bin/sh"),
	     "no bash: sh; no shadow file: none made");
	T_OK(st("etc/shadow", &s) && st("etc/gshadow", &s), "no shadow or gshadow made");
	T_OK(!st("home/live", &s) && s.st_uid == 1000, "home made without a skel");
	T_OK(st("etc/systemd/system/getty@tty1.service.d", &s), "autologin off: no drop-in");
	T_OK(strstr(log, "live user live: added to the root") && !strstr(log, "logged in"),
	     "said: %s", log);
	T_OK(has_line("etc/hosts", "127.0.1.1\tbox") && has_line("etc/hosts", "127.0.0.1\tlocalhost"),
	     "hosts made");
	free(log);
	snprintf(lt, sizeof(lt), "rm -rf '%s'/* ", top);
	T_OK(system(lt) == 0, "emptied");
	c = (struct init_cfg){ .user = "live", .autologin = 1, .hostname = "box" };
	apply(&c, &log);
	T_OK(strstr(log, "no /etc/passwd or /etc/group in the root: no live user live"),
	     "no passwd: said, no user: %s", log);
	T_OK(has_line("etc/hostname", "box"), "the directories a file needs are made");
	free(log);
	snprintf(lt, sizeof(lt), "rm -rf '%s' '%s.log'", top, top);
	T_OK(system(lt) == 0, "scratch removed");
	return t_done();
}
