/* mklive.conf: a small INI parser (see cli/config.h and docs/mklive.conf.5).
 *
 * Lines are "[section]", "key = value", comments starting with '#' or ';'
 * (whole lines only: "a = b # c" gives the value "b # c") or blank. Space
 * around names and values is dropped; a value in double quotes keeps its
 * spaces and takes the escapes \" and \\. A key given twice in a section
 * takes the last value, as a later option on a command line would. On
 * failure cfg holds what was read before the bad line; free it as usual.
 */
#include "cli/config.h"
#include "cli/cli.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind { STR, NUM, SIZE, LABEL, CHOICE };

static const char *const sections[] = { "image", "initramfs", "boot", "layout", "media" };
/* Each key: its section, kind, field, range (NUM) or names (CHOICE). The
 * level range 1..22 spans every codec; each one's own range is checked by
 * the code that uses it. */
static const struct key {
	int sec;
	const char *name;
	enum kind kind;
	size_t off;
	int min, max;
	const char *choices;
} keys[] = {
#define KEY(sec, name, kind, field, min, max, choices) \
	{ sec, name, kind, offsetof(struct mkl_config, field), min, max, choices }
	KEY(0, "label", LABEL, label, 0, 0, NULL),
	KEY(0, "compressor", CHOICE, compressor, 0, 0, "zstd, xz, gzip, lz4"),
	KEY(0, "level", NUM, level, 1, 22, NULL),
	KEY(0, "block-size", SIZE, block_size, 0, 0, NULL),
	KEY(0, "format", CHOICE, image_format, 0, 0, "squashfs, cloop"),
	KEY(1, "compressor", CHOICE, initrd_compressor, 0, 0, "zstd, gzip, xz, lz4, none"),
	KEY(1, "level", NUM, initrd_level, 1, 22, NULL),
	KEY(1, "format", CHOICE, initrd_format, 0, 0, "cpio, ext2"),
	KEY(2, "append", STR, append, 0, 0, NULL),
	KEY(2, "timeout", NUM, timeout, 0, 600, NULL),
	KEY(2, "floppy", CHOICE, floppy, 0, 0, "yes, no"),
	KEY(2, "uefi", CHOICE, uefi, 0, 0, "auto, yes, no"),
	KEY(3, "root-mode", CHOICE, root_mode, 0, 0, "overlay, symlink"),
	KEY(3, "read-only", STR, read_only, 0, 0, NULL),
	KEY(4, "automount", CHOICE, media, 0, 0, "auto, yes, no"),
#undef KEY
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))
#define LABEL_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"

void mkl_config_init(struct mkl_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->timeout = -1;
}

void mkl_config_free(struct mkl_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->label);
	free(cfg->compressor);
	free(cfg->initrd_compressor);
	free(cfg->append);
	free(cfg->floppy);
	free(cfg->uefi);
	free(cfg->initrd_format);
	free(cfg->media);
	free(cfg->image_format);
	free(cfg->root_mode);
	free(cfg->read_only);
	mkl_config_init(cfg);
}

static char *trim(char *s, char *end)
{
	while (s < end && isspace((unsigned char)*s))
		s++;
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	*end = '\0';
	return s;
}

/* A quoted value in place: "a \"b\" \\ c" -> a "b" \ c. NULL: bad quoting. */
static char *unquote(char *v)
{
	char *in = v + 1, *out = v;

	if (*v != '"')
		return v;
	for (; *in && *in != '"'; in++) {
		if (*in == '\\' && in[1] != '"' && in[1] != '\\')
			return NULL;
		if (*in == '\\')
			in++;
		*out++ = *in;
	}
	if (*in != '"' || in[1])
		return NULL;
	*out = '\0';
	return v;
}

/* Is v one of the names in list ("a, b, c")? */
static int in_list(const char *v, const char *list)
{
	size_t n = strlen(v);
	const char *p;

	if (!n || strpbrk(v, ", "))
		return 0;
	for (p = list; (p = strstr(p, v)); p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ',' || !p[n]))
			return 1;
	return 0;
}

static int set_key(struct mkl_config *cfg, const struct key *k, const char *v, struct mkl_err *err)
{
	void *field = (char *)cfg + k->off;
	uint64_t size;
	size_t n = strlen(v);
	char *end, *s;
	long num;

	switch (k->kind) {
	case NUM:
		errno = 0;
		num = strtol(v, &end, 10);
		if (!*v || *end || isspace((unsigned char)*v))
			return mkl_error(err, 0, "%s: '%s' is not a number", k->name, v);
		if (errno || num < k->min || num > k->max)
			return mkl_error(err, 0, "%s: %s is out of range (%d..%d)", k->name, v, k->min, k->max);
		*(int *)field = (int)num;
		return 0;
	case SIZE:
		if (mkl_parse_size(v, &size, err) < 0)
			return mkl_err_prefix(err, "%s", k->name);
		if (size < 4096 || size > 1048576 || (size & (size - 1)))
			return mkl_error(err, 0, "%s: %s is not a power of two from 4K to 1M", k->name, v);
		*(uint32_t *)field = (uint32_t)size;
		return 0;
	case LABEL:
		if (n < 1 || n > 32 || strspn(v, LABEL_CHARS) != n)
			return mkl_error(err, 0, "%s: '%s' is not 1 to 32 of A-Z 0-9 _ -", k->name, v);
		break;
	case CHOICE:
		if (!in_list(v, k->choices))
			return mkl_error(err, 0, "%s: unknown '%s' (%s)", k->name, v, k->choices);
		break;
	case STR:
		break;
	}
	if (!(s = mkl_strdup(v, err)))
		return -1;
	free(*(char **)field);
	*(char **)field = s;
	return 0;
}

static int parse_line(struct mkl_config *cfg, int *sec, char *line, struct mkl_err *err)
{
	char *s = trim(line, line + strlen(line)), *eq, *key, *v, names[128] = "";
	size_t i, n = sizeof(sections) / sizeof(sections[0]);

	if (!*s || *s == '#' || *s == ';')
		return 0;
	if (*s == '[') {
		if (s[strlen(s) - 1] != ']')
			return mkl_error(err, 0, "missing ']' in '%s'", s);
		s = trim(s + 1, s + strlen(s) - 1);
		for (i = 0; i < n && strcmp(s, sections[i]); i++)
			;
		if (i == n)
			return mkl_error(err, 0, "unknown section [%s] (sections: image, initramfs, boot, layout)", s);
		*sec = (int)i;
		return 0;
	}
	if (!(eq = strchr(s, '=')))
		return mkl_error(err, 0, "missing '=' in '%s'", s);
	key = trim(s, eq);
	v = trim(eq + 1, eq + 1 + strlen(eq + 1));
	if (!*key)
		return mkl_error(err, 0, "missing key before '='");
	if (*sec < 0)
		return mkl_error(err, 0, "key '%s' outside a section", key);
	for (i = 0; i < NKEYS; i++) {
		if (keys[i].sec != *sec)
			continue;
		if (strcmp(key, keys[i].name) == 0)
			break;
		snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
			 names[0] ? ", " : "", keys[i].name);
	}
	if (i == NKEYS)
		return mkl_error(err, 0, "unknown key '%s' in [%s] (keys: %s)", key, sections[*sec], names);
	if (!(v = unquote(v)))
		return mkl_error(err, 0, "%s: bad quoting (a closing '\"' must end the value; "
				 "escapes are \\\" and \\\\)", key);
	return set_key(cfg, &keys[i], v, err);
}

int mkl_config_parse(struct mkl_config *cfg, const char *name, const char *text, size_t len,
		     struct mkl_err *err)
{
	const char *p = text, *end = text + len, *nl;
	int sec = -1, lineno = 0, rc = 0;
	char *line;

	for (; p < end && rc == 0; p = nl + 1) {
		lineno++;
		if (!(nl = memchr(p, '\n', (size_t)(end - p))))
			nl = end;
		if (!(line = mkl_malloc((size_t)(nl - p) + 1, err)))
			return -1;
		memcpy(line, p, (size_t)(nl - p));
		line[nl - p] = '\0';
		if (memchr(p, '\0', (size_t)(nl - p)))
			rc = mkl_error(err, 0, "a NUL byte in the line");
		else
			rc = parse_line(cfg, &sec, line, err);
		if (rc)
			mkl_err_prefix(err, "%s:%d", name, lineno);
		free(line);
	}
	return rc;
}

int mkl_config_load(struct mkl_config *cfg, const char *path, struct mkl_err *err)
{
	char *buf = NULL, *p;
	size_t len = 0;
	FILE *f;
	int rc = 0;

	if (!(f = fopen(path, "r")))
		return mkl_error(err, errno, "cannot open '%s'", path);
	while (!rc && !feof(f) && !ferror(f)) {
		if (!(p = realloc(buf, len + 4096)))
			rc = mkl_error(err, ENOMEM, "cannot read '%s'", path);
		else
			len += fread((buf = p) + len, 1, 4096, f);
	}
	if (!rc && ferror(f))
		rc = mkl_error(err, errno, "cannot read '%s'", path);
	if (!rc)
		rc = mkl_config_parse(cfg, path, buf, len, err);
	fclose(f);
	free(buf);
	return rc;
}
