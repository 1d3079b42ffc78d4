/* libFuzzer harness: the init's test of a block device for the live medium
 * (medium_match in src/init/medium.c): the bytes at 32768 of whatever disk
 * is plugged in, an ISO9660 Primary Volume Descriptor or not.
 *
 * Input: the medium ID to look for, a newline, then the sector (without a
 * newline the whole input is the sector, and the ID the builder's form
 * "MKLIVE-" and 16 hex digits). A match must be a PVD holding the ID in its
 * volume set field; anything else must be described in printable text. */
#include <string.h>

#include "fuzz.h"
#include "init/init.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size < 200 ? size : 200);
	char id[201] = "MKLIVE-0123456789abcdef", what[160];
	unsigned char *pvd;
	size_t len = size, idlen, i;
	int r;

	if (nl) {
		memcpy(id, data, (size_t)(nl - data));
		id[nl - data] = 0;
		len = size - (size_t)(nl - data) - 1;
		data = nl + 1;
	}
	/* a copy of exactly len bytes, so that AddressSanitizer sees a read past it */
	pvd = malloc(len ? len : 1);
	FUZZ_CHECK(pvd != NULL);
	if (len)
		memcpy(pvd, data, len);
	what[0] = 0;
	r = medium_match(pvd, len, id, what, sizeof(what));
	idlen = strlen(id);
	if (r) {
		FUZZ_CHECK(r == 1);
		FUZZ_CHECK(len >= 318 && pvd[0] == 1 && !memcmp(pvd + 1, "CD001", 5));
		FUZZ_CHECK(idlen <= 128 && !memcmp(pvd + 190, id, idlen));
		for (i = idlen; i < 128; i++)
			FUZZ_CHECK(pvd[190 + i] == ' ' || pvd[190 + i] == 0);
	} else {
		FUZZ_CHECK(what[0] && strlen(what) < sizeof(what));
		for (i = 0; what[i]; i++)
			FUZZ_CHECK(what[i] >= 0x20 && what[i] < 0x7f);
	}
	free(pvd);
	return 0;
}
