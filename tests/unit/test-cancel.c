/* Cancellation (src/tree/err.c): mkl_wait_fd() on a pipe whose writer has
 * stalled ends when mkl_cancel() runs, whether that was before the wait
 * began (the signal that lands between a check of the flag and a blocking
 * read, which once left `mklive build` waiting on a FIFO for ever), from a
 * signal handler on another thread, or while waiting to write to a full
 * pipe; and it does not get in the way of data, end of file or a build
 * without the wake-up pipe. The flag is process-wide and never cleared, so
 * each case runs in a child of its own, with alarm() as the bound on a
 * hang. */
#include "t.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tree/err.h"

/* Run fn in a child; its exit status (0 good), or 100 + signal. */
static int in_child(int (*fn)(void))
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		alarm(10);
		_exit(fn());
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

/* A pipe with a writer that stays and writes nothing: a read would block. */
static int stalled[2];

static int cancel_first(void)
{
	if (pipe(stalled) || mkl_cancel_init())
		return 2;
	mkl_cancel();
	errno = 0;
	return mkl_wait_fd(stalled[0], 0) == -1 && errno == ECANCELED ? 0 : 1;
}

static void on_usr1(int sig)
{
	(void)sig;
	mkl_cancel();
}

static void *raise_usr1(void *arg)
{
	sigset_t usr1;

	(void)arg;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
	kill(getpid(), SIGUSR1);	/* the main thread blocks it: it comes here */
	return NULL;
}

/* The handler runs on another thread; no read in the waiting thread is
 * interrupted, the wake-up pipe has to do it. */
static int cancel_other_thread(int for_write)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigset_t usr1;
	pthread_t th;
	void *r;

	if (pipe(stalled) || mkl_cancel_init())
		return 2;
	if (for_write) {
		char block[4096] = { 0 };

		fcntl(stalled[1], F_SETFL, O_NONBLOCK);
		while (write(stalled[1], block, sizeof(block)) > 0)
			;
		fcntl(stalled[1], F_SETFL, 0);
	}
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, NULL);	/* here; the thread unblocks it */
	if (pthread_create(&th, NULL, raise_usr1, NULL))
		return 3;
	errno = 0;
	if (mkl_wait_fd(for_write ? stalled[1] : stalled[0], for_write) != -1 || errno != ECANCELED)
		return 1;
	pthread_join(th, &r);
	return 0;
}

static int cancel_thread_read(void)
{
	return cancel_other_thread(0);
}

static int cancel_thread_write(void)
{
	return cancel_other_thread(1);
}

static int data_ready(void)
{
	if (pipe(stalled) || mkl_cancel_init() || write(stalled[1], "x", 1) != 1)
		return 2;
	return mkl_wait_fd(stalled[0], 0) == 0 && !mkl_cancelled() ? 0 : 1;
}

static int end_of_file(void)
{
	if (pipe(stalled) || mkl_cancel_init())
		return 2;
	close(stalled[1]);
	return mkl_wait_fd(stalled[0], 0) == 0 ? 0 : 1;
}

static int without_init(void)
{
	if (pipe(stalled) || write(stalled[1], "x", 1) != 1)
		return 2;
	return mkl_wait_fd(stalled[0], 0) == 0 ? 0 : 1;
}

static int init_twice(void)
{
	if (pipe(stalled) || mkl_cancel_init() || mkl_cancel_init())
		return 2;
	mkl_cancel();
	return mkl_wait_fd(stalled[0], 0) == -1 && errno == ECANCELED ? 0 : 1;
}

int main(void)
{
	T_EQ_INT(in_child(cancel_first), 0);
	T_EQ_INT(in_child(cancel_thread_read), 0);
	T_EQ_INT(in_child(cancel_thread_write), 0);
	T_EQ_INT(in_child(data_ready), 0);
	T_EQ_INT(in_child(end_of_file), 0);
	T_EQ_INT(in_child(without_init), 0);
	T_EQ_INT(in_child(init_twice), 0);
	return t_done();
}
