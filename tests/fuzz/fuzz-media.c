/* libFuzzer harness: mklive-media's reading of whatever stick is plugged
 * in (media_probe on a device's first bytes: the filesystem type and the
 * label, src/media/probe.c), the names it makes from labels (media_name),
 * the keys autofs hands the map (media_key_ok) and the map entry.
 *
 * Checked for every input: a label comes back NUL-terminated; the name is
 * one safe path component and a key the map accepts; the entry is one line
 * naming the device; and, taking the input as a key, an accepted key is
 * its own name (so nothing outside the names we make is ever looked up). */
#include <string.h>

#include "fuzz.h"
#include "media/media.h"

static int safe_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-' || c == '+';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct media_fs fs;
	char name[MEDIA_NAME_MAX + 1], entry[512], key[MEDIA_NAME_MAX + 2];
	unsigned char *buf = malloc(size ? size : 1);	/* exactly size bytes, for ASan */

	FUZZ_CHECK(buf != NULL);
	if (size)
		memcpy(buf, data, size);
	if (media_probe(buf, size, &fs) == 0) {
		FUZZ_CHECK(memchr(fs.label, 0, sizeof(fs.label)) != NULL);
		FUZZ_CHECK(fs.type[0] && memchr(fs.type, 0, sizeof(fs.type)) != NULL);
		media_name(fs.label, "sdb1", name);
		FUZZ_CHECK(name[0] && name[0] != '.' && name[0] != '-' && strlen(name) <= MEDIA_NAME_MAX);
		for (size_t i = 0; name[i]; i++)
			FUZZ_CHECK(safe_char(name[i]));
		FUZZ_CHECK(media_key_ok(name));
		FUZZ_CHECK(media_entry(&fs, "sdb1", 1000, 1000, entry, sizeof(entry)) == 0);
		FUZZ_CHECK(!strchr(entry, '\n') && strstr(entry, " :/dev/sdb1") &&
			   !strcmp(entry + strlen(entry) - 11, " :/dev/sdb1"));
	}
	/* The input as a key from autofs. */
	if (size < sizeof(key)) {
		memcpy(key, data, size);
		key[size] = 0;
		if (media_key_ok(key)) {
			media_name(key, "sdb1", name);
			FUZZ_CHECK(!strcmp(name, key));
			FUZZ_CHECK(!strchr(key, '/') && strcmp(key, ".") && strcmp(key, ".."));
		}
	}
	free(buf);
	return 0;
}
