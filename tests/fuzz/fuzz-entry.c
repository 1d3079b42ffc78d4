/* libFuzzer harness: what `mklive-helper entry` reads (src/helper/
 * entry_table.c): the efivarfs bytes of LoaderEntrySelected, which anyone
 * who can set an EFI variable chooses, and the table in /mklive.conf. The
 * input's first byte is the variable's length, then the variable, then the
 * table's text.
 *
 * Checked for every input: an id taken from the variable is printable
 * ASCII without '=' or a space, and is the variable's UTF-16LE characters
 * after the 4 attribute bytes; arguments found for it lie inside the text,
 * on a line that starts with entry.ID= right before them, and end at that
 * line's end. */
#include <string.h>

#include "fuzz.h"
#include "helper/helper.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t vlen = size ? data[0] : 0, len = 0;
	const unsigned char *var = data + (size ? 1 : 0);
	char *text, id[128];
	const char *args;

	if (vlen > size - (size ? 1 : 0))
		vlen = size - (size ? 1 : 0);
	text = malloc(size + 1);
	FUZZ_CHECK(text != NULL);
	memcpy(text, var + vlen, size - (size ? 1 : 0) - vlen);
	text[size - (size ? 1 : 0) - vlen] = 0;
	if (entry_id(var, vlen, id, sizeof(id)) == 0) {
		size_t k = strlen(id);

		FUZZ_CHECK(k > 0 && k < sizeof(id) && 4 + 2 * k <= vlen);
		for (size_t i = 0; i < k; i++) {
			FUZZ_CHECK(id[i] > ' ' && id[i] < 0x7f && id[i] != '=');
			FUZZ_CHECK(var[4 + 2 * i] == (unsigned char)id[i] && var[5 + 2 * i] == 0);
		}
		args = entry_args(text, id, &len);
		if (args) {
			size_t off = (size_t)(args - text), kl = strlen("entry.") + k + 1;

			FUZZ_CHECK(off >= kl && off + len <= strlen(text));
			FUZZ_CHECK(off == kl || text[off - kl - 1] == '\n');
			FUZZ_CHECK(!strncmp(text + off - kl, "entry.", 6) && !strncmp(text + off - k - 1, id, k));
			FUZZ_CHECK(text[off - 1] == '=' && !memchr(args, '\n', len));
			FUZZ_CHECK(args[len] == '\n' || args[len] == 0);
		}
	}
	free(text);
	return 0;
}
