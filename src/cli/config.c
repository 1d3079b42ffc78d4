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

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const sections[] = { "image", "initramfs", "boot" };
static const char *const keys[][4] = {
	{ "label", "compressor", "level", "block-size" },
	{ "compressor", "level" },
	{ "append", "timeout" },
};
static const char *const key_list[] = {
	"label, compressor, level, block-size", "compressor, level", "append, timeout",
};

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
	mkl_config_init(cfg);
}

int mkl_parse_size(const char *text, uint64_t *out, struct mkl_err *err)
{
	const char *p = text;
	uint64_t v = 0, mul = 1;

	if (!isdigit((unsigned char)*p))
		return mkl_error(err, 0, "'%s' is not a size (bytes, or a number with K, M or G)", text);
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return mkl_error(err, 0, "'%s' is too large", text);
		v = v * 10 + (uint64_t)(*p - '0');
	}
	switch (*p) {
	case 'K': case 'k': mul = 1ULL << 10; p++; break;
	case 'M': case 'm': mul = 1ULL << 20; p++; break;
	case 'G': case 'g': mul = 1ULL << 30; p++; break;
	}
	if (*p)
		return mkl_error(err, 0, "'%s' is not a size (bytes, or a number with K, M or G)", text);
	if (v > UINT64_MAX / mul)
		return mkl_error(err, 0, "'%s' is too large", text);
	*out = v * mul;
	return 0;
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
		if (*in == '\\') {
			if (in[1] != '"' && in[1] != '\\')
				return NULL;
			in++;
		}
		*out++ = *in;
	}
	if (*in != '"' || in[1])
		return NULL;
	*out = '\0';
	return v;
}

static int set_str(char **dst, const char *v, struct mkl_err *err)
{
	char *s = mkl_strdup(v, err);

	if (!s)
		return -1;
	free(*dst);
	*dst = s;
	return 0;
}

static int one_of(const char *v, const char *const *names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v, names[i]) == 0)
			return 1;
	return 0;
}

static int number(const char *key, const char *v, long min, long max, int *out,
		  struct mkl_err *err)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (!*v || *end || isspace((unsigned char)*v))
		return mkl_error(err, 0, "%s: '%s' is not a number", key, v);
	if (errno || n < min || n > max)
		return mkl_error(err, 0, "%s: %s is out of range (%ld..%ld)", key, v, min, max);
	*out = (int)n;
	return 0;
}

static int set_key(struct mkl_config *cfg, int sec, const char *key, const char *v,
		   struct mkl_err *err)
{
	static const char *const sqfs_comp[] = { "zstd", "xz", "gzip", "lz4" };
	static const char *const initrd_comp[] = { "zstd", "gzip", "xz", "lz4", "none" };
	uint64_t size;
	size_t n;

	if (strcmp(key, "label") == 0) {
		n = strlen(v);
		if (n < 1 || n > 32 || strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					  "0123456789_-") != n)
			return mkl_error(err, 0, "label: '%s' is not 1 to 32 of A-Z a-z 0-9 _ -", v);
		return set_str(&cfg->label, v, err);
	}
	if (strcmp(key, "compressor") == 0 && sec == 0) {
		if (!one_of(v, sqfs_comp, 4))
			return mkl_error(err, 0, "compressor: unknown '%s' (zstd, xz, gzip, lz4)", v);
		return set_str(&cfg->compressor, v, err);
	}
	if (strcmp(key, "compressor") == 0) {
		if (!one_of(v, initrd_comp, 5))
			return mkl_error(err, 0, "compressor: unknown '%s' (zstd, gzip, xz, lz4, none)", v);
		return set_str(&cfg->initrd_compressor, v, err);
	}
	if (strcmp(key, "level") == 0)	/* each codec's own range is checked later */
		return number(key, v, 1, 22, sec == 0 ? &cfg->level : &cfg->initrd_level, err);
	if (strcmp(key, "timeout") == 0)
		return number(key, v, 0, 600, &cfg->timeout, err);
	if (strcmp(key, "append") == 0)
		return set_str(&cfg->append, v, err);
	/* block-size */
	if (mkl_parse_size(v, &size, err) < 0)
		return mkl_err_prefix(err, "block-size");
	if (size < 4096 || size > 1048576 || (size & (size - 1)))
		return mkl_error(err, 0, "block-size: %s is not a power of two from 4K to 1M", v);
	cfg->block_size = (uint32_t)size;
	return 0;
}

static int parse_line(struct mkl_config *cfg, int *sec, char *line, struct mkl_err *err)
{
	char *s = trim(line, line + strlen(line)), *eq, *key, *v;
	size_t i, n = sizeof(sections) / sizeof(sections[0]);

	if (!*s || *s == '#' || *s == ';')
		return 0;
	if (*s == '[') {
		if (s[strlen(s) - 1] != ']')
			return mkl_error(err, 0, "missing ']' in '%s'", s);
		s = trim(s + 1, s + strlen(s) - 1);
		for (i = 0; i < n; i++)
			if (strcmp(s, sections[i]) == 0)
				break;
		if (i == n)
			return mkl_error(err, 0, "unknown section [%s] (sections: image, initramfs, boot)", s);
		*sec = (int)i;
		return 0;
	}
	eq = strchr(s, '=');
	if (!eq)
		return mkl_error(err, 0, "missing '=' in '%s'", s);
	key = trim(s, eq);
	v = trim(eq + 1, eq + 1 + strlen(eq + 1));
	if (!*key)
		return mkl_error(err, 0, "missing key before '='");
	if (*sec < 0)
		return mkl_error(err, 0, "key '%s' outside a section", key);
	for (i = 0; i < 4 && keys[*sec][i]; i++)
		if (strcmp(key, keys[*sec][i]) == 0)
			break;
	if (i == 4 || !keys[*sec][i])
		return mkl_error(err, 0, "unknown key '%s' in [%s] (keys: %s)", key, sections[*sec],
				 key_list[*sec]);
	if (!(v = unquote(v)))
		return mkl_error(err, 0, "%s: bad quoting (a closing '\"' must end the value; escapes are \\\" and \\\\)",
				 key);
	return set_key(cfg, *sec, key, v, err);
}

int mkl_config_parse(struct mkl_config *cfg, const char *name, const char *text, size_t len,
		     struct mkl_err *err)
{
	const char *p = text, *end = text + len, *nl;
	char *line;
	int sec = -1, lineno = 0, rc = 0;

	while (p < end && rc == 0) {
		lineno++;
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		line = mkl_malloc((size_t)(nl - p) + 1, err);
		if (!line)
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
		p = nl + 1;
	}
	return rc;
}

int mkl_config_load(struct mkl_config *cfg, const char *path, struct mkl_err *err)
{
	char *buf = NULL, *nbuf;
	size_t len = 0, cap = 0, n;
	FILE *f;
	int rc;

	f = fopen(path, "r");
	if (!f)
		return mkl_error(err, errno, "cannot open '%s'", path);
	do {
		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			nbuf = realloc(buf, cap);
			if (!nbuf) {
				free(buf);
				fclose(f);
				return mkl_error(err, ENOMEM, "cannot read '%s': out of memory", path);
			}
			buf = nbuf;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	if (ferror(f)) {
		rc = mkl_error(err, errno, "cannot read '%s'", path);
	} else {
		rc = mkl_config_parse(cfg, path, buf, len, err);
	}
	fclose(f);
	free(buf);
	return rc;
}
