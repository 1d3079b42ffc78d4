/* Shared by the libFuzzer harnesses in tests/fuzz (see run.sh): the entry
 * point's prototype, and an in-memory file for readers that take a file
 * descriptor or a path. */
#ifndef MKL_FUZZ_H
#define MKL_FUZZ_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A harness's own check failed: stop, so that libFuzzer keeps the input. */
#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #cond);                              \
			abort();                                               \
		}                                                              \
	} while (0)

/* One memfd for the process, refilled for each input: its descriptor, and
 * "/proc/self/fd/N" in path (an independent open file when opened). */
static inline int fuzz_memfd(const uint8_t *data, size_t size, char *path, size_t path_size)
{
	static int fd = -1;

	if (fd < 0) {
		fd = memfd_create("fuzz-input", MFD_CLOEXEC);
		FUZZ_CHECK(fd >= 0);
	}
	FUZZ_CHECK(ftruncate(fd, 0) == 0);
	FUZZ_CHECK(size == 0 || pwrite(fd, data, size, 0) == (ssize_t)size);
	FUZZ_CHECK(lseek(fd, 0, SEEK_SET) == 0);
	if (path)
		snprintf(path, path_size, "/proc/self/fd/%d", fd);
	return fd;
}

#endif
