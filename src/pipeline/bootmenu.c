/* Boot menus. Every menu has the same entries, boots the default by itself
 * after the timeout, and shows on the screen and on the first serial port. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/build.h"

/* Every entry: the kernel and the init talk on the screen and on the first
 * serial port (tty0 last, so /dev/console is the screen for the real init;
 * mklive-init writes to every console). --append console=... after these
 * picks another /dev/console. `mklive test` reads the serial port. */
#define CONSOLES "console=ttyS0,115200 console=tty0"

/* The entries every menu shows: the label's suffix and extra arguments. */
static const struct {
	const char *id, *title, *args;
} entries[] = {
	{ "live", "", "" },
	{ "debug", " (debug: verbose init, kernel messages)", "mklive.debug ignore_loglevel" },
	{ "toram", " (toram: image copied into RAM, the medium may be removed)", "toram" },
	{ "persistence", " (persistence: changes kept on the filesystem labelled persistence)",
	  "persistence" },
	{ "luks", " (persistence, encrypted: a passphrase, asked at every boot)", "persistence=luks" },
};

/* A menu in one loader's syntax (isolinux; GRUB when id is given: it
 * finds the medium by a file named after the build's ID, so another live
 * medium plugged in is never taken; GRUB's loopback.cfg when id is ""),
 * with every entry. */
static char *menu(const char *label, const char *append, int timeout, const char *id)
{
	/* loopback.cfg, the multi-ISO convention: the caller did `loopback
	 * loop $iso_path` and `set root=(loop)`; the init finds the file */
	const char *iso = id && !id[0] ? " findiso=${iso_path}" : "";
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	if (iso[0])
		fprintf(f, "# %s as a file on a disk (GRUB: loopback loop $iso_path;\n"
			   "# set root=(loop); configfile /boot/grub/loopback.cfg)\n"
			   "set default=0\n"
			   "set timeout=%d\n", label, timeout);
	else if (id)
		fprintf(f, "search --no-floppy --set=root --file /.disk/%s\n"
			   "set prefix=($root)/boot/grub\n"
			   "serial --unit=0 --speed=115200\n"
			   "terminal_input console serial\n"
			   "terminal_output console serial\n"
			   "set default=0\n"
			   "set timeout=%d\n"
			   "set timeout_style=menu\n", id, timeout);
	else	/* syslinux counts in tenths of a second; 0 would mean "wait forever". */
		fprintf(f, "SERIAL 0 115200\n"
			   "UI menu.c32\n"
			   "DEFAULT live\n"
			   "PROMPT 0\n"
			   "TIMEOUT %d\n"
			   "MENU TITLE %s (boots the first entry in %d s)\n",
			timeout > 0 ? timeout * 10 : 1, label, timeout);
	for (size_t i = 0; i < sizeof(entries) / sizeof(entries[0]); i++) {
		const char *sep = entries[i].args[0] ? " " : "", *asep = append && append[0] ? " " : "";

		if (id)
			fprintf(f, "\nmenuentry '%s%s' {\n"
				   "\tlinux /live/vmlinuz%s " CONSOLES "%s%s%s%s\n"
				   "\tinitrd /live/initrd.img\n}\n",
				label, entries[i].title, iso, sep, entries[i].args, asep, append ? append : "");
		else
			fprintf(f, "\nLABEL %s\n  MENU LABEL %s%s\n  KERNEL /live/vmlinuz\n"
				   "  APPEND initrd=/live/initrd.img " CONSOLES "%s%s%s%s\n",
				entries[i].id, label, entries[i].title, sep, entries[i].args, asep,
				append ? append : "");
	}
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

char *mkl_isolinux_cfg(const char *label, const char *append, int timeout)
{
	return menu(label, append, timeout, NULL);
}

char *mkl_grub_cfg(const char *label, const char *append, int timeout, const char *id)
{
	return menu(label, append, timeout, id);
}

size_t mkl_menu_count(void)
{
	return sizeof(entries) / sizeof(entries[0]);
}

/* Entry i's id, title and whole kernel command line, as every menu above
 * gives it (the signed UKI takes the default's from here). */
char *mkl_menu_entry(size_t i, const char *append, const char **id, const char **title)
{
	char *s;

	if (i >= mkl_menu_count())
		return NULL;
	*id = entries[i].id;
	*title = entries[i].title;
	if (asprintf(&s, CONSOLES "%s%s%s%s", entries[i].args[0] ? " " : "", entries[i].args,
		     append && append[0] ? " " : "", append ? append : "") < 0)
		return NULL;
	return s;
}

/* The signed path (pipeline/uki.c): one signed UKI with the default
 * entry's command line, and systemd-boot's menu of type #1 entries that
 * all start it. systemd-boot tells which one it started (the EFI variable
 * LoaderEntrySelected: the entry's file name, lower case), and the init
 * adds that entry's arguments from the table below, which is in the
 * initramfs's /mklive.conf and so signed with it. Row 0, the default, adds
 * nothing: the others add their arguments to its command line. */

/* Entry i's file name in loader/entries, which is also its id. */
int mkl_sdboot_entry_name(size_t i, char *buf, size_t size)
{
	if (i >= mkl_menu_count())
		return -1;
	snprintf(buf, size, "mklive-%s.conf", entries[i].id);
	return 0;
}

/* loader/entries/mklive-ID.conf: the menu's title, a sort key that keeps
 * the menu's order (systemd-boot sorts by it), the UKI. No options line: a
 * signed UKI's stub ignores it under Secure Boot and, with Secure Boot
 * off, would take it instead of its own signed command line. */
char *mkl_sdboot_entry(size_t i, const char *label, const char *uki)
{
	char *s;

	if (i >= mkl_menu_count() ||
	    asprintf(&s, "title %s%s\nsort-key mklive-%02zu\nefi /%s\n", label, entries[i].title, i, uki) < 0)
		return NULL;
	return s;
}

/* The table for /mklive.conf: entries=yes, then entry.ID=ARGS per row. */
char *mkl_sdboot_choices(void)
{
	char *buf = NULL, name[64];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fputs("entries=yes\n", f);
	for (size_t i = 0; i < mkl_menu_count(); i++) {
		mkl_sdboot_entry_name(i, name, sizeof(name));
		fprintf(f, "entry.%s=%s\n", name, entries[i].args);
	}
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* systemd-boot's loader/loader.conf: which entry boots after the timeout
 * (default_entry: an entry's file name). No editor (a signed UKI ignores
 * a changed command line anyway), no entries of its own. */
char *mkl_sdboot_loader_conf(int timeout, const char *default_entry)
{
	char *s;

	if (asprintf(&s, "timeout %d\ndefault %s\neditor no\nauto-entries no\nconsole-mode keep\n",
		     timeout, default_entry) < 0)
		return NULL;
	return s;
}

/* /boot/grub/loopback.cfg: the same entries, for GRUB menus that boot the
 * ISO as a file (findiso=). */
char *mkl_grub_loopback_cfg(const char *label, const char *append, int timeout)
{
	return menu(label, append, timeout, "");
}

char *mkl_floppy_cmdline(const char *append)
{
	char *s;

	if (asprintf(&s, CONSOLES "%s%s%s%s", entries[0].args[0] ? " " : "", entries[0].args,
		     append && append[0] ? " " : "", append ? append : "") < 0)
		return NULL;
	return s;
}

/* The ESP's own grub.cfg, read when GRUB finds no configuration on the
 * medium by itself: find the medium by its ID, then read the real one. */
char *mkl_grub_esp_cfg(const char *id)
{
	char *buf = NULL;

	if (asprintf(&buf, "search --no-floppy --set=root --file /.disk/%s\n"
			   "set prefix=($root)/boot/grub\n"
			   "configfile $prefix/grub.cfg\n", id) < 0)
		return NULL;
	return buf;
}
