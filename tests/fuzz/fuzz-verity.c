/* libFuzzer harness: what `mklive-helper verity` reads from a medium it did
 * not make and from the kernel (src/helper/verity_table.c): the squashfs's
 * first 96 bytes, veritysetup's superblock after it, the kernel command
 * line, a record of the kernel's log. The input is cut as 96 + 512 bytes,
 * then the command line's text.
 *
 * Checked for every input: a root hash taken from the command line is 64
 * hex digits that stand there after mklive.verity=; a table is accepted
 * only for a squashfs padded to 4 KiB whose superblock covers exactly it,
 * and is one line of the ten fields dm-verity takes, naming that root
 * hash; a corrupt block named from a log record is "data block N" or
 * "metadata block N" out of that record. */
#include <string.h>

#include "fuzz.h"
#include "helper/helper.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char sq[96] = { 0 }, sb[512] = { 0 };
	char *text = malloc(size + 1), root[65], params[1024], why[256], blk[64];
	uint64_t bytes;
	size_t n = size;

	FUZZ_CHECK(text != NULL);
	memcpy(sq, data, n < 96 ? n : 96);
	if (n > 96)
		memcpy(sb, data + 96, n - 96 < 512 ? n - 96 : 512);
	memcpy(text, data, size);
	text[size] = 0;
	if (size > 608)
		memmove(text, text + 608, size - 608 + 1);

	for (int rw = 0; rw < 2; rw++) {
		if (verity_root(text, rw, root) == 0) {
			FUZZ_CHECK(strlen(root) == 64 && strspn(root, "0123456789abcdefABCDEF") == 64);
			FUZZ_CHECK(strstr(text, "mklive.verity=") && strstr(text, root));
		}
	}
	memset(root, 'a', 64);
	root[64] = 0;
	bytes = verity_data_bytes(sq);
	FUZZ_CHECK(bytes % VERITY_BLOCK == 0);
	if (verity_params(sb, bytes, root, 7, 0, params, sizeof(params), why, sizeof(why)) == 0) {
		unsigned long long blocks, start;
		unsigned maj, min, bs, hs;
		char alg[16], r[80], salt[600];
		int f = sscanf(params, "1 %u:%u %*u:%*u %u %u %llu %llu %15s %79s %599s", &maj, &min,
			       &bs, &hs, &blocks, &start, alg, r, salt);

		FUZZ_CHECK(bytes != 0 && !memcmp(sq, "hsqs", 4));
		FUZZ_CHECK(f == 9 && bs == VERITY_BLOCK && hs == VERITY_BLOCK);
		FUZZ_CHECK(blocks * VERITY_BLOCK == bytes && start == blocks + 1);
		FUZZ_CHECK(!strcmp(alg, "sha256") && !strcmp(r, root) && !strchr(params, '\n'));
	} else {
		FUZZ_CHECK(why[0]);
	}
	if (verity_corrupt(text, blk, sizeof(blk)) == 0) {
		FUZZ_CHECK(!strncmp(blk, "data block ", 11) || !strncmp(blk, "metadata block ", 15));
		FUZZ_CHECK(strlen(blk) >= sizeof(blk) - 1 || strstr(text, blk));
	}
	free(text);
	return 0;
}
