/* SHA-256 against the FIPS 180-4 examples and against sha256sum(1) (a
 * reader we did not write) on lengths around every block boundary and fed
 * in uneven pieces: ours (sha256.c, the init's) and the host's (digest.c,
 * libcrypto), which must agree. */
#include "t.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "fmt/digest.h"
#include "fmt/sha256.h"

static void ours(const void *data, size_t len, size_t piece, char hex[65])
{
	struct mkl_sha256 s;
	unsigned char sum[32];
	const unsigned char *p = data;

	mkl_sha256_init(&s);
	while (len) {
		size_t n = piece && piece < len ? piece : len;

		mkl_sha256_update(&s, p, n);
		p += n;
		len -= n;
	}
	mkl_sha256_final(&s, sum);
	mkl_sha256_hex(sum, hex);
}

/* The host's SHA-256 (libcrypto), reused across calls as iso.c does. */
static void host(const void *data, size_t len, size_t piece, char hex[65])
{
	static struct mkl_digest *d;
	struct mkl_err err;
	unsigned char sum[32];
	const unsigned char *p = data;

	hex[0] = 0;
	if (!d && !(d = mkl_digest_new(&err)))
		return;
	if (mkl_digest_reset(d))
		return;
	while (len) {
		size_t n = piece && piece < len ? piece : len;

		if (mkl_digest_update(d, p, n))
			return;
		p += n;
		len -= n;
	}
	if (mkl_digest_final(d, sum) == 0)
		mkl_sha256_hex(sum, hex);
}

static int theirs(const void *data, size_t len, char hex[65])
{
	char path[] = "/tmp/mkl-sha-XXXXXX", cmd[128];
	int fd = mkstemp(path);
	FILE *f;
	int ok;

	if (fd < 0 || write(fd, data, len) != (ssize_t)len)
		return -1;
	close(fd);
	snprintf(cmd, sizeof(cmd), "sha256sum %s", path);
	f = popen(cmd, "r");
	ok = f && fscanf(f, "%64s", hex) == 1;
	if (f)
		pclose(f);
	unlink(path);
	return ok ? 0 : -1;
}

int main(void)
{
	static unsigned char buf[300000];
	char a[65], b[65];
	uint32_t x = 12345;

	ours("abc", 3, 0, a);
	T_OK(!strcmp(a, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "%s", a);
	host("abc", 3, 0, a);
	T_OK(!strcmp(a, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "host: %s", a);
	host("", 0, 0, a);
	T_OK(!strcmp(a, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), "host: %s", a);
	ours("", 0, 0, a);
	T_OK(!strcmp(a, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), "%s", a);
	ours("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, 0, a);
	T_OK(!strcmp(a, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"), "%s", a);

	for (size_t i = 0; i < sizeof(buf); i++) {
		x = x * 1103515245 + 12345;
		buf[i] = (unsigned char)(x >> 16);
	}
	if (theirs("", 0, b)) {
		T_SKIP("sha256sum not available");
		return t_done();
	}
	static const size_t lens[] = { 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000, 4096,
				       65536, 299999 };
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		T_OK(theirs(buf, lens[i], b) == 0, "sha256sum on %zu bytes", lens[i]);
		ours(buf, lens[i], 0, a);
		T_OK(!strcmp(a, b), "%zu bytes at once: %s != %s", lens[i], a, b);
		ours(buf, lens[i], 7, a);
		T_OK(!strcmp(a, b), "%zu bytes in pieces of 7: %s != %s", lens[i], a, b);
		ours(buf, lens[i], 64, a);
		T_OK(!strcmp(a, b), "%zu bytes in pieces of 64: %s != %s", lens[i], a, b);
		host(buf, lens[i], 7, a);
		T_OK(!strcmp(a, b), "host: %zu bytes in pieces of 7: %s != %s", lens[i], a, b);
	}

	/* mkl_digest_fd: a range of a file, over its 1 MiB reads (the image
	 * inside the ISO), and a range past the end of the file. */
	{
		enum { SKIP = 3000, BIG = (5 << 19) + 17 };	/* 2.5 MiB and a bit */
		char path[] = "/tmp/mkl-sha-fd-XXXXXX";
		unsigned char *big = malloc(SKIP + BIG), sum[32];
		struct mkl_err err = { 0 };
		int fd = mkstemp(path);

		T_OK(big && fd >= 0, "scratch file");
		for (size_t i = 0; big && i < SKIP + BIG; i++) {
			x = x * 1103515245 + 12345;
			big[i] = (unsigned char)(x >> 16);
		}
		if (big && fd >= 0 && write(fd, big, SKIP + BIG) == SKIP + BIG) {
			T_OK(theirs(big + SKIP, BIG, b) == 0, "sha256sum on %d bytes", BIG);
			T_EQ_INT(mkl_digest_fd(fd, SKIP, BIG, "big", sum, &err), 0);
			mkl_sha256_hex(sum, a);
			T_OK(!strcmp(a, b), "fd range: %s != %s", a, b);
			T_OK(theirs(big, 0, b) == 0, "sha256sum on nothing");
			T_EQ_INT(mkl_digest_fd(fd, SKIP, 0, "big", sum, &err), 0);
			mkl_sha256_hex(sum, a);
			T_OK(!strcmp(a, b), "empty fd range: %s != %s", a, b);
			T_EQ_INT(mkl_digest_fd(fd, SKIP + 1, BIG, "big.iso", sum, &err), -1);
			T_OK(strstr(err.msg, "'big.iso'") && strstr(err.msg, "ends"), "short: %s", err.msg);
		}
		if (fd >= 0) {
			close(fd);
			unlink(path);
		}
		free(big);
	}
	return t_done();
}
