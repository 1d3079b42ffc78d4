/* mklive.conf parsing: a full file, comments, quoting, sizes, and every
 * error with its exact "FILE:LINE: ..." text. */
#include "t.h"

#include <stdint.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/config.h"
#include "cli/options.h"

/* T_EQ_STR for char arrays (its NULL checks warn on them) */
#define EQ_MSG(a, b) T_OK(strcmp((a), (b)) == 0, "'%s' != '%s'", (a), (b))

static int parse(struct mkl_config *cfg, const char *text, struct mkl_err *err)
{
	mkl_config_init(cfg);
	err->msg[0] = '\0';
	return mkl_config_parse(cfg, "t.conf", text, strlen(text), err);
}

/* text must fail with exactly msg. */
static void bad(const char *text, const char *msg)
{
	struct mkl_config cfg;
	struct mkl_err err;
	int rc = parse(&cfg, text, &err);

	T_OK(rc == -1, "no error for: %s", text);
	T_OK(strcmp(err.msg, msg) == 0, "'%s' != '%s'", err.msg, msg);
	mkl_config_free(&cfg);
}

static void test_full(void)
{
	static const char text[] =
		"# a full file\n"
		"; both comment styles\n"
		"\n"
		"[image]\n"
		"  label   =  MY_LIVE-1  \n"
		"compressor=xz\n"
		"level = 9\n"
		"block-size = 256K\r\n"
		"[ initramfs ]\n"
		"compressor = none\n"
		"level = 19\n"
		"[boot]\n"
		"append = console=ttyS0,115200 quiet # not a comment\n"
		"timeout = 0\n"
		"floppy = yes\n"
		"uefi = no\n"
		"\t# indented comment";
	struct mkl_config cfg;
	struct mkl_err err;

	T_EQ_INT(parse(&cfg, text, &err), 0);
	T_EQ_STR(cfg.label, "MY_LIVE-1");
	T_EQ_STR(cfg.compressor, "xz");
	T_EQ_INT(cfg.level, 9);
	T_EQ_INT(cfg.block_size, 262144);
	T_EQ_STR(cfg.initrd_compressor, "none");
	T_EQ_INT(cfg.initrd_level, 19);
	T_EQ_STR(cfg.append, "console=ttyS0,115200 quiet # not a comment");
	T_EQ_INT(cfg.timeout, 0);
	T_EQ_STR(cfg.floppy, "yes");
	T_EQ_STR(cfg.uefi, "no");
	mkl_config_free(&cfg);
	T_OK(cfg.label == NULL && cfg.timeout == -1 && cfg.floppy == NULL && cfg.uefi == NULL,
	     "free resets");
	mkl_config_free(NULL);
}

static void test_defaults(void)
{
	struct mkl_config cfg;
	struct mkl_err err;

	T_EQ_INT(parse(&cfg, "", &err), 0);
	T_OK(!cfg.label && !cfg.compressor && !cfg.initrd_compressor && !cfg.append,
	     "empty file sets no strings");
	T_OK(cfg.level == 0 && cfg.initrd_level == 0 && cfg.block_size == 0 && cfg.timeout == -1,
	     "empty file sets no numbers");
	T_EQ_INT(parse(&cfg, "\n# only\n;comments\n\n", &err), 0);
	T_OK(!cfg.label && cfg.timeout == -1, "comments set nothing");
	/* last value wins; sections may repeat */
	T_EQ_INT(parse(&cfg, "[boot]\ntimeout = 3\n[image]\nlabel=A\n[boot]\ntimeout = 7\n"
			     "[image]\nlabel = B\n", &err), 0);
	T_EQ_INT(cfg.timeout, 7);
	T_EQ_STR(cfg.label, "B");
	mkl_config_free(&cfg);
	/* values found override what cfg already holds, others stay */
	mkl_config_init(&cfg);
	cfg.level = 3;
	T_EQ_INT(mkl_config_parse(&cfg, "x", "[boot]\ntimeout=1", 16, &err), 0);
	T_OK(cfg.level == 3 && cfg.timeout == 1, "level %d timeout %d", cfg.level, cfg.timeout);
	mkl_config_free(&cfg);
	/* the length is honoured: "timeout=12" cut to "timeout=1" */
	mkl_config_init(&cfg);
	T_EQ_INT(mkl_config_parse(&cfg, "x", "[boot]\ntimeout=12", 16, &err), 0);
	T_EQ_INT(cfg.timeout, 1);
	mkl_config_free(&cfg);
}

static void test_quoting(void)
{
	struct mkl_config cfg;
	struct mkl_err err;

	T_EQ_INT(parse(&cfg, "[boot]\nappend = \"  quiet \\\"x\\\" a\\\\b  \"  \n", &err), 0);
	T_EQ_STR(cfg.append, "  quiet \"x\" a\\b  ");
	mkl_config_free(&cfg);
	T_EQ_INT(parse(&cfg, "[boot]\nappend = \"\"\n[image]\nlabel = \"Q\"\n", &err), 0);
	T_EQ_STR(cfg.append, "");
	T_EQ_STR(cfg.label, "Q");
	mkl_config_free(&cfg);
	/* quotes inside an unquoted value are kept */
	T_EQ_INT(parse(&cfg, "[boot]\nappend = a=\"b c\"\n", &err), 0);
	T_EQ_STR(cfg.append, "a=\"b c\"");
	mkl_config_free(&cfg);
	bad("[boot]\nappend = \"open\n",
	    "t.conf:2: append: bad quoting (a closing '\"' must end the value; escapes are \\\" and \\\\)");
	bad("[boot]\nappend = \"a\" b\n",
	    "t.conf:2: append: bad quoting (a closing '\"' must end the value; escapes are \\\" and \\\\)");
	bad("[boot]\nappend = \"a\\nb\"\n",
	    "t.conf:2: append: bad quoting (a closing '\"' must end the value; escapes are \\\" and \\\\)");
}

static void test_errors(void)
{
	bad("[image]\nlabel = X\n[disk]\n",
	    "t.conf:3: unknown section [disk] (sections: recipe, image, initramfs, boot, layout, media, live)");
	bad("[image\n", "t.conf:1: missing ']' in '[image'");
	bad("[image]\nsize = 3\n",
	    "t.conf:2: unknown key 'size' in [image] (keys: label, compressor, level, block-size, format, verity)");
	bad("[initramfs]\nlabel = X\n",
	    "t.conf:2: unknown key 'label' in [initramfs] (keys: compressor, level, format)");
	bad("[boot]\nlevel = 3\n", "t.conf:2: unknown key 'level' in [boot] (keys: append, timeout, floppy, uefi, findiso, sign-key, sign-cert)");
	bad("# top\nlabel = X\n", "t.conf:2: key 'label' outside a section");
	bad("[image]\n\nlabel X\n", "t.conf:3: missing '=' in 'label X'");
	bad("[image]\n = X\n", "t.conf:2: missing key before '='");
	bad("[image]\nlabel = A\nlevel = abc\n", "t.conf:3: level: 'abc' is not a number");
	bad("[image]\nlevel =\n", "t.conf:2: level: '' is not a number");
	bad("[image]\nlevel = 12x\n", "t.conf:2: level: '12x' is not a number");
	bad("[image]\nlevel = 0\n", "t.conf:2: level: 0 is out of range (1..22)");
	bad("[initramfs]\nlevel = 23\n", "t.conf:2: level: 23 is out of range (1..22)");
	bad("[image]\nlevel = 99999999999999999999\n",
	    "t.conf:2: level: 99999999999999999999 is out of range (1..22)");
	bad("[boot]\nuefi = maybe\n", "t.conf:2: uefi: unknown 'maybe' (yes, no, auto)");
	bad("[boot]\ntimeout = 601\n", "t.conf:2: timeout: 601 is out of range (0..600)");
	bad("[boot]\ntimeout = -1\n", "t.conf:2: timeout: -1 is out of range (0..600)");
	bad("[image]\ncompressor = lzo\n", "t.conf:2: compressor: unknown 'lzo' (zstd, xz, gzip, lz4)");
	bad("[image]\ncompressor = none\n", "t.conf:2: compressor: unknown 'none' (zstd, xz, gzip, lz4)");
	bad("[image]\ncompressor = xz, gzip\n",
	    "t.conf:2: compressor: unknown 'xz, gzip' (zstd, xz, gzip, lz4)");
	bad("[image]\ncompressor = zst\n", "t.conf:2: compressor: unknown 'zst' (zstd, xz, gzip, lz4)");
	bad("[initramfs]\ncompressor = bzip2\n",
	    "t.conf:2: compressor: unknown 'bzip2' (zstd, gzip, xz, lz4, none)");
	bad("[image]\nlabel =\n", "t.conf:2: label: '' is not 1 to 32 of A-Z 0-9 _ -");
	bad("[image]\nlabel = my live\n", "t.conf:2: label: 'my live' is not 1 to 32 of A-Z 0-9 _ -");
	bad("[image]\nlabel = ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456\n",
	    "t.conf:2: label: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456' is not 1 to 32 of A-Z 0-9 _ -");
	bad("[image]\nblock-size = 3000\n",
	    "t.conf:2: block-size: 3000 is not a power of two from 4K to 1M");
	bad("[image]\nblock-size = 2M\n", "t.conf:2: block-size: 2M is not a power of two from 4K to 1M");
	bad("[image]\nblock-size = 2K\n", "t.conf:2: block-size: 2K is not a power of two from 4K to 1M");
	bad("[image]\nblock-size = 12Q\n",
	    "t.conf:2: block-size: '12Q' is not a size (bytes, or a number with K, M or G)");
	{
		static const char nul[] = "[image]\nlabel = A\0B\n";
		struct mkl_config cfg;
		struct mkl_err err;

		mkl_config_init(&cfg);
		T_EQ_INT(mkl_config_parse(&cfg, "t.conf", nul, sizeof(nul) - 1, &err), -1);
		EQ_MSG(err.msg, "t.conf:2: a NUL byte in the line");
		mkl_config_free(&cfg);
	}
	{
		struct mkl_config cfg;
		struct mkl_err err;

		T_EQ_INT(parse(&cfg, "[image]\nlabel = 12345678901234567890123456789012\nblock-size=4K\n", &err), 0);
		T_EQ_INT(strlen(cfg.label), 32);
		T_EQ_INT(cfg.block_size, 4096);
		mkl_config_free(&cfg);
		T_EQ_INT(parse(&cfg, "[image]\nblock-size=1048576\n", &err), 0);
		T_EQ_INT(cfg.block_size, 1048576);
		mkl_config_free(&cfg);
	}
}

/* [live]: every key, the defaults merged in, and each rule's edges */
static void test_live(void)
{
	struct mkl_config cfg, cli;
	struct mkl_err err;
	static const char *const good[][2] = {
		{ "user", "live" }, { "user", "_x-1" }, { "user", "abcdefghijklmnopqrstuvwxyz012345" },
		{ "hostname", "a" }, { "hostname", "live-1.example.org" }, { "hostname", "A1" },
		{ "locale", "C" }, { "locale", "C.UTF-8" }, { "locale", "sr_RS.UTF-8@latin" },
		{ "keyboard", "us" }, { "keyboard", "de(nodeadkeys)" }, { "keyboard", "fr(bepo_afnor)" },
		{ "timezone", "UTC" }, { "timezone", "America/Argentina/Buenos_Aires" },
		{ "timezone", "Etc/GMT+1" }, { "autologin", "no" },
	};
	static const char *const badv[][3] = {
		{ "user", "Live", "a user name" }, { "user", "1x", "a user name" },
		{ "user", "a:b", "a user name" }, { "user", "abcdefghijklmnopqrstuvwxyz0123456", "a user name" },
		{ "user", "", "a user name" },
		{ "hostname", "-a", "a host name" }, { "hostname", "a-", "a host name" },
		{ "hostname", "a..b", "a host name" }, { "hostname", "a.", "a host name" },
		{ "hostname", "a_b", "a host name" }, { "hostname", "a.-b", "a host name" },
		{ "hostname", "a234567890123456789012345678901234567890123456789012345678901234",
		  "a host name" },
		{ "locale", "de DE", "a locale" }, { "locale", "_x", "a locale" },
		{ "keyboard", "De", "an XKB layout" }, { "keyboard", "de(", "an XKB layout" },
		{ "keyboard", "de()", "an XKB layout" }, { "keyboard", "de(x))", "an XKB layout" },
		{ "keyboard", "de;x", "an XKB layout" }, { "keyboard", "(x)", "an XKB layout" },
		{ "timezone", "../etc/passwd", "a time zone" }, { "timezone", "/UTC", "a time zone" },
		{ "timezone", "Europe//Berlin", "a time zone" }, { "timezone", "Europe/", "a time zone" },
		{ "timezone", "Europe/Berlin x", "a time zone" },
	};
	char text[200], msg[300];

	T_EQ_INT(parse(&cfg, "[live]\nuser = live\nautologin = no\nhostname = box\n"
			"locale = de_DE.UTF-8\nkeyboard = de(nodeadkeys)\ntimezone = Europe/Berlin\n",
			&err), 0);
	T_EQ_STR(cfg.live_user, "live");
	T_EQ_STR(cfg.autologin, "no");
	T_EQ_STR(cfg.hostname, "box");
	T_EQ_STR(cfg.locale, "de_DE.UTF-8");
	T_EQ_STR(cfg.keyboard, "de(nodeadkeys)");
	T_EQ_STR(cfg.timezone, "Europe/Berlin");
	mkl_config_free(&cfg);
	/* defaults: user "user", autologin yes, the rest the tree's */
	mkl_config_init(&cli);
	T_EQ_INT(parse(&cfg, "", &err), 0);
	T_EQ_INT(mkl_options_merge(&cli, &cfg, &err), 0);
	T_EQ_STR(cli.live_user, "user");
	T_EQ_STR(cli.autologin, "yes");
	T_OK(!cli.hostname && !cli.locale && !cli.keyboard && !cli.timezone, "others unset");
	mkl_config_free(&cli);
	mkl_config_free(&cfg);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text), "[live]\n%s = %s\n", good[i][0], good[i][1]);
		T_OK(parse(&cfg, text, &err) == 0, "%s = %s: %s", good[i][0], good[i][1], err.msg);
		mkl_config_free(&cfg);
	}
	for (size_t i = 0; i < sizeof(badv) / sizeof(badv[0]); i++) {
		snprintf(text, sizeof(text), "[live]\n%s = \"%s\"\n", badv[i][0], badv[i][1]);
		snprintf(msg, sizeof(msg), "t.conf:2: %s: '%s' is not %s", badv[i][0], badv[i][1],
			 badv[i][2]);
		T_OK(parse(&cfg, text, &err) == -1 && !strncmp(err.msg, msg, strlen(msg)),
		     "%s = %s: '%s', not '%s...'", badv[i][0], badv[i][1], err.msg, msg);
		mkl_config_free(&cfg);
	}
	bad("[live]\nautologin = maybe\n", "t.conf:2: autologin: unknown 'maybe' (yes, no)");
	bad("[live]\nuser = Root\n", "t.conf:2: user: 'Root' is not a user name: 1 to 32 of "
	    "a-z 0-9 _ -, starting with a-z or _");
}

static void test_sizes(void)
{
	struct mkl_err err;
	uint64_t v;

	T_EQ_INT(mkl_parse_size("131072", &v, &err), 0);
	T_EQ_INT(v, 131072);
	T_EQ_INT(mkl_parse_size("128K", &v, &err), 0);
	T_EQ_INT(v, 131072);
	T_EQ_INT(mkl_parse_size("1M", &v, &err), 0);
	T_EQ_INT(v, 1048576);
	T_EQ_INT(mkl_parse_size("3g", &v, &err), 0);
	T_EQ_INT(v, 3221225472LL);
	T_EQ_INT(mkl_parse_size("0", &v, &err), 0);
	T_EQ_INT(v, 0);
	T_EQ_INT(mkl_parse_size("", &v, &err), -1);
	EQ_MSG(err.msg, "'' is not a size (bytes, or a number with K, M or G)");
	T_EQ_INT(mkl_parse_size("1.5M", &v, &err), -1);
	EQ_MSG(err.msg, "'1.5M' is not a size (bytes, or a number with K, M or G)");
	T_EQ_INT(mkl_parse_size("-1", &v, &err), -1);
	EQ_MSG(err.msg, "'-1' is not a size (bytes, or a number with K, M or G)");
	T_EQ_INT(mkl_parse_size("1KB", &v, &err), -1);
	EQ_MSG(err.msg, "'1KB' is not a size (bytes, or a number with K, M or G)");
	T_EQ_INT(mkl_parse_size("18446744073709551615", &v, &err), 0);
	T_OK(v == UINT64_MAX, "max");
	T_EQ_INT(mkl_parse_size("18446744073709551616", &v, &err), -1);
	EQ_MSG(err.msg, "'18446744073709551616' is too large");
	T_EQ_INT(mkl_parse_size("17179869184G", &v, &err), -1);
	EQ_MSG(err.msg, "'17179869184G' is too large");
	/* KiB, MiB, GiB: the same binary multiples as K, M, G. */
	T_EQ_INT(mkl_parse_size("1KiB", &v, &err), 0);
	T_EQ_INT(v, 1024);
	T_EQ_INT(mkl_parse_size("64MiB", &v, &err), 0);
	T_EQ_INT(v, 64 << 20);
	T_EQ_INT(mkl_parse_size("2GiB", &v, &err), 0);
	T_EQ_INT(v, 2LL << 30);
	T_EQ_INT(mkl_parse_size("1kiB", &v, &err), -1);
	T_EQ_INT(mkl_parse_size("1KiBB", &v, &err), -1);
	T_EQ_INT(mkl_parse_size("1iB", &v, &err), -1);
	T_EQ_INT(mkl_parse_size("17179869184GiB", &v, &err), -1);
	EQ_MSG(err.msg, "'17179869184GiB' is too large");
}

static void test_files(void)
{
	char dir[] = "/tmp/mklive-config.XXXXXX", path[64], want[160];
	struct mkl_config cfg;
	struct mkl_err err;
	FILE *f;

	if (!mkdtemp(dir)) {
		T_OK(0, "mkdtemp");
		return;
	}
	snprintf(path, sizeof(path), "%s/none.conf", dir);
	mkl_config_init(&cfg);
	T_EQ_INT(mkl_config_load(&cfg, path, &err), -1);
	snprintf(want, sizeof(want), "cannot open '%s': No such file or directory", path);
	EQ_MSG(err.msg, want);

	snprintf(path, sizeof(path), "%s/empty.conf", dir);
	f = fopen(path, "w");
	fclose(f);
	T_EQ_INT(mkl_config_load(&cfg, path, &err), 0);
	T_OK(cfg.timeout == -1 && !cfg.label, "empty file: defaults");

	snprintf(path, sizeof(path), "%s/mklive.conf", dir);
	f = fopen(path, "w");
	fprintf(f, "[image]\nlabel = FROM_FILE\n[boot]\ntimeout = 9\n");
	fclose(f);
	T_EQ_INT(mkl_config_load(&cfg, path, &err), 0);
	T_EQ_STR(cfg.label, "FROM_FILE");
	T_EQ_INT(cfg.timeout, 9);
	mkl_config_free(&cfg);

	f = fopen(path, "w");
	fprintf(f, "[image]\n\nlevel = high\n");
	fclose(f);
	T_EQ_INT(mkl_config_load(&cfg, path, &err), -1);
	snprintf(want, sizeof(want), "%s:3: level: 'high' is not a number", path);
	EQ_MSG(err.msg, want);
	mkl_config_free(&cfg);

	T_EQ_INT(mkl_config_load(&cfg, dir, &err), -1);
	snprintf(want, sizeof(want), "cannot read '%s': Is a directory", dir);
	EQ_MSG(err.msg, want);
	mkl_config_free(&cfg);

	unlink(path);
	snprintf(path, sizeof(path), "%s/empty.conf", dir);
	unlink(path);
	rmdir(dir);
}

/* [recipe], and values continued on indented lines (configparser's rule). */
static void test_continued(void)
{
	static const char text[] =
		"[recipe]\n"
		"suite = bookworm\n"
		"packages = systemd-sysv, udev,\n"
		"    xfce4 lightdm\n"
		"  # an indented comment inside\n"
		"\tfirefox-esr\n"
		"\n"
		"  include = files\n"	/* after a blank line: a key again */
		"hooks = a.sh\n"
		"  b.sh\n"
		"[boot]\n"
		"append = console=ttyS0\n"
		"  quiet\n";
	struct mkl_config cfg;
	struct mkl_err err;

	T_EQ_INT(parse(&cfg, text, &err), 0);
	T_EQ_STR(cfg.recipe.suite, "bookworm");
	T_EQ_STR(cfg.recipe.packages, "systemd-sysv, udev, xfce4 lightdm firefox-esr");
	T_EQ_STR(cfg.recipe.include, "files");
	T_EQ_STR(cfg.recipe.hooks, "a.sh b.sh");
	T_EQ_STR(cfg.append, "console=ttyS0 quiet");
	mkl_config_free(&cfg);
	/* errors name the key's first line */
	bad("[recipe]\nsuite = x\nvariant = tiny\n  more\n",
	    "t.conf:3: variant: unknown 'tiny more' (essential, apt, required, minbase, buildd, "
	    "important, debootstrap, standard)");
	bad("[recipe]\n  suite\n", "t.conf:2: missing '=' in 'suite'");
}

int main(void)
{
	test_full();
	test_continued();
	test_defaults();
	test_quoting();
	test_errors();
	test_live();
	test_sizes();
	test_files();
	return t_done();
}
