/* mmdebstrap's command line for a recipe (see recipe.h and the top of
 * recipe.c): the suite, the host's archive sources, packages, hooks, the
 * package cache's directory; and the string helpers recipe.c shares. */
#include "source/recipe_argv.h"
#include "source/internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tree/io.h"
#include "tree/run.h"

/* --- words and strings --- */

/* The next word of s (separated by spaces, tabs, newlines or commas):
 * its start and length, or 0 at the end. */
size_t recipe_next_word(const char **s, const char **word)
{
	const char *p = *s;
	size_t n = 0;

	while (*p && (isspace((unsigned char)*p) || *p == ','))
		p++;
	*word = p;
	while (p[n] && !isspace((unsigned char)p[n]) && p[n] != ',')
		n++;
	*s = p + n;
	return n;
}

struct argv {
	char **v;
	size_t n, cap;
	int failed;
};

static void add(struct argv *a, char *s)	/* takes s over */
{
	if (!s || a->failed) {
		free(s);
		a->failed = 1;
		return;
	}
	if (a->n + 2 > a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 32;
		char **v = realloc(a->v, cap * sizeof(*v));

		if (!v) {
			free(s);
			a->failed = 1;
			return;
		}
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

char *recipe_fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
char *recipe_fmt(const char *f, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, f);
	n = vasprintf(&s, f, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

/* s in single quotes for sh -c: ' becomes '\''. */
static char *shell_quote(const char *s)
{
	size_t n = 3;
	char *q, *o;

	for (const char *p = s; *p; p++)
		n += *p == '\'' ? 4 : 1;
	if (!(q = malloc(n)))
		return NULL;
	o = q;
	*o++ = '\'';
	for (const char *p = s; *p; p++) {
		if (*p == '\'') {
			memcpy(o, "'\\''", 4);
			o += 4;
		} else {
			*o++ = *p;
		}
	}
	*o++ = '\'';
	*o = '\0';
	return q;
}

void recipe_argv_free(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

/* --- the host's sources --- */

/* What argv prints (standard output and error), NUL-terminated, in a
 * malloc'd string; NULL when it cannot be run or fails. */
char *recipe_capture(const char *const argv[])
{
	struct mkl_buf out = { 0 };
	struct mkl_err ignored;

	if (mkl_run(argv, NULL, &out, &ignored) || mkl_buf_sink(&out, "", 1, &ignored)) {
		mkl_buf_free(&out);
		return NULL;
	}
	return (char *)out.data;
}

/* The host's archive sources, as apt sees them (one-line and deb822
 * files alike): each URI that serves the host's release (a release name
 * without '-') once, and its -updates and -security siblings when suite
 * is the host's own release. Lines "deb URI SUITE COMPONENTS" into a;
 * none when apt has none (mmdebstrap then uses deb.debian.org). */
static void host_sources(struct argv *a, const char *suite, const char *comps)
{
	const char *argv[] = { "apt-get", "indextargets", "--format", "$(REPO_URI) $(RELEASE)",
			       "Created-By: Packages", NULL };
	char base[64] = "", *out = recipe_capture(argv);

	if (!out)
		return;
	/* the host's release: a RELEASE without '-' */
	for (char *l = out; *l && !base[0]; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l)) {
		char uri[512], rel[64];

		if (sscanf(l, "%511s %63s", uri, rel) == 2 && strstr(uri, "://") && !strchr(rel, '-'))
			snprintf(base, sizeof(base), "%s", rel);
	}
	if (!base[0]) {
		free(out);
		return;
	}
	for (char *l = out; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l)) {
		char uri[512], rel[64], *line;
		const char *tail = NULL;

		if (sscanf(l, "%511s %63s", uri, rel) != 2 || !strstr(uri, "://"))
			continue;	/* a warning of apt's, not a target */
		if (!strcmp(rel, base))
			tail = "";
		else if (!strncmp(rel, base, strlen(base)) && rel[strlen(base)] == '-' &&
			 !strcmp(suite, base))
			tail = rel + strlen(base);
		if (!tail)
			continue;
		line = recipe_fmt("deb %s %s%s %s", uri, suite, tail, comps);
		for (size_t i = 0; line && i < a->n; i++)
			if (!strcmp(a->v[i], line)) {	/* one target per component */
				free(line);
				line = NULL;
				break;
			}
		if (line)
			add(a, line);
	}
	free(out);
}

/* --- the command line --- */

static char *joined(const char *list, char sep)
{
	const char *s = list, *w;
	size_t n, len = 0;
	char *out = malloc(strlen(list) + 1);

	if (!out)
		return NULL;
	while ((n = recipe_next_word(&s, &w))) {
		if (len)
			out[len++] = sep;
		memcpy(out + len, w, n);
		len += n;
	}
	out[len] = '\0';
	return out;
}

static int has_kernel(const char *packages)
{
	const char *s = packages ? packages : "", *w;
	size_t n;

	while ((n = recipe_next_word(&s, &w)))
		if (n > 12 && !strncmp(w, "linux-image-", 12))
			return 1;
	return 0;
}

/* Where the recipe's packages are kept: CACHE/SUITE-ARCH-KEY. */
static char *cache_dir(const struct mkl_recipe *r, char **sources, size_t nsources)
{
	uint64_t h = MKL_HASH_INIT;

	for (size_t i = 0; i < nsources; i++)
		mkl_hash_bytes(&h, sources[i], strlen(sources[i]) + 1);
	mkl_hash_bytes(&h, r->architecture ? r->architecture : "", strlen(r->architecture ? r->architecture : "") + 1);
	return recipe_fmt("%s/%s-%s-%016llx", r->cache, r->suite, r->architecture ? r->architecture : "host",
		   (unsigned long long)h);
}

/* Lists kept from an earlier build: apt names them after their URIs,
 * e.g. deb.debian.org_debian_dists_bookworm_InRelease. */
static int has_lists(const char *dir)
{
	char *p = recipe_fmt("%s/lists", dir);
	DIR *d = p ? opendir(p) : NULL;
	struct dirent *e;
	int yes = 0;

	while (d && !yes && (e = readdir(d)))
		yes = strstr(e->d_name, "_dists_") != NULL;
	if (d)
		closedir(d);
	free(p);
	return yes;
}

/* The command line, and the recipe's cache directory in *dir (NULL
 * without a cache). */
char **recipe_make_argv(const struct mkl_recipe *r, char **dir_out, struct mkl_err *err)
{
	struct argv a = { 0 }, src = { 0 };
	const char *comps = r->components ? r->components : "main";
	char *cjoined = joined(comps, ' '), *dir = NULL, *q;
	const char *s, *w;
	size_t n;

	if (!cjoined) {
		mkl_error(err, ENOMEM, "out of memory");
		return NULL;
	}
	/* the sources first: the cache is keyed by them */
	if (r->mirror) {
		s = r->mirror;
		while ((n = recipe_next_word(&s, &w)))
			add(&src, recipe_fmt("deb %.*s %s %s", (int)n, w, r->suite, cjoined));
	} else {
		host_sources(&src, r->suite, cjoined);
	}
	add(&a, strdup(r->program ? r->program : "mmdebstrap"));
	add(&a, recipe_fmt("--variant=%s", r->variant ? r->variant : "minbase"));
	add(&a, strdup("--format=tar"));
	if (r->architecture)
		add(&a, recipe_fmt("--architectures=%s", r->architecture));
	if ((q = joined(comps, ',')))
		add(&a, recipe_fmt("--components=%s", q));
	else
		a.failed = 1;
	free(q);
	/* no fsync per unpacked file: the tree is thrown away if anything
	 * fails (the setting leaves with the last hook below) */
	add(&a, strdup("--dpkgopt=force-unsafe-io"));
	if (r->packages && (q = joined(r->packages, ','))) {
		if (*q)
			add(&a, recipe_fmt("--include=%s", q));
		free(q);
	}
	if (!has_kernel(r->packages))	/* a live system boots its own kernel */
		add(&a, recipe_fmt("--include=linux-image-%s", r->architecture ? r->architecture : "amd64"));
	/* where the tree is made, for a writer that compresses ahead */
	add(&a, strdup("--setup-hook=echo \"" TREE_MARK "$1\" >&2"));
	if (r->cache && !src.failed) {
		dir = cache_dir(r, src.v, src.n);
		if (dir) {
			add(&a, strdup("--skip=essential/unlink"));
			add(&a, recipe_fmt("--setup-hook=mkdir -p \"$1\"/var/cache/apt/archives \"$1\"/var/lib/apt/lists"));
			add(&a, recipe_fmt("--setup-hook=sync-in %s/archives /var/cache/apt/archives/", dir));
			if (!r->refresh && has_lists(dir)) {
				add(&a, recipe_fmt("--setup-hook=sync-in %s/lists /var/lib/apt/lists/", dir));
				add(&a, strdup("--skip=update"));
			}
			/* sync-in copies the cache's owner in: the user's own uid in
			 * unshare mode, which would stay on the directories */
			add(&a, recipe_fmt("--setup-hook=chown -R 0:0 \"$1\"/var/cache/apt/archives \"$1\"/var/lib/apt/lists"));
			add(&a, recipe_fmt("--customize-hook=sync-out /var/cache/apt/archives %s/archives", dir));
			add(&a, recipe_fmt("--customize-hook=sync-out /var/lib/apt/lists %s/lists", dir));
		} else {
			a.failed = 1;
		}
	}
	if (r->include) {
		/* Over the tree, owned by root; what the tree already has keeps
		 * its owner and group (directories their mode too), and
		 * symlinks to directories (/lib -> usr/lib) stay. The owners of
		 * the paths the include replaces are noted first (stat, NUL-
		 * separated "uid:gid" and "./path" pairs) and given back after. */
		q = shell_quote(r->include);
		add(&a, q ? recipe_fmt("--customize-hook=o=$(mktemp) && "
				"{ (cd %s && find . -mindepth 1 ! -type d -printf './%%P\\0') | "
				"(cd \"$1\" && xargs -0r stat --printf '%%u:%%g\\0%%n\\0' -- 2>/dev/null >\"$o\"); "
				"tar -C %s --owner=0 --group=0 --numeric-owner -cf - . | "
				"tar -C \"$1\" -xf - --keep-directory-symlink --no-overwrite-dir && "
				"(cd \"$1\" && xargs -0r -n 2 chown -h <\"$o\"); }; rc=$?; rm -f \"$o\"; exit $rc",
				q, q) : NULL);
		free(q);
	}
	s = r->hooks ? r->hooks : "";
	while ((n = recipe_next_word(&s, &w)))
		add(&a, recipe_fmt("--customize-hook=%.*s", (int)n, w));
	add(&a, strdup("--customize-hook=rm -f \"$1\"/etc/dpkg/dpkg.cfg.d/99mmdebstrap"));
	add(&a, strdup(r->suite));
	add(&a, strdup("-"));
	for (size_t i = 0; i < src.n; i++)
		add(&a, strdup(src.v[i]));
	free(cjoined);
	recipe_argv_free(src.v);
	if (a.failed || src.failed) {
		free(dir);
		recipe_argv_free(a.v);
		mkl_error(err, ENOMEM, "out of memory");
		return NULL;
	}
	*dir_out = dir;
	return a.v;
}

