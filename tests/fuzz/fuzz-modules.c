/* libFuzzer harness: the builder's reading of the input tree's module
 * lists (mkl_modules_select in src/pipeline/modules.c): modules.dep,
 * modules.alias and modules.builtin as depmod wrote them in the tree we are
 * given, filtered for the initramfs.
 *
 * Input: modules.dep, a NUL byte, modules.alias, a NUL byte,
 * modules.builtin (missing parts are empty). The modules wanted are the
 * builder's own list. What is picked must come from modules.dep, and the
 * filtered texts must be whole lines of the inputs. */
#include <string.h>

#include "pipeline/modules.h"
#include "fuzz.h"

static const char *part(const char **p, const char *end, size_t *len)
{
	const char *s = *p, *z;

	if (s >= end) {
		*len = 0;
		return end;
	}
	z = memchr(s, 0, (size_t)(end - s));
	*len = (size_t)((z ? z : end) - s);
	*p = z ? z + 1 : end;
	return s;
}

static int has(const char *text, size_t len, const char *s, size_t n)
{
	return memmem(text, len, s, n) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *dep, *alias, *bi, *l, *nl;
	size_t dlen, alen, blen, i;
	struct mkl_modsel sel;
	struct mkl_err err;

	dep = part(&p, end, &dlen);
	alias = part(&p, end, &alen);
	bi = part(&p, end, &blen);
	if (mkl_modules_select(dep, dlen, alias, alen, bi, blen, mkl_boot_modules, &sel, &err))
		return 0;
	for (i = 0; i < sel.npaths; i++)
		FUZZ_CHECK(has(dep, dlen, sel.paths[i], strlen(sel.paths[i])));
	FUZZ_CHECK(sel.dep_text && strlen(sel.dep_text) == sel.dep_len);
	FUZZ_CHECK(sel.alias_text && sel.alias_len && strlen(sel.alias_text) <= sel.alias_len);
	for (l = sel.dep_text; *l; l = nl + 1) {
		nl = strchr(l, '\n');
		FUZZ_CHECK(nl != NULL);
		FUZZ_CHECK(has(dep, dlen, l, (size_t)(nl - l)));
	}
	mkl_modsel_free(&sel);
	return 0;
}
