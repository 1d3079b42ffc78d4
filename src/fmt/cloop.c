/* cloop V2.0/V4.0 writer and reader (see cloop.h, cloop_format.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec/block.h"
#include "fmt/cloop.h"
#include "tree/io.h"
#include "tree/outfile.h"

/* ---- shared helpers ---- */

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static void put_be64(unsigned char *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static uint32_t get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const unsigned char *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

const char *mkl_cloop_codec_name(unsigned c)
{
	static const char *const names[] = { "zlib", "none", "xz", "lz4", "lzo" };

	return c < sizeof(names) / sizeof(names[0]) ? names[c] : "unknown";
}

static int cloop_codec_of(enum mkl_codec_id id)
{
	switch (id) {
	case MKL_CODEC_GZIP: return MKL_CLOOP_ZLIB;
	case MKL_CODEC_NONE: return MKL_CLOOP_NONE;
	case MKL_CODEC_XZ: return MKL_CLOOP_XZ;
	case MKL_CODEC_LZ4: return MKL_CLOOP_LZ4;
	default: return -1;
	}
}

/* ---- writer ---- */

enum { SLOT_FREE, SLOT_FILLED, SLOT_BUSY, SLOT_DONE };

struct slot {
	unsigned char *in;	/* block_size bytes */
	unsigned char *out;	/* w->out_cap bytes */
	size_t out_len;
	unsigned codec;		/* cloop codec number of out */
	int state;
};

struct worker {
	struct mkl_cloop_writer *w;
	struct mkl_bcomp *comp;
	pthread_t tid;
	int started;
};

struct mkl_cloop_writer {
	int version;
	enum mkl_codec_id codec;
	int level;
	uint32_t bs;
	int out_fd;
	off_t base;		/* out_fd's position at create: the image starts here */
	int data_fd;		/* out_fd (direct) or the spool */
	int spool_fd;
	int direct;
	uint64_t max_blocks;	/* direct: the table space reserved */
	uint64_t expected;
	uint64_t data_pos;	/* block bytes written so far */
	uint64_t *table;	/* relative offset | codec << 60, per block */
	size_t table_cap;
	uint32_t nblocks;
	uint64_t input_bytes;
	uint32_t per_codec[16];

	size_t out_cap;
	struct slot *slots;
	unsigned nslots;
	uint64_t next_fill, next_take, next_write;
	size_t fill_len;

	pthread_mutex_t mu;
	pthread_cond_t work, done;
	int sync_ready;
	struct worker *workers;
	unsigned nworkers;
	int stop;
	int failed;		/* a worker failed: werr */
	struct mkl_err werr;
	int finished;
};

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	struct mkl_cloop_writer *w = wk->w;
	struct mkl_err err = { 0 };

	pthread_mutex_lock(&w->mu);
	for (;;) {
		struct slot *s = &w->slots[w->next_take % w->nslots];
		size_t len = 0;
		int ret;

		if (w->stop)
			break;
		if (s->state != SLOT_FILLED) {
			pthread_cond_wait(&w->work, &w->mu);
			continue;
		}
		s->state = SLOT_BUSY;
		w->next_take++;
		pthread_mutex_unlock(&w->mu);

		ret = mkl_bcomp_run(wk->comp, s->in, w->bs, s->out, w->out_cap, &len, &err);
		if (ret == 0) {
			s->out_len = len;
			s->codec = (unsigned)cloop_codec_of(w->codec);
			/* V4.0: a block that does not shrink is stored. */
			if (w->version == 4 && s->codec != MKL_CLOOP_NONE && len >= w->bs) {
				memcpy(s->out, s->in, w->bs);
				s->out_len = w->bs;
				s->codec = MKL_CLOOP_NONE;
			}
		}

		pthread_mutex_lock(&w->mu);
		if (ret && !w->failed) {
			w->failed = 1;
			w->werr = err;
		}
		s->state = SLOT_DONE;
		pthread_cond_broadcast(&w->done);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static void stop_workers(struct mkl_cloop_writer *w)
{
	if (!w->sync_ready)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_broadcast(&w->work);
	pthread_mutex_unlock(&w->mu);
	for (unsigned i = 0; i < w->nworkers; i++) {
		if (w->workers[i].started)
			pthread_join(w->workers[i].tid, NULL);
		w->workers[i].started = 0;
	}
}

void mkl_cloop_writer_destroy(struct mkl_cloop_writer *w)
{
	if (!w)
		return;
	stop_workers(w);
	if (w->workers)
		for (unsigned i = 0; i < w->nworkers; i++)
			mkl_bcomp_destroy(w->workers[i].comp);
	if (w->slots)
		for (unsigned i = 0; i < w->nslots; i++) {
			free(w->slots[i].in);
			free(w->slots[i].out);
		}
	if (w->sync_ready) {
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->work);
		pthread_cond_destroy(&w->done);
	}
	if (w->spool_fd >= 0)
		close(w->spool_fd);
	free(w->workers);
	free(w->slots);
	free(w->table);
	free(w);
}

int mkl_cloop_check_opts(const struct mkl_cloop_opts *o, struct mkl_err *err)
{
	int version = o->version ? o->version : 2;
	uint32_t bs = o->block_size ? o->block_size : MKL_CLOOP_DEFAULT_BLOCK;
	int level = o->level ? o->level : o->codec == MKL_CODEC_GZIP ? 9 : mkl_codec_default_level(o->codec);

	if (version != 2 && version != 4)
		return mkl_error(err, 0, "cloop format version %d is not supported (2 or 4)", version);
	if (cloop_codec_of(o->codec) < 0)
		return mkl_error(err, 0, "cloop: %s blocks are not supported (zlib, xz, lz4, none)",
				 mkl_codec_name(o->codec));
	if (version == 2 && o->codec != MKL_CODEC_GZIP)
		return mkl_error(err, 0, "cloop V2.0 blocks are zlib only (%s needs V4.0)",
				 mkl_codec_name(o->codec));
	if (bs % MKL_CLOOP_BLOCK_ALIGN || bs > MKL_CLOOP_MAX_BLOCK)
		return mkl_error(err, 0, "cloop block size %u is not a multiple of 512 from 512 to 64 MiB",
				 bs);
	if (o->codec != MKL_CODEC_NONE && mkl_codec_check_level(o->codec, level, err))
		return -1;
	return 0;
}

int mkl_cloop_create(int out_fd, const struct mkl_cloop_opts *o, struct mkl_cloop_writer **out,
		     struct mkl_err *err)
{
	struct mkl_cloop_writer *w;
	struct stat st;
	unsigned threads = o->threads;
	long cores;

	*out = NULL;
	w = mkl_calloc(1, sizeof(*w), err);
	if (!w)
		return -1;
	w->spool_fd = -1;
	w->out_fd = out_fd;
	w->version = o->version ? o->version : 2;
	w->codec = o->codec;
	w->bs = o->block_size ? o->block_size : MKL_CLOOP_DEFAULT_BLOCK;
	w->level = o->level ? o->level : w->codec == MKL_CODEC_GZIP ? 9 : mkl_codec_default_level(w->codec);
	if (mkl_cloop_check_opts(o, err))
		goto fail;
	if (threads == 0) {
		cores = sysconf(_SC_NPROCESSORS_ONLN);
		threads = cores > 0 ? (unsigned)cores : 1;
	}
	if (threads > 256)
		threads = 256;

	/* Where the blocks go. */
	w->base = lseek(out_fd, 0, SEEK_CUR);
	if (o->size_known && w->base >= 0 && fstat(out_fd, &st) == 0 && S_ISREG(st.st_mode)) {
		w->expected = o->expected_size;
		w->max_blocks = (o->expected_size + w->bs - 1) / w->bs;
		if (w->max_blocks >= UINT32_MAX) {
			mkl_error(err, EFBIG, "cloop: %llu bytes in %u-byte blocks are too many blocks",
				  (unsigned long long)o->expected_size, w->bs);
			goto fail;
		}
		w->direct = 1;
		w->data_fd = out_fd;
		if (lseek(out_fd, w->base + MKL_CLOOP_HEADER_SIZE + (off_t)(w->max_blocks + 1) * 8,
			  SEEK_SET) < 0) {
			mkl_error(err, errno, "cannot seek in the cloop output");
			goto fail;
		}
	} else {
		if (mkl_scratch_open_in(o->spool_dir, &w->spool_fd, err))
			goto fail;
		w->data_fd = w->spool_fd;
	}

	/* The ring and the workers. */
	w->out_cap = mkl_block_bound(w->codec, w->bs);
	if (w->out_cap < w->bs)
		w->out_cap = w->bs;
	w->nworkers = threads;
	w->nslots = threads * 4;
	w->slots = mkl_calloc(w->nslots, sizeof(*w->slots), err);
	w->workers = w->slots ? mkl_calloc(w->nworkers, sizeof(*w->workers), err) : NULL;
	if (!w->workers)
		goto fail;
	for (unsigned i = 0; i < w->nslots; i++) {
		w->slots[i].in = mkl_malloc(w->bs, err);
		w->slots[i].out = w->slots[i].in ? mkl_malloc(w->out_cap, err) : NULL;
		if (!w->slots[i].out)
			goto fail;
	}
	for (unsigned i = 0; i < w->nworkers; i++)
		if (mkl_bcomp_create(w->codec, w->level, o->exact ? MKL_BLOCK_EXACT : 0,
				     &w->workers[i].comp, err))
			goto fail;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->work, NULL);
	pthread_cond_init(&w->done, NULL);
	w->sync_ready = 1;
	for (unsigned i = 0; i < w->nworkers; i++) {
		int e;

		w->workers[i].w = w;
		e = pthread_create(&w->workers[i].tid, NULL, worker_main, &w->workers[i]);
		if (e) {
			mkl_error(err, e, "cannot start a compression thread");
			goto fail;
		}
		w->workers[i].started = 1;
	}
	*out = w;
	return 0;
fail:
	mkl_cloop_writer_destroy(w);
	return -1;
}

/* Wait for the oldest block in flight and write it out. */
static int write_next(struct mkl_cloop_writer *w, struct mkl_err *err)
{
	struct slot *s = &w->slots[w->next_write % w->nslots];

	pthread_mutex_lock(&w->mu);
	while (s->state != SLOT_DONE && !w->failed)
		pthread_cond_wait(&w->done, &w->mu);
	if (w->failed) {
		*err = w->werr;
		pthread_mutex_unlock(&w->mu);
		return mkl_err_prefix(err, "cloop block %llu", (unsigned long long)w->next_write);
	}
	pthread_mutex_unlock(&w->mu);

	if (w->nblocks == w->table_cap) {
		size_t cap = w->table_cap ? w->table_cap * 2 : 1024;
		uint64_t *t = realloc(w->table, cap * sizeof(*t));

		if (!t)
			return mkl_error(err, ENOMEM, "out of memory");
		w->table = t;
		w->table_cap = cap;
	}
	if (mkl_write_all(w->data_fd, s->out, s->out_len,
			  w->direct ? "the cloop output" : "the cloop spool file", err))
		return -1;
	w->table[w->nblocks++] = MKL_CLOOP_ENTRY(w->data_pos, s->codec);
	w->per_codec[s->codec]++;
	w->data_pos += s->out_len;
	pthread_mutex_lock(&w->mu);
	s->state = SLOT_FREE;
	pthread_mutex_unlock(&w->mu);
	w->next_write++;
	return 0;
}

static int submit(struct mkl_cloop_writer *w, struct mkl_err *err)
{
	struct slot *s = &w->slots[w->next_fill % w->nslots];

	if (w->direct && w->next_fill >= w->max_blocks)
		return mkl_error(err, EINVAL, "cloop: the input is larger than the %llu bytes expected",
				 (unsigned long long)w->expected);
	if (w->next_fill >= UINT32_MAX - 1)
		return mkl_error(err, EFBIG, "cloop: too many blocks");
	pthread_mutex_lock(&w->mu);
	s->state = SLOT_FILLED;
	w->next_fill++;
	pthread_cond_broadcast(&w->work);
	pthread_mutex_unlock(&w->mu);
	w->fill_len = 0;
	return 0;
}

int mkl_cloop_write(void *writer, const void *buf, size_t len, struct mkl_err *err)
{
	struct mkl_cloop_writer *w = writer;
	const unsigned char *p = buf;

	if (w->finished)
		return mkl_error(err, EINVAL, "cloop: write after finish");
	while (len > 0) {
		struct slot *s = &w->slots[w->next_fill % w->nslots];
		size_t n;

		if (w->fill_len == 0) {
			if (mkl_cancelled())
				return mkl_error(err, ECANCELED, "cancelled");
			/* The slot is free once its previous block is written. */
			while (w->next_write + w->nslots <= w->next_fill)
				if (write_next(w, err))
					return -1;
		}
		n = w->bs - w->fill_len;
		if (n > len)
			n = len;
		memcpy(s->in + w->fill_len, p, n);
		w->fill_len += n;
		w->input_bytes += n;
		p += n;
		len -= n;
		if (w->fill_len == w->bs && submit(w, err))
			return -1;
	}
	return 0;
}

/* Copy the spooled blocks after the header and table. */
static int copy_spool(struct mkl_cloop_writer *w, struct mkl_err *err)
{
	off_t off = 0;
	uint64_t left = w->data_pos;
	unsigned char *buf = NULL;

	while (left > 0) {
		size_t chunk = left > (1u << 30) ? (1u << 30) : (size_t)left;
		ssize_t n;

		if (mkl_cancelled()) {
			free(buf);
			return mkl_error(err, ECANCELED, "cancelled");
		}
		if (!buf) {
			n = sendfile(w->out_fd, w->spool_fd, &off, chunk);
			if (n < 0 && errno != EINVAL && errno != ENOSYS && errno != EINTR) {
				return mkl_error(err, errno, "cannot write the cloop output");
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n > 0) {
				left -= (uint64_t)n;
				continue;
			}
			if (n == 0)
				return mkl_error(err, EIO, "cloop spool file is short");
			buf = mkl_malloc(1 << 20, err);	/* no sendfile: read + write */
			if (!buf)
				return -1;
			continue;
		}
		n = mkl_pread_full(w->spool_fd, buf, chunk > (1 << 20) ? (1 << 20) : chunk, (uint64_t)off,
				   "the cloop spool file", err);
		if (n == 0)
			mkl_error(err, EIO, "cloop spool file is short");
		if (n <= 0 || mkl_write_all(w->out_fd, buf, (size_t)n, "the cloop output", err)) {
			free(buf);
			return -1;
		}
		off += n;
		left -= (uint64_t)n;
	}
	free(buf);
	return 0;
}

int mkl_cloop_finish(struct mkl_cloop_writer *w, struct mkl_cloop_stats *stats, struct mkl_err *err)
{
	const char *pre = w->version == 4 ? MKL_CLOOP_PREAMBLE_V4 : MKL_CLOOP_PREAMBLE_V2;
	unsigned char *head;
	uint64_t start;
	size_t hlen;
	uint32_t n;

	if (w->finished)
		return mkl_error(err, EINVAL, "cloop: finished twice");
	if (w->fill_len > 0) {
		struct slot *s = &w->slots[w->next_fill % w->nslots];

		memset(s->in + w->fill_len, 0, w->bs - w->fill_len);	/* as create_compressed_fs */
		if (submit(w, err))
			return -1;
	}
	while (w->next_write < w->next_fill)
		if (write_next(w, err))
			return -1;
	stop_workers(w);
	w->finished = 1;
	if (w->direct && w->input_bytes != w->expected)
		return mkl_error(err, EINVAL, "cloop: the input was %llu bytes, %llu expected",
				 (unsigned long long)w->input_bytes, (unsigned long long)w->expected);

	n = w->nblocks;
	start = MKL_CLOOP_HEADER_SIZE + ((uint64_t)n + 1) * 8;
	hlen = (size_t)start;
	head = mkl_calloc(1, hlen, err);
	if (!head)
		return -1;
	memcpy(head, pre, strlen(pre));
	put_be32(head + MKL_CLOOP_HEADROOM, w->bs);
	put_be32(head + MKL_CLOOP_HEADROOM + 4, n);
	for (uint32_t i = 0; i < n; i++)
		put_be64(head + MKL_CLOOP_HEADER_SIZE + (size_t)i * 8,
			 MKL_CLOOP_ENTRY(start + MKL_CLOOP_OFFSET(w->table[i]), MKL_CLOOP_FLAGS(w->table[i])));
	put_be64(head + MKL_CLOOP_HEADER_SIZE + (size_t)n * 8, start + w->data_pos);

	if (w->direct) {
		if (mkl_pwrite_all(w->out_fd, head, hlen, (uint64_t)w->base, "the cloop header", err)) {
			free(head);
			return -1;
		}
		/* Leave the position at the end, as a sequential writer would. */
		lseek(w->out_fd, w->base + (off_t)(start + w->data_pos), SEEK_SET);
	} else {
		if (mkl_write_all(w->out_fd, head, hlen, "the cloop header", err)) {
			free(head);
			return -1;
		}
		if (copy_spool(w, err)) {
			free(head);
			return -1;
		}
	}
	free(head);
	if (stats) {
		memset(stats, 0, sizeof(*stats));
		stats->version = w->version;
		stats->block_size = w->bs;
		stats->blocks = n;
		memcpy(stats->per_codec, w->per_codec, sizeof(stats->per_codec));
		stats->input_bytes = w->input_bytes;
		stats->image_bytes = (uint64_t)n * w->bs;
		stats->file_bytes = start + w->data_pos;
	}
	return 0;
}

/* ---- reader ---- */

struct mkl_cloop_reader {
	int fd;
	int version;
	int header_last;
	uint32_t bs, n;
	uint64_t *off;		/* n + 1 entries as in the file (flags in the top bits) */
	uint64_t file_size;
	uint32_t per_codec[16];
	char line[64];
	unsigned char *cbuf;
	size_t cbuf_cap;
};

void mkl_cloop_close(struct mkl_cloop_reader *r)
{
	if (!r)
		return;
	free(r->off);
	free(r->cbuf);
	free(r);
}

static int sig_version(const unsigned char *h)
{
	const char *s = (const char *)h + MKL_CLOOP_SIG_OFFSET;

	if (!memcmp(s, MKL_CLOOP_SIG_V2, MKL_CLOOP_SIG_SIZE))
		return 2;
	if (!memcmp(s, MKL_CLOOP_SIG_V4, MKL_CLOOP_SIG_SIZE))
		return 4;
	if (!memcmp(s, "V3.0", MKL_CLOOP_SIG_SIZE))
		return 3;
	return 0;
}

static int check_table(struct mkl_cloop_reader *r, uint64_t lo, uint64_t hi, struct mkl_err *err)
{
	/* The largest compressed block a reader should accept: zlib or xz
	 * overhead on incompressible data is far below this (qemu allows
	 * 2 * its maximum block size). */
	uint64_t max_len = 2 * (uint64_t)r->bs + 4096;

	for (uint32_t i = 0; i < r->n; i++) {
		uint64_t start = MKL_CLOOP_OFFSET(r->off[i]), end = MKL_CLOOP_OFFSET(r->off[i + 1]);
		unsigned c = MKL_CLOOP_FLAGS(r->off[i]);

		if (r->version == 2 && c != 0)
			return mkl_error(err, 0, "block %u of %u: offset table is corrupt "
					 "(flags in a V2.0 offset)", i, r->n);
		if (c > MKL_CLOOP_LZO)
			return mkl_error(err, 0, "block %u of %u: unknown codec %u", i, r->n, c);
		if (start < lo)
			return mkl_error(err, 0, "block %u of %u: offset table is corrupt "
					 "(block starts at %llu, inside the header)", i, r->n,
					 (unsigned long long)start);
		if (end < start)
			return mkl_error(err, 0, "block %u of %u: offset table is corrupt "
					 "(offsets go backwards)", i, r->n);
		if (start > hi || end > hi)
			return mkl_error(err, 0, "block %u of %u ends past the end of the file "
					 "(at %llu of %llu bytes)", i, r->n, (unsigned long long)end,
					 (unsigned long long)hi);
		if (end - start > max_len)
			return mkl_error(err, 0, "block %u of %u: offset table is corrupt "
					 "(%llu compressed bytes for a %u-byte block)", i, r->n,
					 (unsigned long long)(end - start), r->bs);
		if (c == MKL_CLOOP_NONE && end - start != r->bs)
			return mkl_error(err, 0, "block %u of %u: stored block is %llu bytes, not %u",
					 i, r->n, (unsigned long long)(end - start), r->bs);
		r->per_codec[c]++;
	}
	return 0;
}

int mkl_cloop_open(int fd, struct mkl_cloop_reader **out, struct mkl_err *err)
{
	struct mkl_cloop_reader *r;
	unsigned char h[MKL_CLOOP_HEADER_SIZE], *tab = NULL;
	uint64_t tbytes, tpos, lo, hi;
	off_t size;
	ssize_t got;
	int v;

	*out = NULL;
	size = lseek(fd, 0, SEEK_END);
	if (size < 0)
		return mkl_error(err, errno, "cannot find the size of the cloop file");
	if (size < MKL_CLOOP_HEADER_SIZE)
		return mkl_error(err, 0, "not a cloop image: %lld bytes, too short for a header",
				 (long long)size);
	r = mkl_calloc(1, sizeof(*r), err);
	if (!r)
		return -1;
	r->fd = fd;
	r->file_size = (uint64_t)size;
	got = mkl_pread_full(fd, h, sizeof(h), 0, "the cloop header", err);
	if (got != (ssize_t)sizeof(h)) {
		if (got >= 0)
			mkl_error(err, EIO, "cannot read the cloop header");
		goto fail;
	}
	v = sig_version(h);
	if (v != 2 && v != 4) {
		/* V4.0 allows the header at the end ("streaming" layout). */
		unsigned char t[MKL_CLOOP_HEADER_SIZE];

		struct mkl_err ignored;

		got = mkl_pread_full(fd, t, sizeof(t), (uint64_t)(size - MKL_CLOOP_HEADER_SIZE),
				     "the cloop trailer", &ignored);
		if (got == (ssize_t)sizeof(t) && (sig_version(t) == 2 || sig_version(t) == 4)) {
			memcpy(h, t, sizeof(h));
			v = sig_version(t);
			r->header_last = 1;
		}
	}
	if (v == 3) {
		mkl_error(err, ENOTSUP, "cloop V3.0 images are not supported (V2.0 and V4.0 are)");
		goto fail;
	}
	if (v != 2 && v != 4) {
		mkl_error(err, 0, "not a cloop image (no V2.0 or V4.0 signature)");
		goto fail;
	}
	r->version = v;
	for (size_t i = 0; i + 1 < sizeof(r->line); i++) {
		unsigned char c = h[10 + i];

		if (c == '\n' || c == 0)
			break;
		r->line[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	r->bs = get_be32(h + MKL_CLOOP_HEADROOM);
	r->n = get_be32(h + MKL_CLOOP_HEADROOM + 4);
	if (r->bs == 0 || r->bs % MKL_CLOOP_BLOCK_ALIGN || r->bs > MKL_CLOOP_MAX_BLOCK) {
		mkl_error(err, 0, "cloop header is corrupt: block size %u is not a multiple of 512 "
			  "up to 64 MiB", r->bs);
		goto fail;
	}
	tbytes = ((uint64_t)r->n + 1) * 8;
	if (tbytes + MKL_CLOOP_HEADER_SIZE > r->file_size) {
		mkl_error(err, 0, "offset table truncated: %u blocks need %llu bytes, the file has %llu",
			  r->n, (unsigned long long)(tbytes + MKL_CLOOP_HEADER_SIZE),
			  (unsigned long long)r->file_size);
		goto fail;
	}
	if (r->header_last) {
		tpos = r->file_size - MKL_CLOOP_HEADER_SIZE - tbytes;
		lo = 0;
		hi = tpos;
	} else {
		tpos = MKL_CLOOP_HEADER_SIZE;
		lo = tpos + tbytes;
		hi = r->file_size;
	}
	r->off = mkl_malloc((size_t)tbytes, err);
	tab = r->off ? mkl_malloc((size_t)tbytes, err) : NULL;
	if (!tab)
		goto fail;
	got = mkl_pread_full(fd, tab, (size_t)tbytes, (uint64_t)tpos, "the cloop offset table", err);
	if (got != (ssize_t)tbytes) {
		if (got >= 0)
			mkl_error(err, EIO, "cannot read the cloop offset table");
		goto fail;
	}
	for (uint64_t i = 0; i <= r->n; i++)
		r->off[i] = get_be64(tab + i * 8);
	free(tab);
	tab = NULL;
	if (check_table(r, lo, hi, err))
		goto fail;
	*out = r;
	return 0;
fail:
	free(tab);
	mkl_cloop_close(r);
	return -1;
}

void mkl_cloop_info(const struct mkl_cloop_reader *r, struct mkl_cloop_stats *s)
{
	memset(s, 0, sizeof(*s));
	s->version = r->version;
	s->block_size = r->bs;
	s->blocks = r->n;
	memcpy(s->per_codec, r->per_codec, sizeof(s->per_codec));
	s->image_bytes = (uint64_t)r->n * r->bs;
	s->input_bytes = s->image_bytes;
	s->file_bytes = r->file_size;
}

const char *mkl_cloop_header_line(const struct mkl_cloop_reader *r)
{
	return r->line;
}

bool mkl_cloop_header_last(const struct mkl_cloop_reader *r)
{
	return r->header_last;
}

int mkl_cloop_read_block(struct mkl_cloop_reader *r, uint32_t i, void *buf, struct mkl_err *err)
{
	static const enum mkl_codec_id ids[] = { MKL_CODEC_GZIP, MKL_CODEC_NONE, MKL_CODEC_XZ,
						 MKL_CODEC_LZ4 };
	uint64_t start, len;
	unsigned c;
	size_t got = 0;
	ssize_t n;

	if (i >= r->n)
		return mkl_error(err, 0, "block %u of %u: no such block", i, r->n);
	start = MKL_CLOOP_OFFSET(r->off[i]);
	len = MKL_CLOOP_OFFSET(r->off[i + 1]) - start;
	c = MKL_CLOOP_FLAGS(r->off[i]);
	if (c >= sizeof(ids) / sizeof(ids[0]))
		return mkl_error(err, ENOTSUP, "block %u of %u: %s blocks are not supported", i, r->n,
				 mkl_cloop_codec_name(c));
	if (len > r->cbuf_cap) {
		unsigned char *p = realloc(r->cbuf, (size_t)len);

		if (!p)
			return mkl_error(err, ENOMEM, "out of memory");
		r->cbuf = p;
		r->cbuf_cap = (size_t)len;
	}
	n = mkl_pread_full(r->fd, r->cbuf, (size_t)len, (uint64_t)start, "the cloop image", err);
	if (n < 0)
		return mkl_err_prefix(err, "block %u of %u", i, r->n);
	if ((uint64_t)n != len)
		return mkl_error(err, EIO, "block %u of %u ends past the end of the file", i, r->n);
	if (mkl_block_decompress(ids[c], r->cbuf, (size_t)len, buf, r->bs, &got, err))
		return mkl_err_prefix(err, "block %u of %u", i, r->n);
	if (got != r->bs)
		return mkl_error(err, 0, "block %u of %u: compressed data is corrupt "
				 "(%zu bytes, not %u)", i, r->n, got, r->bs);
	return 0;
}

int mkl_cloop_extract(struct mkl_cloop_reader *r, mkl_sink_fn sink, void *ctx, struct mkl_err *err)
{
	unsigned char *buf = mkl_malloc(r->bs, err);

	if (!buf)
		return -1;
	for (uint32_t i = 0; i < r->n; i++) {
		if (mkl_cancelled()) {
			free(buf);
			return mkl_error(err, ECANCELED, "cancelled");
		}
		if (mkl_cloop_read_block(r, i, buf, err) || sink(ctx, buf, r->bs, err)) {
			free(buf);
			return -1;
		}
	}
	free(buf);
	return 0;
}
