/* libFuzzer harness: the UEFI variable store reader and writer behind
 * `mklive test --db` (src/fmt/varstore.c), on stores we did not make (the
 * seed is the head of Debian's OVMF_VARS_4M.ms.fd, its store size cut to
 * fit).
 *
 * Checked for every input: a certificate added is then the live db's last
 * signature list. */
#include <string.h>

#include "fmt/varstore.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char cert[] = "a certificate, as far as the store is concerned";
	unsigned char *buf = malloc(size ? size : 1);
	const unsigned char *d;
	size_t dl;
	uint32_t attrs;
	struct mkl_err err;

	FUZZ_CHECK(buf != NULL);
	if (size)
		memcpy(buf, data, size);
	(void)mkl_varstore_get(buf, size, MKL_VAR_MOKLIST, &d, &dl, &attrs, &err);
	if (mkl_varstore_get(buf, size, MKL_VAR_DB, &d, &dl, &attrs, &err) == 1)
		(void)mkl_siglist_has_cert(d, dl, cert, sizeof(cert));
	if (mkl_varstore_add_cert(buf, size, MKL_VAR_DB, cert, sizeof(cert), &err) == 0) {
		FUZZ_CHECK(mkl_varstore_get(buf, size, MKL_VAR_DB, &d, &dl, &attrs, &err) == 1);
		/* Ours is the last list (the ones before may be broken). */
		FUZZ_CHECK(dl >= 44 + sizeof(cert));
		FUZZ_CHECK(mkl_siglist_has_cert(d + dl - 44 - sizeof(cert), 44 + sizeof(cert), cert, sizeof(cert)));
	}
	free(buf);
	return 0;
}
