/* Module selection: names to modules.dep lines with their dependencies,
 * filtered modules.dep and modules.alias, built-ins and missing names;
 * and the boot menu text. */
#include "t.h"
#include "pipeline/build.h"
#include "pipeline/modules.h"

static const char dep[] =
	"kernel/drivers/ata/ahci.ko: kernel/drivers/ata/libahci.ko kernel/drivers/ata/libata.ko kernel/drivers/scsi/scsi_mod.ko\n"
	"kernel/drivers/ata/libahci.ko: kernel/drivers/ata/libata.ko kernel/drivers/scsi/scsi_mod.ko\n"
	"kernel/drivers/ata/libata.ko: kernel/drivers/scsi/scsi_mod.ko\n"
	"kernel/drivers/scsi/scsi_mod.ko:\n"
	"kernel/drivers/usb/storage/usb-storage.ko: kernel/drivers/usb/core/usbcore.ko\n"
	"kernel/drivers/usb/core/usbcore.ko:\n"
	"kernel/sound/core/snd.ko:\n"
	"kernel/fs/isofs/isofs.ko:\n";
static const char alias[] =
	"# Aliases extracted from modules themselves.\n"
	"alias pci:v*d*sv*sd*bc01sc06i01* ahci\n"
	"alias usb:v*p*d*dc*dsc*dp*ic08isc06ip50in* usb_storage\n"
	"alias pci:v*d*sv*sd*bc04sc03i* snd\n"
	"alias fs-iso9660 isofs\n";
static const char builtin[] = "kernel/fs/squashfs/squashfs.ko\n";

int main(void)
{
	static const char *const want[] = { "ahci", "usb_storage", "squashfs", "isofs", "nvme", NULL };
	struct mkl_modsel sel;
	struct mkl_err err;
	char *cfg;
	int has_snd = 0;

	T_OK(mkl_modules_select(dep, sizeof(dep) - 1, alias, sizeof(alias) - 1, builtin,
				sizeof(builtin) - 1, want, &sel, &err) == 0, "%s", err.msg);
	T_EQ_INT(sel.npaths, 7);	/* ahci, libahci, libata, scsi_mod, usb-storage, usbcore, isofs */
	for (size_t i = 0; i < sel.npaths; i++)
		if (strstr(sel.paths[i], "snd"))
			has_snd = 1;
	T_OK(!has_snd, "an unwanted module stays out");
	T_OK(strstr(sel.dep_text, "kernel/drivers/ata/ahci.ko: kernel/drivers/ata/libahci.ko") != NULL,
	     "dep line kept as is");
	T_OK(strstr(sel.dep_text, "snd.ko") == NULL, "dep text filtered");
	T_OK(strstr(sel.alias_text, "ic08isc06ip50in* usb_storage") != NULL, "alias kept ('-' vs '_')");
	T_OK(strstr(sel.alias_text, "alias fs-iso9660 isofs") != NULL, "fs alias kept");
	T_OK(strstr(sel.alias_text, "snd") == NULL, "alias filtered");
	T_EQ_INT(sel.nmissing, 1);	/* squashfs is built in; nvme is absent */
	T_EQ_STR(sel.missing[0], "nvme");
	mkl_modsel_free(&sel);

	T_OK(mkl_modules_select("kernel/a.ko: kernel/b.ko\n", 24, "", 0, "", 0,
				(const char *const[]){ "a", NULL }, &sel, &err) == -1, "dangling dependency");
	T_OK(strstr(err.msg, "kernel/b.ko") != NULL, "%s", err.msg);
	T_OK(mkl_modules_select("no colon here\n", 14, "", 0, "", 0, want, &sel, &err) == -1,
	     "malformed modules.dep");
	T_OK(strstr(err.msg, "modules.dep:1") != NULL, "%s", err.msg);

	cfg = mkl_isolinux_cfg("MYLIVE", "quiet splash", 7);
	T_OK(cfg && strstr(cfg, "DEFAULT live\n"), "default entry");
	T_OK(cfg && strstr(cfg, "TIMEOUT 70\n"), "timeout in tenths");
	T_OK(cfg && strstr(cfg, "LABEL debug\n"), "debug entry");
	T_OK(cfg && strstr(cfg, "mklive.debug"), "debug entry turns on the init's debug");
	T_OK(cfg && strstr(cfg, "SERIAL 0 115200\n"), "menu on the serial port too");
	T_OK(cfg && strstr(cfg, "LABEL toram\n"), "toram entry");
	T_OK(cfg && strstr(cfg, "console=tty0 toram quiet splash\n"), "toram entry copies the image to RAM");
	T_OK(cfg && strstr(cfg, "LABEL persistence\n"), "persistence entry");
	T_OK(cfg && strstr(cfg, "console=tty0 persistence quiet splash\n"), "persistence entry keeps changes");
	T_OK(cfg && strstr(cfg, "console=tty0 persistence=luks quiet splash\n"), "encrypted persistence entry");
	{
		int n = 0;
		int m = 0;

		for (const char *p = cfg; (p = strstr(p, "quiet splash\n")); p++)
			n++;
		for (const char *p = cfg; (p = strstr(p, "initrd.img console=ttyS0,115200 console=tty0 ")); p++)
			m++;
		T_EQ_INT(n, 5);	/* the user's arguments end every entry */
		T_EQ_INT(m, 5);	/* every entry talks on the screen and the serial port */
	}
	free(cfg);
	/* loopback.cfg: the same entries, each telling the init the file */
	cfg = mkl_grub_loopback_cfg("MYLIVE", "quiet", 3);
	{
		int n = 0;

		for (const char *p = cfg; p && (p = strstr(p, "\tlinux /live/vmlinuz findiso=${iso_path} console=")); p++)
			n++;
		T_EQ_INT(n, 5);
	}
	T_OK(cfg && strstr(cfg, "console=tty0 toram quiet\n"), "loopback.cfg: the toram entry");
	T_OK(cfg && strstr(cfg, "console=tty0 persistence quiet\n"), "loopback.cfg: the persistence entry");
	T_OK(cfg && strstr(cfg, "set timeout=3\n"), "loopback.cfg: boots by itself");
	T_OK(cfg && !strstr(cfg, "search "), "loopback.cfg: root is the caller's (loop)");
	free(cfg);
	cfg = mkl_isolinux_cfg("X", NULL, 0);
	T_OK(cfg && strstr(cfg, "TIMEOUT 1\n"), "timeout 0 boots at once (syslinux's 0 would wait forever)");
	free(cfg);
	return t_done();
}
