/* mklive.conf: a small INI parser (see cli/config.h and docs/mklive.conf.5).
 *
 * Lines are "[section]", "key = value", comments starting with '#' or ';'
 * (whole lines only: "a = b # c" gives the value "b # c") or blank. A line
 * that starts with white space right after "key = value" (or its
 * continuation) continues the value, joined with one space, as in
 * Python's configparser; indented comments in between are skipped. Space
 * around names and values is dropped; a value in double quotes keeps its
 * spaces and takes the escapes \" and \\. A key given twice in a section
 * takes the last value, as a later option on a command line would. On
 * failure cfg holds what was read before the bad line; free it as usual.
 */
#include "cli/config.h"
#include "cli/options.h"
#include "cli/cli.h"
#include "tree/io.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mkl_config_init(struct mkl_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->timeout = -1;
	cfg->verbosity = 1;
}

void mkl_config_free(struct mkl_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < mkl_noptions; i++) {
		const struct mkl_option *o = &mkl_options[i];

		if (o->kind == MKL_OPT_STR || o->kind == MKL_OPT_LABEL || o->kind == MKL_OPT_CHOICE ||
		    o->kind == MKL_OPT_FORMAT)
			free(*(char **)((char *)cfg + o->off));
	}
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

static int parse_line(struct mkl_config *cfg, int *sec, char *line, struct mkl_err *err)
{
	char *s = trim(line, line + strlen(line)), *eq, *key, *v, names[256] = "";
	const struct mkl_option *o = NULL;
	size_t i;

	if (!*s || *s == '#' || *s == ';')
		return 0;
	if (*s == '[') {
		if (s[strlen(s) - 1] != ']')
			return mkl_error(err, 0, "missing ']' in '%s'", s);
		s = trim(s + 1, s + strlen(s) - 1);
		for (i = 0; mkl_sections[i] && strcmp(s, mkl_sections[i]); i++)
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
				 i ? ", " : "", mkl_sections[i]);
		if (!mkl_sections[i]) {
			return mkl_error(err, 0, "unknown section [%s] (sections: %s)", s, names);
		}
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
	for (i = 0; i < mkl_noptions && !o; i++) {
		const struct mkl_option *r = &mkl_options[i];

		if (!r->key || strcmp(r->section, mkl_sections[*sec]))
			continue;
		if (!strcmp(key, r->key))
			o = r;
		else
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
				 names[0] ? ", " : "", r->key);
	}
	if (!o)
		return mkl_error(err, 0, "unknown key '%s' in [%s] (keys: %s)", key, mkl_sections[*sec],
				 names);
	if (!(v = unquote(v)))
		return mkl_error(err, 0, "%s: bad quoting (a closing '\"' must end the value; "
				 "escapes are \\\" and \\\\)", key);
	return mkl_option_set(cfg, o, v, 0, err);
}

/* A line that continues the value before it: it starts with white space
 * and holds something other than a comment. */
static int continues(const char *p, const char *end)
{
	if (p >= end || (*p != ' ' && *p != '\t'))
		return 0;
	while (p < end && *p != '\n' && isspace((unsigned char)*p))
		p++;
	return p < end && *p != '\n' && *p != '#' && *p != ';';
}

/* An indented comment inside a continued value: skipped. */
static int indented_comment(const char *p, const char *end)
{
	if (p >= end || (*p != ' ' && *p != '\t'))
		return 0;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p < end && (*p == '#' || *p == ';');
}

int mkl_config_parse(struct mkl_config *cfg, const char *name, const char *text, size_t len,
		     struct mkl_err *err)
{
	const char *p = text, *end = text + len, *nl;
	int sec = -1, lineno = 0, rc = 0;
	struct mkl_buf line = { 0 };

	for (; p < end && rc == 0; p = nl + 1) {
		int first = ++lineno, key;
		const char *s;

		if (!(nl = memchr(p, '\n', (size_t)(end - p))))
			nl = end;
		line.len = 0;
		rc = mkl_buf_sink(&line, p, (size_t)(nl - p), err);
		/* "key = value" and the lines that continue it, joined by a space */
		for (s = p; s < nl && isspace((unsigned char)*s); s++)
			;
		key = s < nl && *s != '[' && *s != '#' && *s != ';' && memchr(s, '=', (size_t)(nl - s));
		while (rc == 0 && key && nl < end && (continues(nl + 1, end) || indented_comment(nl + 1, end))) {
			const char *q = nl + 1;

			if (!(nl = memchr(q, '\n', (size_t)(end - q))))
				nl = end;
			lineno++;
			while (q < nl && (*q == ' ' || *q == '\t'))
				q++;
			if (*q != '#' && *q != ';')
				rc = mkl_buf_sink(&line, " ", 1, err) ||
				     mkl_buf_sink(&line, q, (size_t)(nl - q), err);
		}
		if (rc == 0)
			rc = mkl_buf_sink(&line, "", 1, err);
		if (rc)
			break;
		if (memchr(line.data, '\0', line.len - 1))
			rc = mkl_error(err, 0, "a NUL byte in the line");
		else
			rc = parse_line(cfg, &sec, (char *)line.data, err);
		if (rc)
			mkl_err_prefix(err, "%s:%d", name, first);
	}
	mkl_buf_free(&line);
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
