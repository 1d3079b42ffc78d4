/* What `mklive-helper verity` reads from the medium and the kernel, without
 * any I/O (so tests/fuzz/fuzz-verity.c can feed it anything): the
 * squashfs's size, veritysetup's superblock after it, the root hash on the
 * command line, dm-verity's complaint in the kernel's log. See verity.c. */
#include <stdio.h>
#include <string.h>

#include "helper.h"

uint64_t verity_data_bytes(const unsigned char sq[96])
{
	uint64_t used = persist_le64(sq + 40);

	if (memcmp(sq, "hsqs", 4) || used > UINT64_MAX / 2)
		return 0;
	return (used + VERITY_BLOCK - 1) / VERITY_BLOCK * VERITY_BLOCK;
}

static int is_hex(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
		      (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return 1;
}

int verity_root(const char *cmdline, int rw, char root[65])
{
	static const char key[] = "mklive.verity=";
	const char *p, *v = NULL;
	size_t l;

	/* the last one given wins, as in the init */
	for (p = cmdline; *p; p += strcspn(p, " \t\n")) {
		p += strspn(p, " \t\n");
		if (!strncmp(p, key, sizeof(key) - 1))
			v = p + sizeof(key) - 1;
	}
	if (!v)
		return -1;
	l = strcspn(v, " \t\n");
	if (rw) {	/* IMAGE,RW */
		if (l < 65 || v[64] != ',')
			return -1;
		v += 65;
		l -= 65;
	} else if (l > 64 && v[64] == ',') {
		l = 64;
	}
	if (l != 64 || !is_hex(v, 64))
		return -1;
	memcpy(root, v, 64);
	root[64] = 0;
	return 0;
}

int verity_params(const unsigned char sb[512], uint64_t data, const char *root, unsigned maj,
		  unsigned min, char *params, size_t n, char *why, size_t wn)
{
	uint64_t blocks = persist_le64(sb + 72);
	unsigned saltlen = sb[80] | (unsigned)sb[81] << 8;
	char salt[2 * 256 + 1];

	if (memcmp(sb, "verity\0\0", 8) || persist_le32(sb + 8) != 1 || persist_le32(sb + 12) != 1 ||
	    strncmp((const char *)sb + 32, "sha256", 32) || persist_le32(sb + 64) != VERITY_BLOCK ||
	    persist_le32(sb + 68) != VERITY_BLOCK || !data || data % VERITY_BLOCK ||
	    blocks != data / VERITY_BLOCK || saltlen > 256)
		return persist_fail(why, wn, "no dm-verity hash tree after the squashfs (format 1, "
				    "sha256, 4 KiB blocks, covering the squashfs)");
	for (unsigned i = 0; i < saltlen; i++)
		snprintf(salt + 2 * i, 3, "%02x", sb[88 + i]);
	salt[2 * saltlen] = 0;
	/* version, data and hash device, block sizes, data blocks, the hash
	 * tree's first block (after the superblock), algorithm, root, salt */
	if ((size_t)snprintf(params, n, "1 %u:%u %u:%u %u %u %llu %llu sha256 %s %s", maj, min, maj,
			     min, VERITY_BLOCK, VERITY_BLOCK, (unsigned long long)blocks,
			     (unsigned long long)(blocks + 1), root, saltlen ? salt : "-") >= n)
		return persist_fail(why, wn, "the dm-verity table does not fit");
	return 0;
}

int verity_corrupt(const char *rec, char *out, size_t n)
{
	const char *e = strstr(rec, " is corrupted"), *p, *d;
	size_t l;

	if (!strstr(rec, "verity") || !e)
		return -1;
	for (p = e; p > rec && p[-1] != ':'; p--)
		;	/* "device-mapper: verity: 7:0: data block 12" */
	p += strspn(p, " ");
	l = (size_t)(e - p);
	d = !strncmp(p, "data block ", 11) ? p + 11 : !strncmp(p, "metadata block ", 15) ? p + 15 : NULL;
	if (!d || d >= e || strspn(d, "0123456789") != (size_t)(e - d))	/* the block's number */
		return -1;
	snprintf(out, n, "%.*s", (int)l, p);
	return 0;
}
