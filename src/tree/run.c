/* Child processes with their output captured (see run.h). */
#include "tree/run.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* The command as the user would type it, for messages (shortened). */
static void command_text(const char *const argv[], char *out, size_t size)
{
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; argv[i] && n + 1 < size; i++) {
		int w = snprintf(out + n, size - n, "%s%s", i ? " " : "", argv[i]);

		if (w < 0)
			break;
		n += (size_t)w;
	}
	if (n >= size && size > 4)
		memcpy(out + size - 4, "...", 4);
}

/* What the program said last, on one line: apt's and dpkg's error lines
 * ("E: ...", "dpkg...: error: ...") when there are any, else the last
 * line that is not empty. */
static void last_words(const struct mkl_buf *b, char *out, size_t size)
{
	const char *text = (const char *)b->data, *end = text + b->len, *p, *line = NULL;
	size_t n = 0, len;

	out[0] = '\0';
	for (p = text; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;

		len = (size_t)(e - p);
		while (len && (p[len - 1] == '\r' || p[len - 1] == ' '))
			len--;
		if ((len > 3 && !memcmp(p, "E: ", 3)) || (len && memmem(p, len, "error:", 6))) {
			if (n && n + 3 < size)
				n += (size_t)snprintf(out + n, size - n, "; ");
			if (n + 1 < size)
				n += (size_t)snprintf(out + n, size - n, "%.*s", (int)len, p);
		}
		if (len)
			line = p;
		p = nl ? nl + 1 : end;
	}
	if (n || !line)
		return;
	len = strcspn(line, "\r\n");
	snprintf(out, size, "%.*s", (int)len, line);
}

static int keep(struct mkl_buf *out, const char *data, size_t len, struct mkl_err *err)
{
	if (out->len >= MKL_RUN_KEEP)
		return 0;
	if (len > MKL_RUN_KEEP - out->len)
		len = MKL_RUN_KEEP - out->len;
	return mkl_buf_sink(out, data, len, err);
}

int mkl_run(const char *const argv[], const char *cwd, struct mkl_buf *out, struct mkl_err *err)
{
	struct mkl_buf own = { 0 }, *said = out ? out : &own;
	size_t said_from = said->len;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	char cmd[256], words[512], chunk[4096];
	int pipefd[2], status = 0, rc, ret = -1, cancelled = 0, lost = 0;
	pid_t pid;

	command_text(argv, cmd, sizeof(cmd));
	if (pipe2(pipefd, O_CLOEXEC))
		return mkl_error(err, errno, "cannot run '%s': pipe", cmd);
	/* The child gets the signals' defaults (the command catches SIGINT
	 * and ignores SIGPIPE) and no blocked ones; its input is /dev/null,
	 * its output and errors our pipe. */
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGHUP);
	sigaddset(&dfl, SIGPIPE);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	if (cwd)
		posix_spawn_file_actions_addchdir_np(&fa, cwd);
	rc = posix_spawnp(&pid, argv[0], &fa, &attr, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(pipefd[1]);
	if (rc) {
		close(pipefd[0]);
		if (rc == ENOENT && cwd && access(cwd, X_OK))
			return mkl_error(err, errno, "cannot run '%s' in '%s'", cmd, cwd);
		return mkl_error(err, rc, "cannot run '%s'", cmd);
	}
	for (;;) {
		ssize_t n;

		if (mkl_wait_fd(pipefd[0], 0)) {
			cancelled = 1;
			kill(pid, SIGTERM);
			break;
		}
		n = read(pipefd[0], chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (keep(said, chunk, (size_t)n, err)) {	/* out of memory: err says so */
			lost = 1;
			kill(pid, SIGTERM);
			break;
		}
	}
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (lost)
		goto out;
	if (cancelled || mkl_cancelled()) {
		mkl_error(err, ECANCELED, "'%s': cancelled", cmd);
		goto out;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		ret = 0;
		goto out;
	}
	{
		struct mkl_buf tail = { .data = said->data + said_from, .len = said->len - said_from };

		last_words(&tail, words, sizeof(words));
	}
	if (WIFSIGNALED(status))
		mkl_error(err, 0, "'%s' was killed by signal %d (%s)%s%s", cmd, WTERMSIG(status),
			  strsignal(WTERMSIG(status)), words[0] ? ": " : "", words);
	else
		mkl_error(err, 0, "'%s' failed (exit status %d)%s%s", cmd, WEXITSTATUS(status),
			  words[0] ? ": " : "", words);
out:
	mkl_buf_free(&own);
	return ret;
}
