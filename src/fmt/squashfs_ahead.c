/* Compressing ahead (see squashfs.h): blocks made while a recipe's tree is
 * still being installed, taken by the block processor's workers later.
 *
 * Two parts:
 *
 * - the memo compressor, which wraps the image's compressor before the
 *   block processor copies it to its workers: a full block whose SHA-256
 *   is in the memo gets the bytes (and the return value) recorded there,
 *   anything else goes to the real compressor. The memo is published once,
 *   when the thread below has stopped (before the first file is added), and
 *   is only read after that: no locks on the workers' path.
 *
 * - the thread, at the lowest priority (dpkg comes first): it walks the
 *   directory again and again, on one file system, and compresses the
 *   full blocks of each regular file it has not seen with this size and
 *   these times, with its own copy of the image's compressor and the
 *   same output room the workers have. The compressed bytes go to an
 *   unnamed scratch file, the index (hash, offset, length, result) stays in
 *   memory. A walk that finds nothing new waits a second before the next,
 *   or until it is stopped.
 *
 * Compressors are deterministic: a block made ahead is byte for byte what a
 * worker would make of the same input, so the image is the same with or
 * without this (tests/boot/recipe.sh compares). What changed after it was
 * read (maintainer scripts, hooks, the include directory) only misses. */
#include "fmt/squashfs_int.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>

#include "fmt/digest.h"
#include "tree/io.h"
#include "tree/outfile.h"

struct memo_ent {
	unsigned char key[MKL_SHA256_LEN];
	uint64_t off;
	sqfs_s32 ret;		/* the compressor's: 0 stored as it is, > 0 bytes at off */
	bool used;
};

struct sq_ahead {
	/* set at start */
	struct sq_memo_cell *cell;
	sqfs_compressor_t *cmp;	/* a copy of the image's (the memo wrapper: unset, so
				 * it goes straight to the compressor) */
	uint32_t block_size;
	char *dir;
	dev_t dev;
	int fd;			/* compressed blocks */
	pthread_t thread;
	bool running;

	pthread_mutex_t mu;
	pthread_cond_t cv;	/* stop */
	pthread_cond_t walked;	/* walks or done changed */
	bool stop, done, poke;	/* poke: walk again now (a waiter) */
	uint64_t walks;		/* complete walks so far */

	/* the thread's alone until joined, then read-only */
	struct memo_ent *tab;
	size_t cap, n;
	uint64_t used;		/* bytes in fd */
	uint64_t *seen;		/* file identities done (open addressing, 0 = free) */
	size_t seen_cap, seen_n;
	unsigned char *in, *out;
	struct mkl_digest *dg;
	char *path;		/* relative path of the walk, for the skip list */
	size_t path_cap;
	uint64_t files, bytes_in;
};

/* ---- the memo compressor ------------------------------------------------ */

struct memo_cmp {
	sqfs_compressor_t base;
	sqfs_compressor_t *inner;
	struct sq_memo_cell *cell;
	struct mkl_digest *dg;	/* each worker's copy has its own */
};

static sqfs_compressor_t *memo_make(sqfs_compressor_t *inner, struct sq_memo_cell *cell);

static void memo_destroy(sqfs_object_t *obj)
{
	struct memo_cmp *c = (struct memo_cmp *)obj;

	sqfs_destroy(c->inner);
	mkl_digest_free(c->dg);
	free(c);
}

static sqfs_object_t *memo_copy(const sqfs_object_t *obj)
{
	const struct memo_cmp *c = (const struct memo_cmp *)obj;
	sqfs_compressor_t *inner = sqfs_copy(c->inner), *out;

	if (!inner)
		return NULL;
	out = memo_make(inner, c->cell);
	if (!out)
		sqfs_destroy(inner);
	return (sqfs_object_t *)out;
}

static void memo_get_configuration(const sqfs_compressor_t *cmp, sqfs_compressor_config_t *cfg)
{
	const struct memo_cmp *c = (const struct memo_cmp *)cmp;

	c->inner->get_configuration(c->inner, cfg);
}

static int memo_write_options(sqfs_compressor_t *cmp, sqfs_file_t *file)
{
	struct memo_cmp *c = (struct memo_cmp *)cmp;

	return c->inner->write_options(c->inner, file);
}

static int memo_read_options(sqfs_compressor_t *cmp, sqfs_file_t *file)
{
	struct memo_cmp *c = (struct memo_cmp *)cmp;

	return c->inner->read_options(c->inner, file);
}

static size_t slot_of(const unsigned char *key, size_t cap)
{
	uint64_t h;

	memcpy(&h, key, sizeof(h));
	return (size_t)h & (cap - 1);
}

static const struct memo_ent *memo_find(const struct sq_ahead *a, const unsigned char *key)
{
	size_t i;

	if (!a->cap)
		return NULL;
	for (i = slot_of(key, a->cap); a->tab[i].used; i = (i + 1) & (a->cap - 1))
		if (!memcmp(a->tab[i].key, key, MKL_SHA256_LEN))
			return &a->tab[i];
	return NULL;
}

static int hash_block(struct mkl_digest **dg, const sqfs_u8 *in, sqfs_u32 size,
		      unsigned char key[MKL_SHA256_LEN])
{
	if (!*dg && !(*dg = mkl_digest_new(NULL)))
		return -1;
	if (mkl_digest_reset(*dg) || mkl_digest_update(*dg, in, size) || mkl_digest_final(*dg, key))
		return -1;
	return 0;
}

static sqfs_s32 memo_do_block(sqfs_compressor_t *cmp, const sqfs_u8 *in, sqfs_u32 size,
			      sqfs_u8 *out, sqfs_u32 outsize)
{
	struct memo_cmp *c = (struct memo_cmp *)cmp;
	const struct sq_ahead *a = atomic_load_explicit(&c->cell->ready, memory_order_acquire);
	unsigned char key[MKL_SHA256_LEN];
	const struct memo_ent *e;

	if (a && size == a->block_size && outsize == a->block_size &&
	    !hash_block(&c->dg, in, size, key) && (e = memo_find(a, key))) {
		if (e->ret == 0 ||
		    pread(a->fd, out, (size_t)e->ret, (off_t)e->off) == (ssize_t)e->ret) {
			atomic_fetch_add_explicit(&c->cell->hits, 1, memory_order_relaxed);
			return e->ret;
		}
	}
	return c->inner->do_block(c->inner, in, size, out, outsize);
}

static sqfs_compressor_t *memo_make(sqfs_compressor_t *inner, struct sq_memo_cell *cell)
{
	struct memo_cmp *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->base.base.destroy = memo_destroy;
	c->base.base.copy = memo_copy;
	c->base.get_configuration = memo_get_configuration;
	c->base.write_options = memo_write_options;
	c->base.read_options = memo_read_options;
	c->base.do_block = memo_do_block;
	c->inner = inner;
	c->cell = cell;
	return &c->base;
}

int mkl_sq_memo_wrap(sqfs_compressor_t **cmp, struct sq_memo_cell *cell)
{
	sqfs_compressor_t *w = memo_make(*cmp, cell);

	if (!w)
		return SQFS_ERROR_ALLOC;
	*cmp = w;
	return 0;
}

/* ---- the thread ---------------------------------------------------------- */

static bool stopping(struct sq_ahead *a)
{
	bool s;

	pthread_mutex_lock(&a->mu);
	s = a->stop;
	pthread_mutex_unlock(&a->mu);
	return s;
}

/* Remember a file identity; false when it was there already. */
static bool seen_add(struct sq_ahead *a, uint64_t id)
{
	size_t i;

	id |= 1;	/* 0 marks a free slot */
	if ((a->seen_n + 1) * 2 > a->seen_cap) {
		size_t ncap = a->seen_cap ? a->seen_cap * 2 : 4096;
		uint64_t *nt = calloc(ncap, sizeof(*nt));

		if (!nt)
			return false;
		for (size_t j = 0; j < a->seen_cap; j++)
			if (a->seen[j])
				for (i = a->seen[j] & (ncap - 1); ; i = (i + 1) & (ncap - 1))
					if (!nt[i]) {
						nt[i] = a->seen[j];
						break;
					}
		free(a->seen);
		a->seen = nt;
		a->seen_cap = ncap;
	}
	for (i = id & (a->seen_cap - 1); a->seen[i]; i = (i + 1) & (a->seen_cap - 1))
		if (a->seen[i] == id)
			return false;
	a->seen[i] = id;
	a->seen_n++;
	return true;
}

static int memo_put(struct sq_ahead *a, const unsigned char *key, sqfs_s32 ret)
{
	size_t i;

	if ((a->n + 1) * 2 > a->cap) {
		size_t ncap = a->cap ? a->cap * 2 : 1024;
		struct memo_ent *nt = calloc(ncap, sizeof(*nt));

		if (!nt)
			return -1;
		for (size_t j = 0; j < a->cap; j++)
			if (a->tab[j].used) {
				for (i = slot_of(a->tab[j].key, ncap); nt[i].used; i = (i + 1) & (ncap - 1))
					;
				nt[i] = a->tab[j];
			}
		free(a->tab);
		a->tab = nt;
		a->cap = ncap;
	}
	if (ret > 0 && mkl_pwrite_all(a->fd, a->out, (size_t)ret, a->used, "scratch", NULL))
		return -1;
	for (i = slot_of(key, a->cap); a->tab[i].used; i = (i + 1) & (a->cap - 1))
		;
	memcpy(a->tab[i].key, key, MKL_SHA256_LEN);
	a->tab[i].off = a->used;
	a->tab[i].ret = ret;
	a->tab[i].used = true;
	a->n++;
	if (ret > 0)
		a->used += (uint64_t)ret;
	return 0;
}

/* The full blocks of one file. -1: stop (asked to, or the scratch file
 * failed); 0 otherwise (a file that cannot be read is left alone). */
static int do_file(struct sq_ahead *a, int dfd, const char *name, const struct stat *st)
{
	unsigned char key[MKL_SHA256_LEN];
	uint64_t id = MKL_HASH_INIT, nblocks;
	int fd, rc = 0;

	mkl_hash_bytes(&id, &st->st_ino, sizeof(st->st_ino));
	mkl_hash_bytes(&id, &st->st_size, sizeof(st->st_size));
	mkl_hash_bytes(&id, &st->st_mtim, sizeof(st->st_mtim));
	mkl_hash_bytes(&id, &st->st_ctim, sizeof(st->st_ctim));
	if (!seen_add(a, id))
		return 0;
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return 0;
	a->files++;
	nblocks = (uint64_t)st->st_size / a->block_size;
	for (uint64_t b = 0; b < nblocks; b++) {
		sqfs_s32 ret;

		if (stopping(a)) {
			rc = -1;
			break;
		}
		if (pread(fd, a->in, a->block_size, (off_t)(b * a->block_size)) != (ssize_t)a->block_size)
			break;
		if (hash_block(&a->dg, a->in, a->block_size, key)) {
			rc = -1;
			break;
		}
		if (memo_find(a, key))
			continue;
		/* as a worker: an all-zero block is sparse, never compressed */
		if (!a->in[0] && !memcmp(a->in, a->in + 1, a->block_size - 1))
			continue;
		ret = a->cmp->do_block(a->cmp, a->in, a->block_size, a->out, a->block_size);
		if (ret < 0)
			continue;
		a->bytes_in += a->block_size;
		if (memo_put(a, key, ret)) {
			rc = -1;
			break;
		}
	}
	close(fd);
	return rc;
}

/* What mmdebstrap removes before the tar, or what is not the tree. */
static bool skipped(const char *rel)
{
	static const char *const skip[] = {
		"proc", "sys", "dev", "run", "tmp", "var/cache/apt", "var/lib/apt/lists",
	};

	for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
		if (!strcmp(rel, skip[i]))
			return true;
	return false;
}

/* One walk of the directory open at dfd (taken over), relative path a->path
 * of length len. Returns -1 to stop. */
static int walk(struct sq_ahead *a, int dfd, size_t len, unsigned depth)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int rc = 0;

	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return 0;
	}
	while (rc == 0 && (de = readdir(d))) {
		size_t nlen = strlen(de->d_name);

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    strstr(de->d_name, ".dpkg-"))	/* dpkg's files in the making */
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) || st.st_dev != a->dev)
			continue;
		if (S_ISREG(st.st_mode)) {
			if ((uint64_t)st.st_size >= a->block_size)
				rc = do_file(a, dirfd(d), de->d_name, &st);
		} else if (S_ISDIR(st.st_mode) && depth < 64) {
			int sub;

			if (len + nlen + 2 > a->path_cap) {
				size_t ncap = (len + nlen + 2) * 2;
				char *np = realloc(a->path, ncap);

				if (!np)
					continue;
				a->path = np;
				a->path_cap = ncap;
			}
			if (len)
				a->path[len] = '/';
			memcpy(a->path + len + (len ? 1 : 0), de->d_name, nlen + 1);
			if (!skipped(a->path)) {
				sub = openat(dirfd(d), de->d_name,
					     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				if (sub >= 0)
					rc = walk(a, sub, len + (len ? 1 : 0) + nlen, depth + 1);
			}
			a->path[len] = '\0';
		}
	}
	closedir(d);
	return rc;
}

static void *ahead_main(void *arg)
{
	struct sq_ahead *a = arg;

	/* after dpkg: only what the installation leaves of the CPU */
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
	for (;;) {
		uint64_t before = a->files;
		struct timespec until;
		int fd = open(a->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd < 0 || walk(a, fd, 0, 0))
			break;
		pthread_mutex_lock(&a->mu);
		a->walks++;
		pthread_cond_broadcast(&a->walked);
		if (a->files == before && !a->stop && !a->poke) {
			/* nothing new: look again in a second (a poll: the
			 * tree has no event we could wait for that covers
			 * every directory as it is made) */
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += 1;
			pthread_cond_timedwait(&a->cv, &a->mu, &until);
		}
		a->poke = false;
		if (a->stop) {
			pthread_mutex_unlock(&a->mu);
			break;
		}
		pthread_mutex_unlock(&a->mu);
	}
	pthread_mutex_lock(&a->mu);
	a->done = true;
	pthread_cond_broadcast(&a->walked);
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

void mkl_sq_ahead_wait_walk(struct mkl_sqfs *sq)
{
	struct sq_ahead *a = sq->ahead;
	uint64_t want;

	if (!a || !a->running)
		return;
	pthread_mutex_lock(&a->mu);
	want = a->walks + 2;	/* the one under way may have begun before the caller's change */
	a->poke = true;
	pthread_cond_signal(&a->cv);
	while (a->walks < want && !a->done)
		pthread_cond_wait(&a->walked, &a->mu);
	pthread_mutex_unlock(&a->mu);
}

static void ahead_free(struct sq_ahead *a)
{
	if (!a)
		return;
	sqfs_destroy(a->cmp);
	if (a->fd >= 0)
		close(a->fd);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->cv);
	pthread_cond_destroy(&a->walked);
	free(a->dir);
	free(a->tab);
	free(a->seen);
	free(a->in);
	free(a->out);
	free(a->path);
	mkl_digest_free(a->dg);
	free(a);
}

int mkl_sqfs_ahead_start(struct mkl_sqfs *sq, const char *dir, const char *near,
			 struct mkl_err *err)
{
	struct sq_ahead *a;
	struct stat st;

	if (sq->ahead || sq->state != SQ_OPEN || sq->memo.added)
		return mkl_error(err, EINVAL, "compressing ahead: too late to start");
	if (stat(dir, &st) || !S_ISDIR(st.st_mode))
		return mkl_error(err, errno ? errno : ENOTDIR, "compressing ahead: cannot use '%s'", dir);
	a = mkl_calloc(1, sizeof(*a), err);
	if (!a)
		return -1;
	a->fd = -1;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	pthread_cond_init(&a->walked, NULL);
	a->cell = &sq->memo;
	a->block_size = sq->block_size;
	a->dev = st.st_dev;
	a->dir = mkl_strdup(dir, err);
	a->in = malloc(sq->block_size);
	a->out = malloc(sq->block_size);
	a->cmp = sqfs_copy(sq->cmp);
	if (!a->dir || !a->in || !a->out || !a->cmp) {
		ahead_free(a);
		return mkl_error(err, ENOMEM, "out of memory");
	}
	if (mkl_scratch_open(near, &a->fd, err)) {
		ahead_free(a);
		return -1;
	}
	if (pthread_create(&a->thread, NULL, ahead_main, a)) {
		ahead_free(a);
		return mkl_error(err, EAGAIN, "compressing ahead: cannot start a thread");
	}
	a->running = true;
	sq->ahead = a;
	return 0;
}

void mkl_sqfs_ahead_stop(struct mkl_sqfs *sq)
{
	struct sq_ahead *a = sq ? sq->ahead : NULL;

	if (!a || !a->running)
		return;
	pthread_mutex_lock(&a->mu);
	a->stop = true;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
	pthread_join(a->thread, NULL);
	a->running = false;
	atomic_store_explicit(&sq->memo.ready, a, memory_order_release);
}

void mkl_sqfs_ahead_stats(const struct mkl_sqfs *sq, struct mkl_sqfs_ahead_stats *st)
{
	const struct sq_ahead *a = sq ? sq->ahead : NULL;

	memset(st, 0, sizeof(*st));
	if (!a || a->running)
		return;
	st->files = a->files;
	st->blocks = a->n;
	st->bytes_in = a->bytes_in;
	st->bytes_out = a->used;
	st->hits = atomic_load_explicit(&sq->memo.hits, memory_order_relaxed);
}

void mkl_sq_ahead_destroy(struct mkl_sqfs *sq)
{
	mkl_sqfs_ahead_stop(sq);
	ahead_free(sq->ahead);
	sq->ahead = NULL;
}
