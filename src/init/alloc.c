/*
 * malloc, calloc, realloc and free for the init, in place of musl's.
 *
 * A static link takes these when all four are defined here: musl then
 * leaves its own allocator (mallocng, 8 KB, a tenth of the init) out.
 * The init is one thread (its nbd server processes are forks, each with
 * its own copy) and allocates little: files read whole, the module and
 * alias tables, names while walking /sys or copying a tree, the nbd
 * server's block cache.
 *
 * Every block has a 16-byte header holding its size (what it can hold,
 * header not counted).  Small blocks are powers of two, 32 bytes to
 * 32 KiB with the header, carved from 256 KiB mmap'ed chunks; a freed one
 * goes on the free list of its size and is reused, never returned to the
 * kernel.  Larger blocks are mmap'ed each and munmap'ed when freed.  So
 * the waste is at most half a block, and a long copy_tree() that frees
 * what it allocated does not grow.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HDR		16
#define MIN_SHIFT	5		/* 32 bytes */
#define MAX_SHIFT	15		/* 32 KiB */
#define CHUNK		(256u << 10)

struct hdr {
	size_t size;			/* usable bytes after the header */
	size_t pad;			/* keeps the block 16-byte aligned */
};

static void *free_list[MAX_SHIFT + 1];
static char *chunk;
static size_t chunk_left;

static void *map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void *malloc(size_t n)
{
	struct hdr *h;
	size_t total;
	int k = MIN_SHIFT;

	if (n > SIZE_MAX / 2 - HDR - 4096) {
		errno = ENOMEM;
		return NULL;
	}
	while (k <= MAX_SHIFT && ((size_t)1 << k) < n + HDR)
		k++;
	if (k > MAX_SHIFT) {
		total = (n + HDR + 4095) & ~(size_t)4095;
		h = map(total);
	} else if (free_list[k]) {
		h = free_list[k];
		free_list[k] = *(void **)(h + 1);
		total = (size_t)1 << k;
	} else {
		total = (size_t)1 << k;
		if (chunk_left < total) {
			/* the rest of the old chunk is lost: at most 32 KiB */
			chunk = map(CHUNK);
			chunk_left = chunk ? CHUNK : 0;
		}
		h = NULL;
		if (chunk_left >= total) {
			h = (struct hdr *)chunk;
			chunk += total;
			chunk_left -= total;
		}
	}
	if (!h)
		return NULL;
	h->size = total - HDR;
	return h + 1;
}

void free(void *p)
{
	struct hdr *h;
	int k = MIN_SHIFT;

	if (!p)
		return;
	h = (struct hdr *)p - 1;
	if (h->size + HDR > (size_t)1 << MAX_SHIFT) {
		munmap(h, h->size + HDR);
		return;
	}
	while (((size_t)1 << k) < h->size + HDR)
		k++;
	*(void **)p = free_list[k];
	free_list[k] = h;
}

void *calloc(size_t n, size_t size)
{
	void *p;

	if (size && n > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	p = malloc(n * size);
	if (p)
		memset(p, 0, n * size);
	return p;
}

void *realloc(void *p, size_t n)
{
	void *q;

	if (!p)
		return malloc(n);
	if (n <= ((struct hdr *)p - 1)->size)
		return p;
	q = malloc(n);
	if (q) {
		memcpy(q, p, ((struct hdr *)p - 1)->size);
		free(p);
	}
	return q;
}
