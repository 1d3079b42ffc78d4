/* The I/O module (src/tree/io.c): whole writes through short writes and
 * EINTR (a pipe with a slow reader and a timer signal without SA_RESTART),
 * ENOSPC from /dev/full, cancellation during a write, whole reads, a file
 * into memory (and a missing one), the spool's round trip with holes and
 * its errors, and the hash. */
#include "t.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tree/io.h"
#include "tree/outfile.h"

#define BIG (4u << 20)

static volatile sig_atomic_t ticks;

static void on_tick(int sig)
{
	(void)sig;
	ticks++;
}

struct drain {
	int fd;
	unsigned char *got;
	size_t len;
};

/* A slow reader: small reads with pauses, so the writer blocks often and
 * the timer interrupts it in the middle of its writes. */
static void *drain_main(void *arg)
{
	struct drain *d = arg;

	for (;;) {
		ssize_t n = read(d->fd, d->got + d->len, 8192);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		d->len += (size_t)n;
		if (d->len % (256 * 1024) < 8192)
			usleep(2000);
	}
	return NULL;
}

static void test_short_writes(void)
{
	struct sigaction sa = { 0 };
	struct itimerval it = { { 0, 500 }, { 0, 500 } };
	unsigned char *data = malloc(BIG);
	struct drain d = { .got = malloc(BIG + 1) };
	struct mkl_err err = { 0 };
	pthread_t tid;
	int p[2];

	T_OK(data && d.got && pipe(p) == 0, "set-up");
	for (size_t i = 0; i < BIG; i++)
		data[i] = (unsigned char)(i * 7 + (i >> 12));
	d.fd = p[0];
	/* The timer signal is blocked in the reader, so it lands in the writer. */
	sa.sa_handler = on_tick;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);	/* no SA_RESTART: write() returns short or EINTR */
	{
		sigset_t set;

		sigemptyset(&set);
		sigaddset(&set, SIGALRM);
		pthread_sigmask(SIG_BLOCK, &set, NULL);
		pthread_create(&tid, NULL, drain_main, &d);
		pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	}
	setitimer(ITIMER_REAL, &it, NULL);
	T_EQ_INT(mkl_write_all(p[1], data, BIG, "the pipe", &err), 0);
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	close(p[1]);
	pthread_join(tid, NULL);
	close(p[0]);
	T_OK(ticks > 0, "the timer never fired");
	T_EQ_INT(d.len, BIG);
	T_OK(d.len == BIG && memcmp(data, d.got, BIG) == 0, "the pipe got other bytes");
	printf("# %d timer signals during a %u-byte write\n", (int)ticks, BIG);

	/* Reads through a pipe come in pieces; mkl_read_full joins them. */
	T_OK(pipe(p) == 0, "pipe");
	if (fork() == 0) {
		for (size_t off = 0; off < 300000; off += 1000) {
			if (write(p[1], data + off, 1000) != 1000)
				_exit(1);
			if (off % 50000 == 0)
				usleep(1000);
		}
		_exit(0);
	}
	close(p[1]);
	memset(d.got, 0, BIG);
	T_EQ_INT(mkl_read_full(p[0], d.got, 400000, "the pipe", &err), 300000);
	T_OK(memcmp(d.got, data, 300000) == 0, "read_full joined other bytes");
	close(p[0]);
	wait(NULL);
	free(data);
	free(d.got);
}

static void test_full_disk(void)
{
	struct mkl_err err = { 0 };
	unsigned char buf[4096] = { 1 };
	int fd = open("/dev/full", O_WRONLY);

	if (fd < 0) {
		T_SKIP("no /dev/full");
		return;
	}
	T_EQ_INT(mkl_write_all(fd, buf, sizeof(buf), "the image", &err), -1);
	T_EQ_INT(err.code, ENOSPC);
	T_EQ_STR(err.msg, "writing the image: No space left on device");
	T_EQ_INT(mkl_pwrite_all(fd, buf, sizeof(buf), 0, "the image", &err), -1);
	T_EQ_INT(err.code, ENOSPC);
	T_EQ_INT(mkl_write_zeros(fd, 100000, "the zeros", &err), -1);
	T_EQ_STR(err.msg, "writing the zeros: No space left on device");
	T_EQ_INT(mkl_write_all(fd, buf, 0, "nothing", &err), 0);
	close(fd);
	/* A bad fd names the file too. */
	T_EQ_INT(mkl_write_all(-1, buf, 1, "the output", &err), -1);
	T_EQ_STR(err.msg, "writing the output: Bad file descriptor");
	T_EQ_INT(mkl_read_full(-1, buf, 1, "the input", &err), -1);
	T_EQ_STR(err.msg, "cannot read the input: Bad file descriptor");
}

/* After mkl_cancel(), a write that EINTR stops is not retried. In a child:
 * the cancel flag is never cleared. */
static void cancel_child(void)
{
	struct sigaction sa = { 0 };
	struct mkl_err err = { 0 };
	static unsigned char buf[1 << 20];
	int p[2];

	if (pipe(p))
		_exit(2);
	sa.sa_handler = on_tick;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	mkl_cancel();
	alarm(1);	/* nobody reads: the write blocks until the signal */
	if (mkl_write_all(p[1], buf, sizeof(buf), "the pipe", &err) != -1)
		_exit(3);
	_exit(err.code == ECANCELED && strstr(err.msg, "writing the pipe") ? 0 : 4);
}

static void test_cancel(void)
{
	int status = 0;
	pid_t pid = fork();

	if (pid == 0)
		cancel_child();
	waitpid(pid, &status, 0);
	T_OK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "cancelled write: status %d", status);
}

static void test_read_file(void)
{
	char dir[] = "/tmp/mklive-test-io-XXXXXX", path[64];
	struct mkl_buf b = { 0 };
	struct mkl_err err = { 0 };
	unsigned char *data = malloc(300000);
	int fd;

	T_OK(mkdtemp(dir) && data, "mkdtemp");
	snprintf(path, sizeof(path), "%s/missing", dir);
	T_EQ_INT(mkl_read_file(path, &b, true, &err), 1);
	T_EQ_INT(b.len, 0);
	T_EQ_INT(mkl_read_file(path, &b, false, &err), -1);
	T_OK(strstr(err.msg, "cannot open '") && strstr(err.msg, "missing': No such file or directory"),
	     "%s", err.msg);
	T_EQ_INT(mkl_read_file(dir, &b, false, &err), -1);
	T_OK(strstr(err.msg, "Is a directory") != NULL, "%s", err.msg);

	for (size_t i = 0; i < 300000; i++)
		data[i] = (unsigned char)(i ^ (i >> 9));
	snprintf(path, sizeof(path), "%s/f", dir);
	fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	T_EQ_INT(mkl_write_all(fd, data, 300000, "f", &err), 0);
	close(fd);
	T_EQ_INT(mkl_buf_sink(&b, "head", 4, &err), 0);
	T_EQ_INT(mkl_read_file(path, &b, false, &err), 0);
	T_EQ_INT(b.len, 300004);
	T_OK(b.len == 300004 && !memcmp(b.data, "head", 4) && !memcmp(b.data + 4, data, 300000),
	     "appended other bytes");
	mkl_buf_free(&b);
	T_OK(!b.data && !b.len && !b.cap, "free empties");
	/* From a pipe (no size known). */
	T_EQ_INT(mkl_read_file("/proc/self/status", &b, false, &err), 0);
	T_OK(b.len > 10 && !memcmp(b.data, "Name:", 5), "/proc file read");
	mkl_buf_free(&b);
	unlink(path);
	rmdir(dir);
	free(data);
}

/* A reader over memory that hands out at most `step` bytes a call. */
struct memr {
	const unsigned char *p;
	size_t left, step;
};

static long mem_read(void *ctx, void *buf, size_t len, struct mkl_err *err)
{
	struct memr *m = ctx;

	if (len > m->left)
		len = m->left;
	if (len > m->step)
		len = m->step;
	memcpy(buf, m->p, len);
	m->p += len;
	m->left -= len;
	return (long)len;
}

/* Leave out chunks that are all zero. */
static int skip_zero(void *ctx, uint64_t pos, const unsigned char *data, size_t len, struct mkl_err *err)
{
	int *holes = ctx;

	for (size_t i = 0; i < len; i++)
		if (data[i])
			return 1;
	(*holes)++;
	return 0;
}

static void test_spool(void)
{
	struct mkl_spool s = MKL_SPOOL_INIT;
	struct mkl_spool_rec r1, r2, r3;
	struct mkl_err err = { 0 };
	size_t n2 = 3 * MKL_SPOOL_CHUNK + 123;
	unsigned char *a = malloc(5000), *z = calloc(1, n2), *back = malloc(n2);
	struct memr m;
	int holes = 0;

	mkl_spool_close(&s);	/* never opened: fine */
	T_EQ_INT(mkl_spool_open(&s, NULL, &err), 0);
	for (size_t i = 0; i < 5000; i++)
		a[i] = (unsigned char)(i * 13);
	z[MKL_SPOOL_CHUNK + 5] = 0x77;	/* one chunk with data, the others holes */
	m = (struct memr){ a, 5000, 333 };
	T_EQ_INT(mkl_spool_add(&s, &r1, "a", 5000, mem_read, &m, NULL, NULL, &err), 0);
	m = (struct memr){ z, n2, 1 << 16 };
	T_EQ_INT(mkl_spool_add(&s, &r2, "z", n2, mem_read, &m, skip_zero, &holes, &err), 0);
	T_EQ_INT(holes, 3);
	m = (struct memr){ a, 10, 10 };
	T_EQ_INT(mkl_spool_add(&s, &r3, "tail", 10, mem_read, &m, skip_zero, &holes, &err), 0);
	T_EQ_INT(s.end, 5000 + n2 + 10);
	T_EQ_INT(mkl_spool_finish(&s, &err), 0);

	T_EQ_INT(mkl_spool_read(&s, &r1, 0, back, 5000, "a", &err), 0);
	T_OK(!memcmp(back, a, 5000), "a read back");
	T_EQ_INT(mkl_spool_read(&s, &r1, 4000, back, 1000, "a", &err), 0);
	T_OK(!memcmp(back, a + 4000, 1000), "a range read back");
	memset(back, 0xee, n2);
	T_EQ_INT(mkl_spool_read(&s, &r2, 0, back, n2, "z", &err), 0);
	T_OK(!memcmp(back, z, n2), "holes read back as zeros");
	T_EQ_INT(mkl_spool_read(&s, &r3, 3, back, 7, "tail", &err), 0);
	T_OK(!memcmp(back, a + 3, 7), "tail read back");
	T_EQ_INT(mkl_spool_read(&s, &r3, 3, back, 8, "tail", &err), -1);
	T_OK(strstr(err.msg, "past the end of 'tail'") != NULL, "%s", err.msg);

	/* A reader that ends early, or goes on past the size. */
	m = (struct memr){ a, 100, 64 };
	T_EQ_INT(mkl_spool_add(&s, &r3, "short", 200, mem_read, &m, NULL, NULL, &err), -1);
	T_EQ_STR(err.msg, "'short' is shorter than its size (100 of 200 bytes)");
	m = (struct memr){ a, 300, 64 };
	T_EQ_INT(mkl_spool_add(&s, &r3, "long", 200, mem_read, &m, NULL, NULL, &err), -1);
	T_EQ_STR(err.msg, "'long' is longer than its size (200 bytes)");

	/* Through tree nodes, and a hard link to one. */
	{
		struct mkl_tree *t = mkl_tree_create(&err);
		struct mkl_stat st = { .mode = 0100644, .size = 5000 };
		struct mkl_stat empty = { .mode = 0100644 };
		struct mkl_node *n = NULL, *l = NULL, *e = NULL;

		T_OK(t && !mkl_tree_add(t, "f", &st, &n, &err) && !mkl_tree_add(t, "e", &empty, &e, &err) &&
		     !mkl_tree_add_hardlink(t, "l", "f", &l, &err), "tree");
		if (!n || !l || !e) {
			mkl_tree_destroy(t);
			mkl_spool_close(&s);
			return;
		}
		m = (struct memr){ a, 5000, 4096 };
		T_EQ_INT(mkl_spool_add_node(&s, n, mem_read, &m, &err), 0);
		memset(back, 0, 5000);
		T_EQ_INT(mkl_spool_read_node(&s, l, 17, back, 4983, &err), 0);
		T_OK(!memcmp(back, a + 17, 4983), "through the hard link");
		T_EQ_INT(mkl_spool_read_node(&s, e, 0, back, 0, &err), 0);
		T_EQ_INT(mkl_spool_read_node(&s, e, 0, back, 1, &err), -1);
		T_OK(strstr(err.msg, "no content stored for 'e'") != NULL, "%s", err.msg);
		mkl_tree_destroy(t);
	}
	mkl_spool_close(&s);
	T_EQ_INT(s.fd, -1);
	mkl_spool_close(&s);	/* twice: fine */

	/* A spool beside a path in a missing directory falls back to $TMPDIR. */
	T_EQ_INT(mkl_spool_open(&s, "/nonexistent-dir/x", &err), 0);
	mkl_spool_close(&s);
	free(a);
	free(z);
	free(back);
}

static void test_hash(void)
{
	uint64_t h = MKL_HASH_INIT;

	/* FNV-1a 64 test vectors. */
	mkl_hash_bytes(&h, "a", 1);
	T_EQ_INT(h, 0xaf63dc4c8601ec8cull);
	T_EQ_INT(mkl_hash_str(""), MKL_HASH_INIT);
	T_EQ_INT(mkl_hash_str("foobar"), 0x85944171f73967e8ull);
	h = MKL_HASH_INIT;
	mkl_hash_bytes(&h, "foo", 3);
	mkl_hash_bytes(&h, "bar", 3);
	T_EQ_INT(h, mkl_hash_str("foobar"));
}

int main(void)
{
	test_short_writes();
	test_full_disk();
	test_cancel();
	test_read_file();
	test_spool();
	test_hash();
	return t_done();
}
