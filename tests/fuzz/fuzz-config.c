/* libFuzzer harness: mklive.conf, the INI parser of src/cli/config.c.
 *
 * The input is the file's text. A file that parses must leave values the
 * rest of the builder can take as they are: numbers in their ranges, a
 * power-of-two block size, a label of the allowed characters, choices from
 * their lists. A file that does not parse must say where ("name:LINE: "). */
#include <string.h>

#include "cli/config.h"
#include "fuzz.h"
#include "pipeline/image.h"

/* The parser reads the image-format table for names only; the writers it
 * points to are not linked in. */
const struct mkl_image_ops mkl_image_squashfs_ops, mkl_image_cloop_ops;

static int one_of(const char *v, const char *const *list)
{
	if (!v)
		return 1;
	for (; *list; list++)
		if (!strcmp(v, *list))
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const sqfs[] = { "zstd", "xz", "gzip", "lz4", NULL };
	static const char *const initrd[] = { "zstd", "gzip", "xz", "lz4", "none", NULL };
	static const char *const roots[] = { "overlay", "symlink", NULL };
	struct mkl_config cfg;
	struct mkl_err err;
	size_t n;

	mkl_config_init(&cfg);
	err.msg[0] = 0;
	if (mkl_config_parse(&cfg, "fuzz.conf", (const char *)data, size, &err) == 0) {
		FUZZ_CHECK(cfg.level == 0 || (cfg.level >= 1 && cfg.level <= 22));
		FUZZ_CHECK(cfg.initrd_level == 0 || (cfg.initrd_level >= 1 && cfg.initrd_level <= 22));
		FUZZ_CHECK(cfg.timeout >= -1 && cfg.timeout <= 600);
		FUZZ_CHECK(cfg.block_size == 0 || (cfg.block_size >= 4096 && cfg.block_size <= 1048576 &&
						   !(cfg.block_size & (cfg.block_size - 1))));
		if (cfg.label) {
			n = strlen(cfg.label);
			FUZZ_CHECK(n >= 1 && n <= 32);
			FUZZ_CHECK(strspn(cfg.label, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n);
		}
		FUZZ_CHECK(one_of(cfg.compressor, sqfs));
		FUZZ_CHECK(one_of(cfg.initrd_compressor, initrd));
		/* a format of the registry, whatever rows it has */
		FUZZ_CHECK(!cfg.image_format || mkl_image_format_find(cfg.image_format));
		FUZZ_CHECK(one_of(cfg.root_mode, roots));
	} else {
		FUZZ_CHECK(!strncmp(err.msg, "fuzz.conf:", 10));
		FUZZ_CHECK(memchr(err.msg, 0, sizeof(err.msg)) != NULL);
	}
	mkl_config_free(&cfg);
	return 0;
}
