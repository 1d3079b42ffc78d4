/* libFuzzer harness: the init's reading of the kernel command line
 * (parse_cmdline and option in src/init/main.c, module parameters in
 * src/init/modules.c), compiled here with the host's compiler. The command
 * line is typed at the boot menu, or set by whoever wrote the medium.
 *
 * The input is /proc/cmdline's text. After it the options must be
 * usable as they are: strings inside the text, a timeout in its range,
 * module parameters "name.param[=value]" whose name has no '-'. The words
 * then go through the init's own formatter (sfmt in src/init/util.c, which
 * every message of the init uses), which must agree with snprintf. */
#include <string.h>

#include "fuzz.h"

#define main mklive_init_main
#include "init/main.c"
#undef main
#include "init/modules.c"

/* What main() calls after the command line and this harness never reaches. */
int medium_verify(const char *mnt) { (void)mnt; return 0; }
int medium_has_image(const struct init_cfg *cfg, const char *dev) { (void)cfg; (void)dev; return 0; }
int persist_setup(const struct init_cfg *cfg, char *desc, size_t size)
{
	(void)cfg; (void)desc; (void)size;
	return 0;
}
int toram_copy(const char *file, char *out, size_t size) { (void)file; (void)out; (void)size; return 0; }
void live_apply(const struct init_cfg *cfg, const char *newroot) { (void)cfg; (void)newroot; }

static const char *text_start, *text_end;

/* sfmt against snprintf, for a string of the command line into a buffer
 * of a size taken from the text. */
static void check_fmt(const char *s, unsigned long num)
{
	char ours[96], ref[96];
	size_t size = s ? strlen(s) % sizeof(ours) : 0;
	size_t n;
	int m;

	if (!s)
		return;
	n = sfmt(ours, size, "mklive.%s='%.*s' %5lu%c", s, (int)(size / 2), s, num, s[0]);
	m = snprintf(ref, size, "mklive.%s='%.*s' %5lu%c", s, (int)(size / 2), s, num, s[0]);
	FUZZ_CHECK(m >= 0 && n == (size_t)m);
	FUZZ_CHECK(!size || !strcmp(ours, ref));
}

static void check_str(const char *s)
{
	if (!s)
		return;
	FUZZ_CHECK(s >= text_start && s < text_end);
	FUZZ_CHECK(memchr(s, 0, (size_t)(text_end - s)) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct init_cfg defaults = {
		.image = "/live/filesystem.squashfs",
		.format = "squashfs",
		.root = "overlay",
		.timeout = 30,
	};
	char *text = malloc(size + 1), out[256];
	size_t i;

	FUZZ_CHECK(text != NULL);
	memcpy(text, data, size);
	text[size] = 0;
	text_start = text;
	text_end = text + size + 1;
	cfg = defaults;
	nparams = 0;
	log_level = -1;
	parse_cmdline(text);

	FUZZ_CHECK(cfg.timeout <= 86400);
	check_str(cfg.init);
	check_str(cfg.id);
	FUZZ_CHECK(cfg.image == defaults.image || (check_str(cfg.image), *cfg.image));
	FUZZ_CHECK(cfg.root == defaults.root || (check_str(cfg.root), *cfg.root));
	check_str(cfg.rwimage);
	/* the live settings: text of the command line, autologin 0 or 1 */
	check_str(cfg.user);
	check_str(cfg.hostname);
	check_str(cfg.locale);
	check_str(cfg.keyboard);
	check_str(cfg.timezone);
	FUZZ_CHECK(cfg.autologin == 0 || cfg.autologin == 1);
	check_fmt(cfg.id, cfg.timeout);
	check_fmt(cfg.init, (unsigned long)size);
	check_fmt(cfg.image, 0);
	FUZZ_CHECK(nparams <= MAX_PARAMS);
	for (i = 0; i < nparams; i++) {
		FUZZ_CHECK(params[i].mod[0] && !strchr(params[i].mod, '-'));
		check_str(params[i].param);
		check_fmt(params[i].param, i);
		params_for(params[i].mod, out, sizeof(out));
		FUZZ_CHECK(strlen(out) < sizeof(out));
	}
	free(text);
	return 0;
}
