/* libFuzzer harness: mklive-helper's LUKS1 header reader (luks_parse in
 * src/helper/luks.c): the first 592 bytes of every partition on the boot
 * medium's disk with persistence=luks, written by whoever.
 *
 * Input: the header (shorter inputs are padded with zeros). An accepted
 * header must have text fields that end inside them, sha256, a key of 1
 * to 64 bytes, key slots within bounds before the payload; written back
 * (luks_encode) and read again, it must give the same header. */
#include <string.h>

#include "fuzz.h"
#include "helper/helper.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *b = calloc(1, LUKS_PHDR), again[LUKS_PHDR];
	struct luks_hdr h, h2;
	char why[100];
	unsigned i;

	FUZZ_CHECK(b != NULL);
	memcpy(b, data, size < LUKS_PHDR ? size : LUKS_PHDR);
	why[0] = 0;
	if (luks_parse(b, &h, why, sizeof(why))) {
		FUZZ_CHECK(why[0] && strlen(why) < sizeof(why));
		free(b);
		return 0;
	}
	FUZZ_CHECK(luks_is(b));
	FUZZ_CHECK(strlen(h.cipher) < 32 && strlen(h.mode) < 32 && strlen(h.uuid) < 40);
	FUZZ_CHECK(!strcmp(h.hash, "sha256"));
	FUZZ_CHECK(h.key_bytes >= 1 && h.key_bytes <= LUKS_KEY_MAX && h.mk_iter);
	for (i = 0; i < LUKS_SLOTS; i++)
		if (h.slot[i].active) {
			FUZZ_CHECK(h.slot[i].iter && h.slot[i].stripes && h.slot[i].stripes <= LUKS_STRIPES_MAX);
			FUZZ_CHECK(h.slot[i].offset < h.payload);
			FUZZ_CHECK(luks_slot_sectors(&h, i) <= (LUKS_KEY_MAX * LUKS_STRIPES_MAX + 511) / 512);
		}
	luks_encode(&h, again);
	FUZZ_CHECK(!luks_parse(again, &h2, why, sizeof(why)));
	FUZZ_CHECK(!memcmp(&h, &h2, sizeof(h)));
	free(b);
	return 0;
}
