/* The signed UKI's set of choices: the builder's table (bootmenu.c,
 * written into the initramfs's /mklive.conf) read by mklive-helper's entry
 * job (src/helper/entry_table.c), and systemd-boot's menu files.
 *
 * - every menu row's id, as systemd-boot names the entry (its loader/entries
 *   file), finds that row's arguments, and the default command line plus
 *   them is the row's whole command line as isolinux and GRUB get it;
 * - ids not in the table (near misses, empty, another loader's) find nothing;
 * - the efivarfs bytes of LoaderEntrySelected (attributes, UTF-16LE, NUL)
 *   give the id; anything else (odd length, non-ASCII, '=', a space, too
 *   long, empty) is refused;
 * - the entries start the one UKI, carry no options line, and sort in the
 *   menu's order; loader.conf's default is the first row. */
#include "t.h"

#include "pipeline/build.h"
#include "pipeline/internal.h"

#include "../../src/helper/entry_table.c"

/* The efivarfs file of a UTF-16LE string: attributes 0x07, the string, NUL. */
static size_t var_of(const char *s, unsigned char *out, int nul)
{
	size_t n = 4;

	memcpy(out, "\x07\0\0\0", 4);
	for (; *s; s++) {
		out[n++] = (unsigned char)*s;
		out[n++] = 0;
	}
	if (nul) {
		out[n++] = 0;
		out[n++] = 0;
	}
	return n;
}

static void table(void)
{
	char *choices = mkl_sdboot_choices(), name[64], want[512];
	const char *args, *id, *title;
	size_t len = 0, n = mkl_menu_count();
	char *dflt = mkl_menu_entry(0, "mklive.verity=ab", &id, &title);

	T_OK(choices && !strncmp(choices, "entries=yes\n", 12), "the table starts with entries=yes: %s",
	     choices ? choices : "(null)");
	T_OK(n >= 5, "%zu menu entries", n);
	T_OK(n <= MKL_ENTRY_MAX, "%zu menu entries, room for %d", n, MKL_ENTRY_MAX);
	for (size_t i = 0; choices && i < n; i++) {
		char *whole = mkl_menu_entry(i, "mklive.verity=ab", &id, &title), *got;

		T_EQ_INT(mkl_sdboot_entry_name(i, name, sizeof(name)), 0);
		snprintf(want, sizeof(want), "mklive-%s.conf", id);
		T_EQ_STR(name, want);
		args = entry_args(choices, name, &len);
		T_OK(args != NULL, "%s is in the table", name);
		if (!args || !whole || !dflt) {
			free(whole);
			continue;
		}
		/* the default's command line, then the entry's arguments: where the
		 * default has them (before --append's), the entry's go there too */
		got = strndup(args, len);
		if (len) {
			const char *tail = strstr(dflt, " mklive.verity=ab");

			snprintf(want, sizeof(want), "%.*s %s%s", (int)(tail - dflt), dflt, got, tail);
		} else {
			snprintf(want, sizeof(want), "%s", dflt);
		}
		T_EQ_STR(want, whole);
		free(got);
		free(whole);
	}
	T_OK(mkl_sdboot_entry_name(n, name, sizeof(name)) == -1, "past the last row");
	/* row 0 adds nothing: the UKI's own command line is the default */
	mkl_sdboot_entry_name(0, name, sizeof(name));
	args = choices ? entry_args(choices, name, &len) : NULL;
	T_OK(args && len == 0, "the default entry adds nothing");
	mkl_sdboot_entry_name(2, name, sizeof(name));
	args = choices ? entry_args(choices, name, &len) : NULL;
	T_OK(args && len == 5 && !strncmp(args, "toram", 5), "%s: toram", name);

	static const char *const none[] = { "mklive-live.con", "mklive-live.confx", "mklive-toram",
					    "", "entries", "debian.conf", "auto-windows", "mklive-",
					    "entry.mklive-toram.conf" };
	for (size_t i = 0; choices && i < sizeof(none) / sizeof(none[0]); i++)
		T_OK(!entry_args(choices, none[i], &len), "'%s' is in no row", none[i]);
	/* the table among /mklive.conf's other lines; only whole lines count */
	const char *conf = "id=X\nimage=/live/filesystem.squashfs\nxentry.mklive-a.conf=no\n"
			   "entry.mklive-b.conf=persistence=luks\n";
	args = entry_args(conf, "mklive-b.conf", &len);
	T_OK(args && len == 16 && !strncmp(args, "persistence=luks", 16), "the last line, no newline after");
	T_OK(!entry_args(conf, "mklive-a.conf", &len), "a key inside a line is not a row");
	free(choices);
	free(dflt);
}

static void variable(void)
{
	unsigned char v[600];
	char id[128], small[8];
	size_t n;

	n = var_of("mklive-toram.conf", v, 1);
	T_EQ_INT(entry_id(v, n, id, sizeof(id)), 0);
	T_EQ_STR(id, "mklive-toram.conf");
	n = var_of("mklive-debug.conf", v, 0);	/* no terminator: the file's end */
	T_EQ_INT(entry_id(v, n, id, sizeof(id)), 0);
	T_EQ_STR(id, "mklive-debug.conf");
	n = var_of("mklive-toram.conf", v, 1);
	T_EQ_INT(entry_id(v, n - 1, id, sizeof(id)), -1);	/* odd length */
	T_EQ_INT(entry_id(v, n, small, sizeof(small)), -1);	/* longer than the buffer */
	T_EQ_INT(entry_id(v, 4, id, sizeof(id)), -1);		/* attributes only */
	n = var_of("", v, 1);
	T_EQ_INT(entry_id(v, n, id, sizeof(id)), -1);		/* empty */
	n = var_of("a=b.conf", v, 1);
	T_EQ_INT(entry_id(v, n, id, sizeof(id)), -1);		/* the table's separator */
	n = var_of("a b.conf", v, 1);
	T_EQ_INT(entry_id(v, n, id, sizeof(id)), -1);
	n = var_of("mklive-live.conf", v, 1);
	v[5] = 0x01;	/* U+016D: not ASCII */
	T_EQ_INT(entry_id(v, n, id, sizeof(id)), -1);
}

static void menu_files(void)
{
	char *prev = NULL, *loader, name[64];

	for (size_t i = 0; i < mkl_menu_count(); i++) {
		char *e = mkl_sdboot_entry(i, "LBL", MKL_UKI_PATH), *sk;

		T_OK(e && strstr(e, "\nefi /" MKL_UKI_PATH "\n"), "entry %zu starts the UKI: %s", i,
		     e ? e : "(null)");
		T_OK(e && !strstr(e, "options"), "entry %zu has no options line", i);
		T_OK(e && !strncmp(e, "title LBL", 9), "entry %zu's title", i);
		sk = e ? strstr(e, "sort-key ") : NULL;
		T_OK(sk != NULL, "entry %zu has a sort key", i);
		if (sk && prev)
			T_OK(strcmp(prev, sk) < 0, "entry %zu sorts after entry %zu", i, i - 1);
		free(prev);
		prev = sk ? strndup(sk, strcspn(sk, "\n")) : NULL;
		free(e);
	}
	free(prev);
	T_OK(mkl_sdboot_entry(mkl_menu_count(), "LBL", MKL_UKI_PATH) == NULL, "past the last row");
	mkl_sdboot_entry_name(0, name, sizeof(name));
	loader = mkl_sdboot_loader_conf(3, name);
	T_OK(loader && strstr(loader, "default mklive-live.conf\n") && strstr(loader, "timeout 3\n") &&
	     strstr(loader, "editor no\n"), "loader.conf: %s", loader ? loader : "(null)");
	free(loader);
}

int main(void)
{
	table();
	variable();
	menu_files();
	return t_done();
}
