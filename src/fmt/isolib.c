/* libisofs set-up, messages, streams and the write loop, shared by iso.c
 * and isotree.c. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* The copy of struct burn_source in libisofs.h (we do not use libburn). */
#define LIBISOFS_WITHOUT_LIBBURN 1
#include <libisofs/libisofs.h>

#include "fmt/isolib.h"

#define CHUNK_BLOCKS 32		/* 64 KiB per chunk call */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result;
static pthread_mutex_t msg_lock = PTHREAD_MUTEX_INITIALIZER;

static void setup_once(void)
{
	init_result = iso_init();
	if (init_result < 0)
		return;
	/* Queue what matters for error messages, print nothing. */
	iso_set_msgs_severities("SORRY", "NEVER", "libisofs");
	/* Names in the tree are UTF-8 bytes, whatever the locale says. */
	iso_set_local_charset("UTF-8", 0);
}

int mkl_isolib_setup(struct mkl_err *err)
{
	pthread_once(&init_once, setup_once);
	if (init_result < 0)
		return mkl_isolib_fail(err, init_result, "cannot start libisofs");
	mkl_isolib_drain(NULL, 0);
	return 0;
}

void mkl_isolib_drain(char *last, size_t size)
{
	char text[ISO_MSGS_MESSAGE_LEN], sev[80];
	int code, imgid;

	pthread_mutex_lock(&msg_lock);
	while (iso_obtain_msgs("ALL", &code, &imgid, text, sev) > 0) {
		if (last && (strcmp(sev, "SORRY") == 0 || strcmp(sev, "FAILURE") == 0 ||
			     strcmp(sev, "FATAL") == 0 || strcmp(sev, "ABORT") == 0))
			snprintf(last, size, "%s", text);
	}
	pthread_mutex_unlock(&msg_lock);
}

int mkl_isolib_fail(struct mkl_err *err, int ret, const char *what)
{
	return mkl_error(err, ret == (int)ISO_OUT_OF_MEM ? ENOMEM : 0, "%s: %s", what,
			 iso_error_to_msg(ret));
}

/* --- streams --- */

struct cbstream {
	const struct mkl_isolib_source *src;
	void *data;
	uint64_t size, pos;
	unsigned int fs_id;
	ino_t ino;
};

static int cb_open(IsoStream *s)
{
	struct cbstream *c = s->data;

	c->pos = 0;
	return c->src->open ? c->src->open(c->data) : 1;
}

static int cb_close(IsoStream *s)
{
	return 1;
}

static off_t cb_get_size(IsoStream *s)
{
	return (off_t)((struct cbstream *)s->data)->size;
}

static int cb_read(IsoStream *s, void *buf, size_t count)
{
	struct cbstream *c = s->data;
	int n;

	if (count > c->size - c->pos)
		count = (size_t)(c->size - c->pos);
	if (count > INT_MAX)
		count = INT_MAX & ~(size_t)2047;
	if (count == 0)
		return 0;
	n = c->src->read(c->data, c->pos, buf, count);
	if (n > 0)
		c->pos += (uint64_t)n;
	return n;
}

static int cb_is_repeatable(IsoStream *s)
{
	return 1;
}

static void cb_get_id(IsoStream *s, unsigned int *fs_id, dev_t *dev_id, ino_t *ino_id)
{
	struct cbstream *c = s->data;

	*fs_id = c->fs_id;
	*dev_id = 0;
	*ino_id = c->ino;
}

static void cb_free(IsoStream *s)
{
	struct cbstream *c = s->data;

	if (c->src->release)
		c->src->release(c->data);
	free(c);
}

static int cb_update_size(IsoStream *s)
{
	return 1;
}

static IsoStreamIface cb_class = {
	.version = 1,
	.type = "user",
	.open = cb_open,
	.close = cb_close,
	.get_size = cb_get_size,
	.read = cb_read,
	.is_repeatable = cb_is_repeatable,
	.get_id = cb_get_id,
	.free = cb_free,
	.update_size = cb_update_size,
};

IsoStream *mkl_isolib_stream(const struct mkl_isolib_source *src, void *data, uint64_t size,
			     unsigned int fs_id, ino_t ino, struct mkl_err *err)
{
	struct cbstream *c = mkl_calloc(1, sizeof(*c), err);
	IsoStream *s = c ? mkl_calloc(1, sizeof(*s), err) : NULL;

	if (!s) {
		free(c);
		if (src->release)
			src->release(data);
		return NULL;
	}
	c->src = src;
	c->data = data;
	c->size = size;
	c->fs_id = fs_id;
	c->ino = ino;
	s->class = &cb_class;
	s->refcount = 1;
	s->data = c;
	return s;
}

/* --- writing out --- */

int mkl_isolib_start(IsoImage *image, IsoWriteOpts *opts, struct burn_source **bs,
		     uint64_t *total, struct mkl_err *err)
{
	char last[ISO_MSGS_MESSAGE_LEN] = "";
	int ret = iso_image_create_burn_source(image, opts, bs);

	if (ret < 0) {
		*bs = NULL;
		mkl_isolib_drain(last, sizeof(last));
		return mkl_error(err, 0, "cannot start writing the ISO image: %s",
				 last[0] ? last : iso_error_to_msg(ret));
	}
	*total = (uint64_t)(*bs)->get_size(*bs);
	return 0;
}

int mkl_isolib_pump(struct burn_source *bs, uint64_t total, mkl_isolib_chunk_fn chunk,
		    void *ctx, struct mkl_err *err)
{
	size_t cap = (size_t)CHUNK_BLOCKS * 2048;
	unsigned char *buf = mkl_malloc(cap, err);
	uint64_t done = 0;
	int ret = -1;

	if (!buf)
		return -1;
	for (;;) {
		size_t fill = 0;
		int n = 0;

		if (mkl_cancelled()) {
			mkl_error(err, ECANCELED, "writing the ISO image: cancelled");
			goto out;
		}
		/* The burn source hands out whole 2 KiB blocks. */
		while (fill < cap) {
			n = bs->read_xt(bs, buf + fill, 2048);
			if (n <= 0)
				break;
			fill += (size_t)n;
		}
		if (chunk(ctx, buf, fill, done, err) < 0)
			goto out;
		if (n < 0) {
			char last[ISO_MSGS_MESSAGE_LEN] = "";

			mkl_isolib_drain(last, sizeof(last));
			mkl_error(err, EIO, "writing the ISO image: %s",
				  last[0] ? last : "libisofs failed");
			goto out;
		}
		done += fill;
		if (n == 0)
			break;
	}
	if (done != total) {
		mkl_error(err, EIO, "writing the ISO image: libisofs gave %llu bytes, not %llu",
			  (unsigned long long)done, (unsigned long long)total);
		goto out;
	}
	ret = 0;
out:
	free(buf);
	return ret;
}

void mkl_isolib_stop(struct burn_source *bs, int failed)
{
	if (!bs)
		return;
	/* Stops and joins libisofs's writer thread if it still runs. */
	if (failed && bs->cancel)
		bs->cancel(bs);
	bs->free_data(bs);
	free(bs);
}
