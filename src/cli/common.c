/* What every command shares: the program name for messages, usage errors. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stdint.h>

#include "cli/cli.h"
#include "tree/err.h"

const char *prog = "mklive";

void die_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help' for more information.\n", prog);
	exit(2);
}

long cli_number(const char *opt, const char *text, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	if (errno || end == text || *end || v < lo || v > hi)
		die_usage("%s: '%s' is not a number from %ld to %ld", opt, text, lo, hi);
	return v;
}

/* The message without strerror's text, the code ERANGE for cli_size. */
static int too_large(const char *text, struct mkl_err *err)
{
	mkl_error(err, 0, "'%s' is too large", text);
	err->code = ERANGE;
	return -1;
}

int mkl_parse_size(const char *text, uint64_t *out, struct mkl_err *err)
{
	const char *p = text;
	uint64_t v = 0, mul = 1;

	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return too_large(text, err);
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (p > text && *p && strchr("KkMmGg", *p)) {
		mul = 1ULL << (strchr("Kk", *p) ? 10 : strchr("Mm", *p) ? 20 : 30);
		p++;
		if (!strcmp(p, "iB") && (p[-1] == 'K' || p[-1] == 'M' || p[-1] == 'G'))
			p += 2;
	}
	if (p == text || *p)
		return mkl_error(err, 0, "'%s' is not a size (bytes, or a number with K, M or G)", text);
	if (v > UINT64_MAX / mul)
		return too_large(text, err);
	*out = v * mul;
	return 0;
}

uint64_t cli_size(const char *opt, const char *text, int zero_ok, uint64_t max, const char *max_text)
{
	struct mkl_err err;
	uint64_t v;

	if (mkl_parse_size(text, &v, &err)) {
		if (err.code == ERANGE)
			die_usage("%s: %s", opt, err.msg);
		die_usage("%s: '%s' is not a size in bytes (a number, or with K, M, G, KiB, MiB or GiB)",
			  opt, text);
	}
	if (!v && !zero_ok)
		die_usage("%s: '%s' is not a size above 0", opt, text);
	if (max && v > max)
		die_usage("%s: %s is larger than %s", opt, text, max_text);
	return v;
}

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
	mkl_cancel();
}

void cli_catch_signals(void)
{
	struct sigaction sa = { 0 };

	/* The wake-up pipe first: reads of input that can stall wait in
	 * mkl_wait_fd(), which then ends whichever thread takes the signal and
	 * whenever it comes. No SA_RESTART: other blocked calls return EINTR
	 * and the command unwinds. SA_RESETHAND: a second Ctrl-C stops at once
	 * (the output is an unnamed file until complete, so nothing is left). */
	(void)mkl_cancel_init();
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int cli_report(const struct mkl_err *err)
{
	if (got_signal) {
		fprintf(stderr, "%s: interrupted (%s); no output written\n", prog, strsignal(got_signal));
		return 128 + got_signal;
	}
	fprintf(stderr, "%s: %s\n", prog, err->msg);
	return 1;
}

int cli_time(int64_t *t)
{
	int r = cli_source_date(t);

	if (r == 1)
		*t = (int64_t)time(NULL);
	return r < 0 ? -1 : 0;
}

int cli_source_date(int64_t *t)
{
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	char *end;
	long long v;

	if (!sde || !*sde)
		return 1;
	errno = 0;
	v = strtoll(sde, &end, 10);
	if (errno || *end || v < 0) {
		fprintf(stderr, "%s: SOURCE_DATE_EPOCH='%s' is not a number of seconds\n", prog, sde);
		return -1;
	}
	*t = v;
	return 0;
}

uint32_t cli_serial(int64_t t)
{
	/* As DOS made it from the date, but mixed so that nearby times
	 * give unrelated serials. */
	uint64_t x = (uint64_t)t * 0x9e3779b97f4a7c15ull;

	x ^= x >> 29;
	return (uint32_t)(x ^ (x >> 32));
}

const char *cli_fat_label(const char *opt, const char *text, char out[12])
{
	size_t n = strlen(text);

	if (n > 11)
		die_usage("%s: '%s' is longer than 11 characters", opt, text);
	for (size_t i = 0; i <= n; i++)
		out[i] = text[i] >= 'a' && text[i] <= 'z' ? (char)(text[i] - 'a' + 'A') : text[i];
	return out;
}
