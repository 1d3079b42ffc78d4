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
 * gives it (the signed UKIs take theirs from here). */
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

/* systemd-boot's menu (loader/loader.conf): it lists the UKIs in
 * EFI/Linux by itself; this says which boots after the timeout. No
 * editor: a signed UKI ignores a changed command line anyway. */
char *mkl_sdboot_loader_conf(int timeout, const char *default_file)
{
	char *s;

	if (asprintf(&s, "timeout %d\ndefault %s\neditor no\nauto-entries no\nconsole-mode keep\n",
		     timeout, default_file) < 0)
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
