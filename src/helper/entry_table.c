/* What `mklive-helper entry` reads, without any I/O (tests/unit/test-entry.c
 * feeds it the builder's table): the systemd-boot entry id from the EFI
 * variable's bytes, and that entry's arguments from the initramfs's
 * /mklive.conf. See entry.c. */
#include <string.h>

#include "helper.h"

int entry_id(const unsigned char *var, size_t len, char *id, size_t n)
{
	size_t i, k = 0;

	/* efivarfs: the attributes (4 bytes), then the value: UTF-16LE,
	 * NUL-terminated (systemd-boot writes the terminator) */
	if (len < 6 || len % 2 || !n)
		return -1;
	for (i = 4; i + 1 < len; i += 2) {
		unsigned c = var[i] | (unsigned)var[i + 1] << 8;

		if (!c)
			break;
		/* an id is a file name: printable ASCII, no '=' (the table's
		 * separator), no space */
		if (c <= ' ' || c >= 0x7f || c == '=' || k + 1 >= n)
			return -1;
		id[k++] = (char)c;
	}
	id[k] = 0;
	return k ? 0 : -1;
}

const char *entry_args(const char *conf, const char *id, size_t *len)
{
	static const char key[] = "entry.";
	size_t il = strlen(id);

	for (const char *p = conf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, sizeof(key) - 1) || strncmp(p + sizeof(key) - 1, id, il) ||
		    p[sizeof(key) - 1 + il] != '=')
			continue;
		p += sizeof(key) + il;
		*len = strcspn(p, "\n");
		return p;
	}
	return NULL;
}
