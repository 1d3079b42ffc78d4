/* Asking on the console: the kernel's consoles are all in /proc/consoles
 * (the screen's tty0 and a serial port, say), and /dev/console is only the
 * last of them; the user types on whichever is in front of them. So the
 * prompt goes to every one, echo off, and the first line typed on any is
 * the answer, as systemd's password agents do. See helper.h. */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "helper.h"

#define MAXCONS 8

struct con {
	int fd, tty;
	struct termios old;
};

/* The consoles' devices, open; stderr when there are none. */
static int open_consoles(struct con *c)
{
	char text[1024], path[64], *line, *save = NULL;
	int fd = open("/proc/consoles", O_RDONLY | O_CLOEXEC), n = 0;
	ssize_t r = fd < 0 ? -1 : read(fd, text, sizeof(text) - 1);

	if (fd >= 0)
		close(fd);
	text[r > 0 ? r : 0] = 0;
	for (line = strtok_r(text, "\n", &save); line && n < MAXCONS; line = strtok_r(NULL, "\n", &save)) {
		size_t len = strcspn(line, " \t");

		if (!len || len > 40)
			continue;
		snprintf(path, sizeof(path), "/dev/%.*s", (int)len, line);
		c[n].fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
		c[n].tty = 0;
		if (c[n].fd >= 0)
			n++;
	}
	if (!n) {
		c[0].fd = dup(2);
		c[n++].tty = 0;
	}
	return n;
}

static void close_consoles(struct con *c, int n)
{
	while (n--) {
		if (c[n].tty)
			tcsetattr(c[n].fd, TCSAFLUSH, &c[n].old);
		close(c[n].fd);
	}
}

static void write_all(const struct con *c, int n, const char *text)
{
	int i;

	for (i = 0; i < n; i++)
		if (write(c[i].fd, text, strlen(text)) < 0)
			continue;	/* a console gone: the others still hear */
}

void ask_say(const char *text)
{
	struct con c[MAXCONS];
	int n = open_consoles(c);

	write_all(c, n, text);
	write_all(c, n, "\n");
	close_consoles(c, n);
}

int ask_pass(const char *prompt, char *buf, size_t size)
{
	struct con c[MAXCONS];
	struct pollfd p[MAXCONS];
	int n = open_consoles(c), i, open = n, done = 0;
	size_t len = 0;
	unsigned char ch;

	for (i = 0; i < n; i++) {
		struct termios t;

		c[i].tty = !tcgetattr(c[i].fd, &c[i].old);
		if (c[i].tty) {
			/* byte by byte, no echo; Enter ends the line (CR made NL) */
			t = c[i].old;
			t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON);
			t.c_iflag |= ICRNL;
			t.c_cc[VMIN] = 1;
			t.c_cc[VTIME] = 0;
			tcsetattr(c[i].fd, TCSAFLUSH, &t);
		}
		p[i].fd = c[i].fd;
		p[i].events = POLLIN;
	}
	write_all(c, n, prompt);
	/* one line, whichever console its bytes come from: one user types */
	while (!done && open) {
		if (poll(p, (nfds_t)n, -1) < 0)
			continue;
		for (i = 0; i < n && !done; i++) {
			if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (read(c[i].fd, &ch, 1) != 1) {
				p[i].fd = -1;	/* this one is gone */
				open--;
			} else if (ch == '\n' || ch == '\r') {
				done = 1;
			} else if (ch == 0x7f || ch == '\b') {
				len -= len > 0;
			} else if (ch == 0x15) {	/* ^U: start again */
				len = 0;
			} else if (len + 1 < size) {
				buf[len++] = (char)ch;
			}
		}
	}
	buf[len] = 0;
	write_all(c, n, "\n");
	close_consoles(c, n);
	return done ? 0 : -1;
}
