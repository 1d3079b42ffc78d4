/* A recipe's tree: mmdebstrap's tar, read from a pipe (see recipe.h).
 *
 * The child: mmdebstrap --format=tar SUITE - [MIRROR...] with its
 * standard input /dev/null (with no MIRROR it would read a sources.list
 * from a non-terminal stdin), its standard output our pipe, its standard
 * error a second pipe that a thread reads line by line (to the note
 * callback, and the last lines kept for the error), in a process group of
 * its own so that a build that stops early can end all of it.
 *
 * The package cache (CACHE/SUITE-ARCH-KEY/, KEY a hash of the sources
 * and architecture): mmdebstrap's special hooks sync-in the kept .debs
 * into /var/cache/apt/archives and, when lists are kept and no refresh is
 * asked, /var/lib/apt/lists (then apt-get update is skipped); the first
 * customize hook syncs both out again, before the user's hooks run, so a
 * failing hook does not lose the downloads. mmdebstrap's own clean-up
 * then removes both from the tree. A lock on the cache directory keeps
 * two builds from sharing it at once.
 *
 * The tree cache: the tar mmdebstrap writes is also kept, as it goes by
 * (tee(2) and splice(2) on a thread: no copy through our memory), as
 * CACHE/.../tree-KEY.tar, named only once mmdebstrap has exited 0. KEY is
 * a hash of what makes the tree: the command line (but for the lists'
 * flags: kept lists make the same tree as the update that fetched them),
 * the include directory's names, modes, owners, sizes and times, the
 * hooks' contents, mmdebstrap itself and SOURCE_DATE_EPOCH. The next
 * build of the same recipe reads that tar instead of running mmdebstrap;
 * --refresh (new lists) makes the tree again. Failing to keep the tar
 * never fails the build.
 */
#include "source/recipe.h"
#include "source/internal.h"
#include "source/recipe_argv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tree/io.h"
#include "tree/outfile.h"
#include "tree/run.h"

extern char **environ;

#define TAIL_LINES 12

struct recipe_source {
	struct mkl_source base;
	struct mkl_source *tar;		/* over the pipe */
	pid_t pid;			/* 0 once reaped */
	int status;
	int err_fd;			/* mmdebstrap's stderr, read by the thread */
	int lock_fd;
	/* The tree cache: mmdebstrap's tar, kept as it streams by (tee). */
	int tee_in, tee_out;		/* mmdebstrap's stdout; the tar reader's pipe */
	pthread_t tee_thread;
	int tee_started, tee_failed;
	int reader_done;		/* the tar's end was read: the rest is padding */
	struct mkl_outfile tree;	/* fd -1: not kept */
	char *dir;			/* the recipe's cache directory, or NULL */
	pthread_t thread;
	int thread_started;
	void (*note)(void *ctx, const char *line);
	void *ctx;
	void (*on_tree)(void *ctx, const char *dir);
	void *tree_ctx;
	pthread_mutex_t mu;
	char tail[TAIL_LINES][256];	/* the last lines, a ring */
	unsigned ntail;
};

static void keep_tree(struct recipe_source *rs, const char *dir);

/* --- the child and its output --- */

static void keep_line(struct recipe_source *rs, const char *line)
{
	if (!strncmp(line, TREE_MARK, strlen(TREE_MARK))) {
		if (rs->on_tree)
			rs->on_tree(rs->tree_ctx, line + strlen(TREE_MARK));
		return;
	}
	pthread_mutex_lock(&rs->mu);
	snprintf(rs->tail[rs->ntail++ % TAIL_LINES], sizeof(rs->tail[0]), "%s", line);
	pthread_mutex_unlock(&rs->mu);
	if (rs->note)
		rs->note(rs->ctx, line);
}

/* mmdebstrap's standard error, line by line, until it closes. */
static void *err_main(void *arg)
{
	struct recipe_source *rs = arg;
	char buf[4096];
	size_t len = 0;
	ssize_t n;

	for (;;) {
		n = read(rs->err_fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		for (char *nl; (nl = strchr(buf, '\n'));) {
			*nl = '\0';
			keep_line(rs, buf);
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len + 1);
		}
		if (len == sizeof(buf) - 1) {	/* a very long line: in pieces */
			keep_line(rs, buf);
			len = 0;
		}
	}
	if (len) {
		buf[len] = '\0';
		keep_line(rs, buf);
	}
	return NULL;
}

/* Wait for the child (end it first when kill) and the reader thread. */
static void reap(struct recipe_source *rs, int kill_it)
{
	if (rs->pid > 0) {
		if (kill_it)
			kill(-rs->pid, SIGTERM);
		while (waitpid(rs->pid, &rs->status, 0) < 0 && errno == EINTR)
			;
		rs->pid = 0;
	}
	if (rs->thread_started) {
		pthread_join(rs->thread, NULL);
		rs->thread_started = 0;
	}
	if (rs->tee_started) {
		pthread_join(rs->tee_thread, NULL);
		rs->tee_started = 0;
	}
}

static int child_ok(const struct recipe_source *rs)
{
	return WIFEXITED(rs->status) && WEXITSTATUS(rs->status) == 0;
}

/* The child's failure as the error: its status and its last lines. */
static int child_error(struct recipe_source *rs, struct mkl_err *err)
{
	char msg[MKL_ERR_MAX], status[64];
	unsigned first = rs->ntail > TAIL_LINES ? rs->ntail - TAIL_LINES : 0;
	size_t len;

	if (WIFEXITED(rs->status))
		snprintf(status, sizeof(status), "exit status %d", WEXITSTATUS(rs->status));
	else
		snprintf(status, sizeof(status), "signal %d", WIFSIGNALED(rs->status) ? WTERMSIG(rs->status) : 0);
	len = (size_t)snprintf(msg, sizeof(msg), "the recipe: mmdebstrap failed (%s)%s", status,
			       rs->ntail ? "; its last words:" : ", saying nothing");
	/* as many of the last lines as fit, the very last ones first kept */
	for (unsigned i = first; i < rs->ntail; i++) {
		size_t room = 0;

		for (unsigned k = i; k < rs->ntail; k++)
			room += strlen(rs->tail[k % TAIL_LINES]) + 1;
		if (len + room < sizeof(msg) - 1) {
			for (unsigned k = i; k < rs->ntail; k++)
				len += (size_t)snprintf(msg + len, sizeof(msg) - len, "\n%s",
							rs->tail[k % TAIL_LINES]);
			break;
		}
	}
	return mkl_error(err, 0, "%s", msg);
}

/* The stream ended or broke: close our end (a child still writing gets
 * EPIPE) and wait for it. Its failure is the cause to report; a child
 * that ended by the broken pipe leaves the reader's error as it is. */
static int stream_end(struct recipe_source *rs, int rc, struct mkl_err *err)
{
	if (rc == 0)
		__atomic_store_n(&rs->reader_done, 1, __ATOMIC_RELEASE);
	mkl_source_close(rs->tar);
	rs->tar = NULL;
	reap(rs, 0);
	if (rc == 0 && child_ok(rs) && rs->dir)
		keep_tree(rs, rs->dir);
	if (child_ok(rs) || (rc < 0 && WIFSIGNALED(rs->status) && WTERMSIG(rs->status) == SIGPIPE))
		return rc;
	return child_error(rs, err);
}

static int recipe_next(struct mkl_source *src, struct mkl_source_entry *entry, struct mkl_err *err)
{
	struct recipe_source *rs = (struct recipe_source *)src;
	int rc;

	if (!rs->tar)
		return mkl_error(err, EINVAL, "the recipe's tree was read to its end");
	rc = mkl_source_next(rs->tar, entry, err);
	return rc > 0 ? rc : stream_end(rs, rc, err);
}

static long recipe_read(struct mkl_source *src, void *buf, size_t len, struct mkl_err *err)
{
	struct recipe_source *rs = (struct recipe_source *)src;
	long n;

	if (!rs->tar)
		return mkl_error(err, EINVAL, "the recipe's tree was read to its end");
	n = mkl_source_read(rs->tar, buf, len, err);
	return n < 0 ? stream_end(rs, -1, err) : n;
}

static void recipe_progress(struct mkl_source *src, uint64_t *done, uint64_t *total)
{
	const struct recipe_source *rs = (const struct recipe_source *)src;

	*done = *total = 0;
	if (rs->tar)
		mkl_source_progress(rs->tar, done, total);
}

static void recipe_close(struct mkl_source *src)
{
	struct recipe_source *rs = (struct recipe_source *)src;

	mkl_source_close(rs->tar);	/* closes the pipe: a writing child gets EPIPE */
	reap(rs, 1);
	if (rs->err_fd >= 0)
		close(rs->err_fd);
	if (rs->lock_fd >= 0)
		close(rs->lock_fd);
	if (rs->tee_in >= 0)
		close(rs->tee_in);
	if (rs->tee_out >= 0)
		close(rs->tee_out);
	mkl_outfile_close(&rs->tree);
	pthread_mutex_destroy(&rs->mu);
	free(rs->dir);
	free(rs);
}

static const struct mkl_source_ops recipe_ops = {
	.next = recipe_next,
	.read = recipe_read,
	.progress = recipe_progress,
	.close = recipe_close,
};

/* --- the tree cache --- */

static uint64_t walk_hash;

static int walk_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	char link[4096];
	ssize_t n;

	(void)type;
	(void)ftw;
	mkl_hash_bytes(&walk_hash, path, strlen(path) + 1);
	mkl_hash_bytes(&walk_hash, &st->st_mode, sizeof(st->st_mode));
	mkl_hash_bytes(&walk_hash, &st->st_uid, sizeof(st->st_uid));
	mkl_hash_bytes(&walk_hash, &st->st_gid, sizeof(st->st_gid));
	mkl_hash_bytes(&walk_hash, &st->st_size, sizeof(st->st_size));
	mkl_hash_bytes(&walk_hash, &st->st_mtim, sizeof(st->st_mtim));
	if (S_ISLNK(st->st_mode) && (n = readlink(path, link, sizeof(link))) > 0)
		mkl_hash_bytes(&walk_hash, link, (size_t)n);
	return 0;
}

static pthread_mutex_t walk_mu = PTHREAD_MUTEX_INITIALIZER;

/* The key of the tree argv makes (see the top of this file). */
static uint64_t tree_key(const struct mkl_recipe *r, char **argv)
{
	const char *sde = getenv("SOURCE_DATE_EPOCH"), *s, *w;
	uint64_t h = MKL_HASH_INIT;
	struct mkl_buf buf = { 0 };
	struct mkl_err ignored;
	struct stat st;
	size_t n;

	for (size_t i = 0; argv[i]; i++)
		if (strcmp(argv[i], "--skip=update") && !(strstr(argv[i], "sync-in ") && strstr(argv[i], "/lists ")))
			mkl_hash_bytes(&h, argv[i], strlen(argv[i]) + 1);
	mkl_hash_bytes(&h, sde ? sde : "", strlen(sde ? sde : "") + 1);
	if (r->include) {
		pthread_mutex_lock(&walk_mu);
		walk_hash = MKL_HASH_INIT;
		nftw(r->include, walk_one, 16, FTW_PHYS);
		mkl_hash_bytes(&h, &walk_hash, sizeof(walk_hash));
		pthread_mutex_unlock(&walk_mu);
	}
	s = r->hooks ? r->hooks : "";
	while ((n = recipe_next_word(&s, &w))) {
		char path[4096];

		snprintf(path, sizeof(path), "%.*s", (int)n, w);
		buf.len = 0;
		if (mkl_read_file(path, &buf, true, &ignored) == 0)
			mkl_hash_bytes(&h, buf.data, buf.len);
	}
	mkl_buf_free(&buf);
	/* mmdebstrap itself: a new version may make another tree */
	if (argv[0] && (argv[0][0] == '/' ? stat(argv[0], &st) == 0 : 0)) {
		mkl_hash_bytes(&h, &st.st_size, sizeof(st.st_size));
		mkl_hash_bytes(&h, &st.st_mtim, sizeof(st.st_mtim));
	} else {
		const char *vargv[] = { argv[0], "--version", NULL };
		char *out = recipe_capture(vargv);

		if (out)
			mkl_hash_bytes(&h, out, strlen(out));
		free(out);
	}
	return h;
}

/* mmdebstrap's stdout into the tar reader's pipe and, while that works,
 * into the tree cache's file. */
static void *tee_main(void *arg)
{
	struct recipe_source *rs = arg;
	ssize_t n;

	for (;;) {
		if (!rs->tee_failed) {
			n = tee(rs->tee_in, rs->tee_out, 1 << 20, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EPIPE && __atomic_load_n(&rs->reader_done, __ATOMIC_ACQUIRE)) {
				/* The reader has the whole tar; what follows its end
				 * (the record's padding) goes to the cache alone. */
				while ((n = splice(rs->tee_in, NULL, rs->tree.fd, NULL, 1 << 20, SPLICE_F_MOVE)) > 0 ||
				       (n < 0 && errno == EINTR))
					;
				break;
			}
			if (n <= 0)
				break;
			/* consume those bytes into the cache file */
			for (ssize_t left = n; left > 0;) {
				ssize_t m = splice(rs->tee_in, NULL, rs->tree.fd, NULL, (size_t)left, SPLICE_F_MOVE);

				if (m < 0 && errno == EINTR)
					continue;
				if (m <= 0) {	/* the cache cannot take it: on without it */
					char sink[65536];

					rs->tee_failed = 1;
					while (left > 0 && (m = read(rs->tee_in, sink, (size_t)left < sizeof(sink) ?
								     (size_t)left : sizeof(sink))) > 0)
						left -= m;
					break;
				}
				left -= m;
			}
		} else {
			n = splice(rs->tee_in, NULL, rs->tee_out, NULL, 1 << 20, SPLICE_F_MOVE);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
		}
	}
	if (n < 0)
		rs->tee_failed = 1;
	close(rs->tee_out);	/* the reader sees the end */
	rs->tee_out = -1;
	return NULL;
}

/* Keep the tree's tar: named when mmdebstrap has succeeded; older trees
 * of this cache directory go. */
static void keep_tree(struct recipe_source *rs, const char *dir)
{
	struct mkl_err ignored;
	DIR *d;
	struct dirent *e;
	const char *mine;

	if (rs->tree.fd < 0 || rs->tee_failed || mkl_outfile_commit(&rs->tree, &ignored))
		return;
	mine = strrchr(rs->tree.path, '/') + 1;
	if (!(d = opendir(dir)))
		return;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, "tree-", 5) && strcmp(e->d_name, mine))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
}

/* --- checks and start --- */

static int in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[4096];

	if (strchr(prog, '/'))
		return access(prog, X_OK) == 0;
	for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
		size_t n = strcspn(p, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, p, prog);
		if (n && access(buf, X_OK) == 0)
			return 1;
		p += n + (p[n] == ':');
	}
	return 0;
}

/* A line "NAME:..." or "UID:..." in /etc/subuid. */
static int has_subids(const char *name, uid_t uid)
{
	FILE *f = fopen("/etc/subuid", "r");
	char line[512], id[32];
	int yes = 0;

	snprintf(id, sizeof(id), "%u:", (unsigned)uid);
	while (f && !yes && fgets(line, sizeof(line), f))
		yes = (name && !strncmp(line, name, strlen(name)) && line[strlen(name)] == ':') ||
		      !strncmp(line, id, strlen(id));
	if (f)
		fclose(f);
	return yes;
}

static int check(const struct mkl_recipe *r, struct mkl_err *err)
{
	const char *prog = r->program ? r->program : "mmdebstrap", *s, *w;
	struct stat st;
	size_t n;

	if (!r->suite || !*r->suite)
		return mkl_error(err, 0, "the recipe names no suite ([recipe] suite = bookworm, for one)");
	if (!in_path(prog))
		return mkl_error(err, ENOENT, "the recipe needs %s (Debian's package: apt-get install "
				 "mmdebstrap)", prog);
	if (r->include && (stat(r->include, &st) || !S_ISDIR(st.st_mode)))
		return mkl_error(err, errno ? errno : ENOTDIR, "the recipe's include '%s' is not a "
				 "directory", r->include);
	s = r->hooks ? r->hooks : "";
	while ((n = recipe_next_word(&s, &w))) {
		char path[4096];

		snprintf(path, sizeof(path), "%.*s", (int)n, w);
		errno = 0;
		if (stat(path, &st) || !S_ISREG(st.st_mode) || access(path, X_OK))
			return mkl_error(err, errno ? errno : EACCES, "the recipe's hook '%s' is not an "
					 "executable file", path);
	}
	if (geteuid() != 0) {
		const char *user = getenv("USER");

		if (!has_subids(user, geteuid()))
			return mkl_error(err, EPERM, "a recipe needs root, or subordinate user and group IDs "
					 "for mmdebstrap's unshare mode: none for %s in /etc/subuid (as root: "
					 "usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s)",
					 user ? user : "this user", user ? user : "USER");
	}
	return 0;
}

/* The cache's directories, locked for this build. */
static int open_cache(struct recipe_source *rs, const char *dir, struct mkl_err *err)
{
	char *sub[2] = { recipe_fmt("%s/archives", dir), recipe_fmt("%s/lists", dir) }, *lock = recipe_fmt("%s/.lock", dir);
	int rc = -1;

	if (!sub[0] || !sub[1] || !lock) {
		mkl_error(err, ENOMEM, "out of memory");
		goto out;
	}
	if (mkl_mkdirs(sub[0], 0755, err) || mkl_mkdirs(sub[1], 0755, err)) {
		mkl_err_prefix(err, "the package cache");
		goto out;
	}
	rs->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (rs->lock_fd < 0) {
		mkl_error(err, errno, "cannot lock the package cache '%s'", lock);
		goto out;
	}
	if (flock(rs->lock_fd, LOCK_EX | LOCK_NB)) {
		keep_line(rs, "mklive: waiting for the package cache (another build uses it)");
		while (flock(rs->lock_fd, LOCK_EX))
			if (errno != EINTR || mkl_cancelled()) {
				mkl_error(err, errno == EINTR ? ECANCELED : errno,
					  "cannot lock the package cache '%s'", lock);
				goto out;
			}
	}
	rc = 0;
out:
	free(sub[0]);
	free(sub[1]);
	free(lock);
	return rc;
}

static int spawn(struct recipe_source *rs, char **argv, int *out_fd, struct mkl_err *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, dfl;
	int o[2] = { -1, -1 }, e[2] = { -1, -1 }, rc;

	if (pipe2(o, O_CLOEXEC) || pipe2(e, O_CLOEXEC)) {
		rc = errno;
		goto fail;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, o[1], 1);
	posix_spawn_file_actions_adddup2(&fa, e[1], 2);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGTERM);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dfl);
	posix_spawnattr_setpgroup(&at, 0);	/* its own group: ended as one */
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
				      POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawnp(&rs->pid, argv[0], &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (rc) {
		rs->pid = 0;
		goto fail;
	}
	close(o[1]);
	close(e[1]);
	rs->err_fd = e[0];
	*out_fd = o[0];
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (o[i] >= 0)
			close(o[i]);
		if (e[i] >= 0)
			close(e[i]);
	}
	return mkl_error(err, rc, "cannot start %s", argv[0]);
}

/* The tree from the cache, when it has the recipe's. 1: opened; 0: not
 * there; -1: error. */
static int open_kept(struct recipe_source *rs, const char *path, struct mkl_err *err)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char line[512];

	if (fd < 0)
		return errno == ENOENT ? 0 : mkl_error(err, errno, "cannot open the kept tree '%s'", path);
	if (fstat(fd, &st) < 0) {
		close(fd);
		return mkl_error(err, errno, "cannot open the kept tree '%s'", path);
	}
	snprintf(line, sizeof(line), "mklive: the recipe's tree as the last build made it: %s "
		 "(--refresh makes it again)", path);
	keep_line(rs, line);
	if (mkl_source_tar_open(fd, 1, path, (uint64_t)st.st_size, &rs->tar, err))
		return -1;
	return 1;
}

/* mmdebstrap's stdout to the tar reader through the tee thread, keeping
 * the tree at path; where that cannot be, straight. The reader's fd. */
static int start_tee(struct recipe_source *rs, int out_fd, const char *path)
{
	struct mkl_err ignored;
	int p[2];

	if (mkl_outfile_open(&rs->tree, path, false, &ignored))
		return out_fd;
	if (pipe2(p, O_CLOEXEC)) {
		mkl_outfile_close(&rs->tree);
		return out_fd;
	}
	rs->tee_in = out_fd;
	rs->tee_out = p[1];
	if (pthread_create(&rs->tee_thread, NULL, tee_main, rs)) {
		rs->tee_in = rs->tee_out = -1;
		close(p[0]);
		close(p[1]);
		mkl_outfile_close(&rs->tree);
		return out_fd;
	}
	rs->tee_started = 1;
	return p[0];
}

int mkl_source_recipe_open(const struct mkl_recipe *r, struct mkl_source **out, struct mkl_err *err)
{
	struct recipe_source *rs;
	char **argv = NULL, *tree = NULL;
	int fd = -1, rc, kept = 0;

	*out = NULL;
	if (check(r, err))
		return -1;
	rs = mkl_calloc(1, sizeof(*rs), err);
	if (!rs)
		return -1;
	rs->base.ops = &recipe_ops;
	rs->err_fd = rs->lock_fd = rs->tee_in = rs->tee_out = -1;
	rs->tree.fd = -1;
	rs->note = r->note;
	rs->ctx = r->ctx;
	rs->on_tree = r->tree;
	rs->tree_ctx = r->tree_ctx;
	pthread_mutex_init(&rs->mu, NULL);
	if (!(argv = recipe_make_argv(r, &rs->dir, err)) || (rs->dir && open_cache(rs, rs->dir, err)))
		goto fail;
	if (rs->dir && !(tree = recipe_fmt("%s/tree-%016llx.tar", rs->dir,
				     (unsigned long long)tree_key(r, argv)))) {
		mkl_error(err, ENOMEM, "out of memory");
		goto fail;
	}
	if (tree && !r->refresh && (kept = open_kept(rs, tree, err)) < 0)
		goto fail;
	if (kept)
		goto done;
	if (spawn(rs, argv, &fd, err))
		goto fail;
	rc = pthread_create(&rs->thread, NULL, err_main, rs);
	if (rc) {
		mkl_error(err, rc, "cannot start a thread for mmdebstrap's output");
		close(fd);
		goto fail;
	}
	rs->thread_started = 1;
	if (tree)
		fd = start_tee(rs, fd, tree);
	/* Reads the first header: waits until mmdebstrap writes the tree. */
	if (mkl_source_tar_open(fd, 1, "the recipe's tree (mmdebstrap's tar)", 0, &rs->tar, err)) {
		reap(rs, mkl_cancelled());
		if (!child_ok(rs) && !mkl_cancelled())
			child_error(rs, err);
		goto fail;
	}
done:
	recipe_argv_free(argv);
	free(tree);
	*out = &rs->base;
	return 0;
fail:
	recipe_argv_free(argv);
	free(tree);
	recipe_close(&rs->base);
	return -1;
}
