/* A small test harness: each unit test program prints one line per check
 * and closes with "N passed, N failed" (the line tests/run.sh reads). */
#ifndef MKL_T_H
#define MKL_T_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_passed, t_failed, t_skipped;

#define T_OK(cond, ...)                                                        \
	do {                                                                   \
		if (cond) {                                                    \
			t_passed++;                                            \
		} else {                                                       \
			t_failed++;                                            \
			printf("not ok - %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__);                                   \
			printf("\n");                                          \
		}                                                              \
	} while (0)

#define T_EQ_INT(a, b) T_OK((long long)(a) == (long long)(b), "%lld != %lld", (long long)(a), (long long)(b))
#define T_EQ_STR(a, b)                                                         \
	do {                                                                   \
		const char *t_a_ = (a), *t_b_ = (b);                           \
		T_OK(t_a_ && t_b_ && strcmp(t_a_, t_b_) == 0, "'%s' != '%s'",  \
		     t_a_ ? t_a_ : "(null)", t_b_ ? t_b_ : "(null)");          \
	} while (0)
#define T_SKIP(why) do { t_skipped++; printf("skip - %s\n", why); } while (0)

static inline int t_done(void)
{
	if (t_skipped)
		printf("%d passed, %d failed, %d skipped\n", t_passed, t_failed, t_skipped);
	else
		printf("%d passed, %d failed\n", t_passed, t_failed);
	return t_failed ? 1 : 0;
}

#endif
