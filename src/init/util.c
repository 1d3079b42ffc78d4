/*
 * Messages, small file helpers and directories for mklive-init.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "init.h"

int log_level = MKL_INFO;
static unsigned long start_ms;

unsigned long now_ms(void)
{
	struct timespec ts;

	/* the system call itself: musl's clock_gettime looks the vDSO up,
	 * 0.8 KB of the init, to save a microsecond a call */
	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
	return (unsigned long)ts.tv_sec * 1000 + (unsigned long)ts.tv_nsec / 1000000;
}

unsigned long since_start_ms(void)
{
	if (!start_ms)
		start_ms = now_ms();
	return now_ms() - start_ms;
}

/*
 * A vsnprintf(3) for the few conversions the init uses: %s %.*s %c %d %u
 * %lu %zu with an optional width.  musl's printf with its floating point
 * would be a sixth of the binary.
 */
static size_t vfmt(char *buf, size_t size, const char *f, va_list ap)
{
	char tmp[24];
	size_t n = 0;
	const char *s;
	unsigned long v;
	long sv;
	int prec, width, lng, k, neg;

	/* c is evaluated even when buf is full: "PUT(tmp[--k])" counts down */
#define PUT(c) do { char c_ = (c); if (n + 1 < size) buf[n] = c_; n++; } while (0)
	for (; *f; f++) {
		if (*f != '%') {
			PUT(*f);
			continue;
		}
		f++;
		prec = -1;
		width = lng = neg = 0;
		if (f[0] == '.' && f[1] == '*') {
			prec = va_arg(ap, int);
			f += 2;
		}
		while (*f >= '0' && *f <= '9')
			width = width * 10 + *f++ - '0';
		while (*f == 'l' || *f == 'z') {
			lng = 1;
			f++;
		}
		switch (*f) {
		case 's':
			s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			for (k = 0; s[k] && (prec < 0 || k < prec); k++)
				PUT(s[k]);
			break;
		case 'c':
			PUT((char)va_arg(ap, int));
			break;
		case 'd':
		case 'u':
			if (*f == 'd') {
				sv = lng ? va_arg(ap, long) : va_arg(ap, int);
				neg = sv < 0;
				v = neg ? -(unsigned long)sv : (unsigned long)sv;
			} else {
				v = lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned);
			}
			k = 0;
			do
				tmp[k++] = '0' + v % 10;
			while ((v /= 10));
			if (neg)
				tmp[k++] = '-';
			while (k < width && k < (int)sizeof(tmp))
				tmp[k++] = ' ';
			while (k)
				PUT(tmp[--k]);
			break;
		case 0:
			f--;
			break;
		default:
			PUT(*f);
		}
	}
#undef PUT
	if (size)
		buf[n < size ? n : size - 1] = 0;
	return n;
}

size_t sfmt(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = vfmt(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

/*
 * What errno e means, in a few words.  Our own short table of the errors a
 * PID 1 meets (files, devices, mounts, modules, memory) instead of musl's
 * strerror, whose table of every error is 2 KB; anything else is "error N",
 * the number errno(3) lists.  Each entry: the errno as one byte, the text,
 * a NUL.
 */
static const char errtab[] =
	"\001operation not permitted\0"
	"\002no such file or directory\0"
	"\004interrupted\0"
	"\005input/output error\0"
	"\006no such device or address\0"
	"\007argument list too long\0"
	"\010exec format error\0"
	"\011bad file descriptor\0"
	"\013resource temporarily unavailable\0"
	"\014out of memory\0"
	"\015permission denied\0"
	"\017not a block device\0"
	"\020device or resource busy\0"
	"\021file exists\0"
	"\022cross-device link\0"
	"\023no such device\0"
	"\024not a directory\0"
	"\025is a directory\0"
	"\026invalid argument\0"
	"\027too many open files in the system\0"
	"\030too many open files\0"
	"\031inappropriate ioctl for device\0"
	"\032text file busy\0"
	"\033file too large\0"
	"\034no space left on device\0"
	"\036read-only file system\0"
	"\037too many links\0"
	"\040broken pipe\0"
	"\044file name too long\0"
	"\046function not implemented\0"
	"\047directory not empty\0"
	"\050too many levels of symbolic links\0"
	"\075no data available\0"
	"\112bad message\0"
	"\113value too large for its type\0"
	"\137operation not supported\0"
	"\150connection reset by peer\0"
	"\151no buffer space available\0"
	"\156timed out\0"
	"\165structure needs cleaning\0"
	"\172disk quota exceeded\0"
	"\173no medium found\0"
	"\174wrong medium type\0"
	"\176required key not available\0"
	"\201key was rejected by service\0";

const char *errstr(int e)
{
	static char num[24];
	const char *p;

	for (p = errtab; *p; p += strlen(p) + 1)
		if ((unsigned char)*p == e)
			return p + 1;
	sfmt(num, sizeof(num), "error %d", e);
	return num;
}

/* The kernel's other consoles (console=ttyS0 console=tty0: /dev/console is
 * the last one only). Messages go to every one, so a laptop's screen and a
 * serial line both show what the init found or missed. */
#define MAX_CONSOLES 4
static int extra_console[MAX_CONSOLES];
static int n_extra;

/*
 * One line on stderr (the console once open_console() ran), prefixed with
 * "mklive: " and, in debug mode, the milliseconds since the init started.
 */
void msg(int level, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	size_t n;

	if (level > log_level)
		return;
	if (log_level >= MKL_DEBUG)
		n = sfmt(buf, sizeof(buf), "mklive: [%5lu ms] ", since_start_ms());
	else
		n = sfmt(buf, sizeof(buf), "mklive: ");
	va_start(ap, fmt);
	n += vfmt(buf + n, sizeof(buf) - n - 1, fmt, ap);
	va_end(ap);
	if (n > sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	while (write(2, buf, n) < 0 && errno == EINTR)
		;
	for (int i = 0; i < n_extra; i++)
		while (write(extra_console[i], buf, n) < 0 && errno == EINTR)
			;
}

/* The whole of a (proc, sys or initramfs) file, NUL terminated; NULL on error. */
char *read_file(const char *path)
{
	return read_fd(open(path, O_RDONLY | O_CLOEXEC));
}

/* The same from an open file, which it closes; NULL also when fd < 0. */
char *read_fd(int fd)
{
	size_t cap = 4096, len = 0;
	char *buf, *nbuf;
	ssize_t r;

	if (fd < 0)
		return NULL;
	buf = malloc(cap + 1);
	while (buf) {
		if (len == cap) {
			cap *= 2;
			nbuf = realloc(buf, cap + 1);
			if (!nbuf) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nbuf;
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			buf = NULL;
			break;
		}
		if (r == 0) {
			buf[len] = 0;
			break;
		}
		len += r;
	}
	close(fd);
	return buf;
}

/* A short sysfs attribute into buf, trailing newline removed; -1 on error. */
int read_attr(int dfd, const char *name, char *buf, size_t size)
{
	ssize_t r;
	int fd;

	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	r = read(fd, buf, size - 1);
	close(fd);
	if (r < 0)
		return -1;
	while (r > 0 && (buf[r - 1] == '\n' || buf[r - 1] == ' '))
		r--;
	buf[r] = 0;
	return 0;
}

int mkdir_p(const char *path, mode_t mode)
{
	char tmp[256];
	size_t len = strlen(path);
	char *p;

	if (len >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(tmp, path, len + 1);
	for (p = tmp + 1; ; p++) {
		if (*p != '/' && *p)
			continue;
		char c = *p;
		*p = 0;
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -1;
		if (!c)
			return 0;
		*p = c;
	}
}

/*
 * Make /dev/console our stdin, stdout and stderr.  The kernel opens it for
 * /init only if the initramfs has a /dev/console node; ours need not have
 * one, so this runs again once devtmpfs is mounted (and after switch_root).
 */

static void open_other_consoles(void)
{
	char *list = read_file("/proc/consoles"), *line, *next;

	for (line = list; line && *line && n_extra < MAX_CONSOLES; line = next) {
		char name[32], path[48], *flags;
		size_t n = 0;
		int fd;

		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		while (line[n] && line[n] != ' ' && n < sizeof(name) - 1) {
			name[n] = line[n];
			n++;
		}
		name[n] = 0;
		flags = strchr(line, '(');
		/* 'C' in "(EC p a)": the preferred console, /dev/console itself */
		if (!n || !flags || !strchr(flags, ')') ||
		    (strchr(flags, 'C') && strchr(flags, 'C') < strchr(flags, ')')))
			continue;
		sfmt(path, sizeof(path), "/dev/%s", name);
		fd = open(path, O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
		if (fd >= 0)
			extra_console[n_extra++] = fd;
	}
	free(list);
}

int open_console(void)
{
	int fd, i;

	fd = open("/dev/console", O_RDWR | O_NOCTTY);
	if (fd < 0)
		return -1;
	for (i = 0; i < 3; i++)
		if (fd != i)
			dup2(fd, i);
	if (fd > 2)
		close(fd);
	if (!n_extra)
		open_other_consoles();
	return 0;
}

/* /mklive-helper JOB ARGS (argv, NULL-terminated): 0 when it exited 0; it
 * says itself on the console why not. */
int helper(char **argv)
{
	pid_t pid = _Fork();
	int st;

	if (pid == 0) {
		execv("/mklive-helper", argv);
		_exit(127);
	}
	return pid > 0 && waitpid(pid, &st, 0) == pid && st == 0 ? 0 : -1;
}
