/* libisofs set-up and messages, shared by iso.c and isotree.c. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

/* The copy of struct burn_source in libisofs.h (we do not use libburn). */
#define LIBISOFS_WITHOUT_LIBBURN 1
#include <libisofs/libisofs.h>

#include "fmt/isolib.h"

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result;
static pthread_mutex_t msg_lock = PTHREAD_MUTEX_INITIALIZER;

static void setup_once(void)
{
	init_result = iso_init();
	if (init_result < 0)
		return;
	/* Queue what matters for error messages, print nothing. */
	iso_set_msgs_severities("SORRY", "NEVER", "libisofs");
	/* Names in the tree are UTF-8 bytes, whatever the locale says. */
	iso_set_local_charset("UTF-8", 0);
}

int mkl_isolib_setup(struct mkl_err *err)
{
	pthread_once(&init_once, setup_once);
	if (init_result < 0)
		return mkl_isolib_fail(err, init_result, "cannot start libisofs");
	mkl_isolib_drain(NULL, 0);
	return 0;
}

void mkl_isolib_drain(char *last, size_t size)
{
	char text[ISO_MSGS_MESSAGE_LEN], sev[80];
	int code, imgid;

	pthread_mutex_lock(&msg_lock);
	while (iso_obtain_msgs("ALL", &code, &imgid, text, sev) > 0) {
		if (last && (strcmp(sev, "SORRY") == 0 || strcmp(sev, "FAILURE") == 0 ||
			     strcmp(sev, "FATAL") == 0 || strcmp(sev, "ABORT") == 0))
			snprintf(last, size, "%s", text);
	}
	pthread_mutex_unlock(&msg_lock);
}

int mkl_isolib_fail(struct mkl_err *err, int ret, const char *what)
{
	return mkl_error(err, ret == (int)ISO_OUT_OF_MEM ? ENOMEM : 0, "%s: %s", what,
			 iso_error_to_msg(ret));
}
