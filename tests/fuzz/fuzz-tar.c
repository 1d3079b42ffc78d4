/* libFuzzer harness: tar input, our side of it (src/source/tar.c and
 * source.c over libarchive): entry handling, path normalisation, hard
 * links, xattrs and content, fed into a tree (src/tree/tree.c) as the build
 * feeds it (build.c, pass_source).
 *
 * The input is the archive (any format and compression the reader takes),
 * opened by path through an in-memory file. Every path handed out must be
 * normalised: relative, no "." or ".." components, no empty ones. Reading
 * stops after a budget of decompressed bytes, so that a small input that
 * expands a thousandfold costs bounded time.
 *
 * libarchive drops a header whose checksum is wrong, and a random change
 * to a header almost always makes it wrong: the mutator below writes the
 * checksums of an uncompressed archive's headers again after each change,
 * so that changed names, types, sizes and links reach our code. */
#include <string.h>

#include "fuzz.h"
#include "source/source.h"
#include "tree/tree.h"

#define BUDGET	(8u << 20)	/* decompressed bytes (content and headers) per input */

static void check_normalised(const char *p)
{
	const char *c = p;

	FUZZ_CHECK(strlen(p) < 4096);
	if (!*p)
		return;
	FUZZ_CHECK(p[0] != '/' && p[strlen(p) - 1] != '/');
	for (;;) {
		size_t n = strcspn(c, "/");

		FUZZ_CHECK(n > 0 && n <= 255);
		FUZZ_CHECK(!(n == 1 && c[0] == '.'));
		FUZZ_CHECK(!(n == 2 && c[0] == '.' && c[1] == '.'));
		if (!c[n])
			break;
		c += n + 1;
	}
}

static int count_node(void *ctx, struct mkl_node *n, struct mkl_err *err)
{
	char *p = mkl_node_path(n);

	FUZZ_CHECK(p != NULL);
	check_normalised(p);
	FUZZ_CHECK(!n->link || !n->link->link);
	free(p);
	(*(size_t *)ctx)++;
	return 0;
}

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);

/* A header's size field: octal text, or base-256 with the top bit set. */
static uint64_t header_size(const uint8_t *h)
{
	uint64_t v = 0;
	int i;

	if (h[124] & 0x80) {
		for (i = 128; i < 136; i++)
			v = v << 8 | h[i];
		return v;
	}
	for (i = 124; i < 136 && h[i] >= '0' && h[i] <= '7'; i++)
		v = v << 3 | (uint64_t)(h[i] - '0');
	return v;
}

/* Walk the headers of a plain tar and set each one's checksum. */
static void fix_checksums(uint8_t *data, size_t size)
{
	size_t pos = 0;

	while (pos + 512 <= size) {
		uint8_t *h = data + pos;
		unsigned sum = 0;
		uint64_t len;
		int i;

		for (i = 0; i < 512 && !h[i]; i++)
			;
		if (i == 512)
			break;		/* the end-of-archive blocks */
		for (i = 0; i < 512; i++)
			sum += i >= 148 && i < 156 ? ' ' : h[i];
		snprintf((char *)h + 148, 8, "%06o", sum & 0777777);
		h[155] = ' ';
		pos += 512;
		/* entries whose content follows the header */
		if (h[156] && !strchr("07xgLKSA", h[156]))
			continue;
		len = header_size(h);
		if (len > size)
			break;
		pos += (size_t)(len + 511) / 512 * 512;
	}
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
	(void)seed;
	size = LLVMFuzzerMutate(data, size, max_size);
	fix_checksums(data, size);
	return size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char buf[65536];
	struct mkl_source *src = NULL;
	struct mkl_source_entry e;
	struct mkl_tree *tree;
	struct mkl_err err;
	uint64_t used = 0, got, done, total;
	size_t nodes = 0;
	char path[64];
	long n = 0;
	int r;

	fuzz_memfd(data, size, path, sizeof(path));
	tree = mkl_tree_create(&err);
	FUZZ_CHECK(tree != NULL);
	if (mkl_source_open(path, &src, &err) < 0)
		goto out;
	while (used < BUDGET && (r = mkl_source_next(src, &e, &err)) == 1) {
		struct mkl_node *node;
		const struct mkl_xattr *x;

		used += 512;
		check_normalised(e.path);
		for (x = e.st.xattrs; x; x = x->next)
			FUZZ_CHECK(x->name && (x->value || !x->size));
		if (e.hardlink) {
			check_normalised(e.hardlink);
			if (mkl_tree_add_hardlink(tree, e.path, e.hardlink, &node, &err))
				break;
			continue;
		}
		if (mkl_tree_add(tree, e.path, &e.st, &node, &err))
			break;
		if (!mkl_is_reg(node))
			continue;
		/* the content: exactly st.size bytes, or an error */
		for (got = 0; used < BUDGET; got += (uint64_t)n, used += (uint64_t)n) {
			n = mkl_source_read(src, buf, sizeof(buf), &err);
			if (n <= 0)
				break;
		}
		if (used < BUDGET && n == 0)
			FUZZ_CHECK(got == e.st.size);
		if (used < BUDGET && n < 0)
			break;
		mkl_source_progress(src, &done, &total);
	}
	if (mkl_tree_finish(tree, &err) == 0 && mkl_tree_walk(tree, count_node, &nodes, &err) == 0)
		FUZZ_CHECK(nodes == mkl_tree_count(tree));
out:
	mkl_source_close(src);
	mkl_tree_destroy(tree);
	return 0;
}
