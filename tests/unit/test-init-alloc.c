/* The init's allocator (src/init/alloc.c), under other names so that this
 * program keeps the host's malloc: sizes across every class and the
 * mmap'ed ones, contents kept by realloc, alignment, calloc zeroing a
 * reused block, freed blocks reused rather than the memory growing. */
#include <stdint.h>

#include "t.h"

#define malloc init_malloc
#define calloc init_calloc
#define realloc init_realloc
#define free init_free
void *init_malloc(size_t n);
void *init_calloc(size_t n, size_t size);
void *init_realloc(void *p, size_t n);
void init_free(void *p);
#include "init/alloc.c"
#undef malloc
#undef calloc
#undef realloc
#undef free

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static size_t rnd(size_t max)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (size_t)(rng % max);
}

#define SLOTS 512

int main(void)
{
	static unsigned char *p[SLOTS];
	static size_t len[SLOTS];
	size_t i, k, sizes[] = { 0, 1, 15, 16, 17, 31, 32, 48, 100, 4096, 4097, 32752,
				 32753, 65536, 1 << 20, (4u << 20) + 3 };
	int bad = 0, misaligned = 0;
	unsigned char *a, *b;

	/* every size: aligned, writable to its end, freed */
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		a = init_malloc(sizes[i]);
		T_OK(a != NULL, "malloc(%zu)", sizes[i]);
		if (!a)
			continue;
		T_OK(((uintptr_t)a & 15) == 0, "malloc(%zu) = %p: 16-byte aligned", sizes[i], (void *)a);
		memset(a, 0xa5, sizes[i]);
		init_free(a);
	}
	init_free(NULL);

	/* a freed small block is the next one of its size */
	a = init_malloc(200);
	init_free(a);
	b = init_malloc(220);
	T_OK(a == b, "a freed 256-byte block is reused (%p, %p)", (void *)a, (void *)b);

	/* calloc zeroes a reused block */
	memset(b, 0xff, 220);
	init_free(b);
	b = init_calloc(10, 22);
	for (k = 0; b && k < 220; k++)
		bad += b[k] != 0;
	T_OK(b && !bad, "calloc on a reused block: %d bytes not zero", bad);
	init_free(b);
	T_OK(init_calloc(SIZE_MAX / 2, 4) == NULL, "calloc overflow refused");
	T_OK(init_malloc(SIZE_MAX - 8) == NULL, "malloc(SIZE_MAX - 8) refused");

	/* realloc keeps the contents, small to big (mmap'ed) and back */
	a = init_malloc(10);
	memcpy(a, "0123456789", 10);
	for (k = 20; a && k < (3u << 20); k *= 3) {
		a = init_realloc(a, k);
		bad = !a || memcmp(a, "0123456789", 10) != 0;
		if (bad)
			break;
	}
	T_OK(!bad, "realloc keeps the first bytes up to %zu", k);
	a = init_realloc(a, 5);
	T_OK(a && memcmp(a, "01234", 5) == 0, "realloc to less keeps the block");
	init_free(a);
	T_OK(init_realloc(NULL, 33) != NULL, "realloc(NULL, n) allocates");

	/* random churn: every block keeps its own pattern */
	bad = 0;
	for (i = 0; i < 200000; i++) {
		k = rnd(SLOTS);
		if (p[k]) {
			for (size_t j = 0; j < len[k]; j++)
				bad += p[k][j] != (unsigned char)(k + j);
			if (rnd(3) == 0) {
				size_t n = rnd(rnd(10) == 0 ? 100000 : 3000);

				p[k] = init_realloc(p[k], n);
				if (n > len[k])
					for (size_t j = len[k]; j < n; j++)
						p[k][j] = (unsigned char)(k + j);
				len[k] = n;
				continue;
			}
			init_free(p[k]);
			p[k] = NULL;
			continue;
		}
		len[k] = rnd(rnd(10) == 0 ? 100000 : 3000);
		p[k] = init_malloc(len[k]);
		if (!p[k]) {
			bad++;
			continue;
		}
		misaligned += ((uintptr_t)p[k] & 15) != 0;
		for (size_t j = 0; j < len[k]; j++)
			p[k][j] = (unsigned char)(k + j);
	}
	T_OK(!bad, "200000 mallocs, reallocs and frees: %d bytes wrong", bad);
	T_OK(!misaligned, "%d blocks not 16-byte aligned", misaligned);
	for (k = 0; k < SLOTS; k++)
		init_free(p[k]);

	/* freeing and allocating again does not take new chunks */
	a = NULL;
	for (i = 0; i < 1000; i++) {
		if (i == 1)
			a = (unsigned char *)chunk;
		for (k = 0; k < 64; k++)
			p[k] = init_malloc(k * 251);
		for (k = 0; k < 64; k++)
			init_free(p[k]);
	}
	T_OK(chunk == (char *)a, "64 blocks allocated and freed 1000 times: no new chunk");
	return t_done();
}
