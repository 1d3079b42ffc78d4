/* EDK2's variable store: a certificate added to db or MokList (see
 * varstore.h). */
#include "fmt/varstore.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HDR 60			/* AUTHENTICATED_VARIABLE_HEADER */
#define START_ID 0x55aa
#define VAR_ADDED 0x3f
#define VAR_DELETED_MARK 0xfc	/* & VAR_DELETED (0xfd) & VAR_IN_DELETED_TRANSITION (0xfe) */

/* GUIDs as text; in memory the first three fields are little-endian. */
#define GUID_NV_FV "fff12b8d-7696-4c8b-a985-2747075b4f50"
#define GUID_AUTH_VARS "aaf32c78-947b-439a-a180-2e144ec37792"
#define GUID_IMAGE_SECURITY "d719b2cb-3d3a-4596-a3bc-dad00e67656f"
#define GUID_SHIM_LOCK "605dab50-e046-4300-abb6-3dd810dd8b23"
#define GUID_CERT_X509 "a5c059a1-94e4-4aa7-87b5-ab155c2bf072"
#define GUID_OWNER "6d6b6c76-6576-4d6b-8c69-76652d736967"	/* mklive's, as the signature owner */

static const struct {
	const char *name, *guid;
	uint32_t attrs;		/* for a new one */
} vars[] = {
	[MKL_VAR_DB] = { "db", GUID_IMAGE_SECURITY, 0x27 },	/* NV BS RT TIME_BASED_AUTH */
	[MKL_VAR_MOKLIST] = { "MokList", GUID_SHIM_LOCK, 0x03 },	/* NV BS: shim refuses RT */
};

static void guid(const char *s, unsigned char out[16])
{
	static const int order[16] = { 3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15 };
	unsigned char b[16];

	for (int i = 0, j = 0; i < 16; j++) {
		if (s[j] == '-')
			continue;
		sscanf(s + j, "%2hhx", &b[i++]);
		j++;
	}
	for (int i = 0; i < 16; i++)
		out[i] = b[order[i]];
}

static uint32_t rd32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t rd16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void wr32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* The variables' region: [*start, *end). */
static int region(const unsigned char *s, size_t len, size_t *start, size_t *end, struct mkl_err *err)
{
	unsigned char g[16];
	size_t hl;
	uint32_t size;

	guid(GUID_NV_FV, g);
	if (len < 0x48 + 28 || memcmp(s + 40, "_FVH", 4) || memcmp(s + 16, g, 16))
		return mkl_error(err, 0, "not a UEFI variable store (no NV firmware volume header)");
	hl = rd16(s + 48);
	guid(GUID_AUTH_VARS, g);
	if (hl < 0x48 || hl > len - 28 || memcmp(s + hl, g, 16))
		return mkl_error(err, 0, "not an authenticated-variable store of EDK2's (as OVMF's)");
	size = rd32(s + hl + 16);
	if (s[hl + 20] != 0x5a || s[hl + 21] != 0xfe || size < 28 || size > len - hl)
		return mkl_error(err, 0, "the variable store's header is not formatted and healthy");
	*start = hl + 28;
	*end = hl + size;
	return 0;
}

/* Walk the variables: the offset of the live one named var (or 0), and
 * where the erased space starts. */
static int walk(const unsigned char *s, size_t len, enum mkl_var var, size_t *found, size_t *free_at,
		struct mkl_err *err)
{
	unsigned char g[16], name[64];
	size_t at, end, nlen = 0;

	if (region(s, len, &at, &end, err))
		return -1;
	guid(vars[var].guid, g);
	for (const char *c = vars[var].name; *c; c++) {
		name[nlen++] = (unsigned char)*c;
		name[nlen++] = 0;
	}
	name[nlen++] = 0;
	name[nlen++] = 0;
	*found = 0;
	while (end - at >= HDR && rd16(s + at) == START_ID) {
		uint32_t ns = rd32(s + at + 36), ds = rd32(s + at + 40);

		if (ns > end - at - HDR || ds > end - at - HDR - ns)
			return mkl_error(err, 0, "the variable store has a variable past its end");
		if (s[at + 2] == VAR_ADDED && ns == nlen && !memcmp(s + at + 44, g, 16) &&
		    !memcmp(s + at + HDR, name, nlen))
			*found = at;
		at = (at + HDR + ns + ds + 3) & ~(size_t)3;
		if (at > end)
			at = end;
	}
	*free_at = at;
	/* The rest must be erased: otherwise this is not where to write. */
	for (size_t i = at; i < end; i++)
		if (s[i] != 0xff)
			return mkl_error(err, 0, "the variable store is not erased after its last variable");
	return 0;
}

int mkl_varstore_get(const unsigned char *store, size_t len, enum mkl_var var, const unsigned char **data,
		     size_t *data_len, uint32_t *attrs, struct mkl_err *err)
{
	size_t at, free_at;

	if (walk(store, len, var, &at, &free_at, err))
		return -1;
	if (!at)
		return 0;
	*attrs = rd32(store + at + 4);
	*data_len = rd32(store + at + 40);
	*data = store + at + HDR + rd32(store + at + 36);
	return 1;
}

int mkl_siglist_has_cert(const unsigned char *d, size_t len, const void *der, size_t der_len)
{
	unsigned char x509[16];

	guid(GUID_CERT_X509, x509);
	while (len >= 28) {
		uint32_t ls = rd32(d + 16), hs = rd32(d + 20), ss = rd32(d + 24);

		if (ls < 28 || ls > len || hs > ls - 28 || ss < 16)
			return 0;
		if (!memcmp(d, x509, 16))
			for (size_t at = 28 + hs; at + ss <= ls; at += ss)
				if (ss - 16 == der_len && !memcmp(d + at + 16, der, der_len))
					return 1;
		d += ls;
		len -= ls;
	}
	return 0;
}

/* The variable rewritten with one more EFI_SIGNATURE_LIST for der, after
 * the old one's lists when keep, alone when not. */
static int put_cert(unsigned char *s, size_t len, enum mkl_var var, const void *der, size_t der_len, int keep,
		    struct mkl_err *err)
{
	size_t old, at, start, end, nlen = 2 * strlen(vars[var].name) + 2, olen = 0, list = 28 + 16 + der_len;
	unsigned char *h;

	if (walk(s, len, var, &old, &at, err) || region(s, len, &start, &end, err))
		return -1;
	if (old && keep)
		olen = rd32(s + old + 40);
	if (end - at < HDR + nlen + olen + list)
		return mkl_error(err, ENOSPC, "the variable store has no room for %s with %s certificate",
				 vars[var].name, keep ? "one more" : "a new");
	h = s + at;
	if (old) {	/* header (count, time, key index) and name kept */
		memcpy(h, s + old, HDR + nlen);
		memcpy(h + HDR + nlen, s + old + HDR + nlen, olen);
	} else {
		memset(h, 0, HDR);
		h[0] = 0xaa, h[1] = 0x55;
		wr32(h + 4, vars[var].attrs);
		wr32(h + 36, (uint32_t)nlen);
		guid(vars[var].guid, h + 44);
		for (size_t i = 0; vars[var].name[i]; i++)
			h[HDR + 2 * i] = (unsigned char)vars[var].name[i], h[HDR + 2 * i + 1] = 0;
		h[HDR + nlen - 2] = h[HDR + nlen - 1] = 0;
	}
	h[2] = VAR_ADDED;
	h[3] = 0;
	wr32(h + 40, (uint32_t)(olen + list));
	{	/* EFI_SIGNATURE_LIST: type, list size, header size, signature
		 * size; one EFI_SIGNATURE_DATA: owner, the certificate */
		unsigned char *l = h + HDR + nlen + olen;

		guid(GUID_CERT_X509, l);
		wr32(l + 16, (uint32_t)list);
		wr32(l + 20, 0);
		wr32(l + 24, (uint32_t)(16 + der_len));
		guid(GUID_OWNER, l + 28);
		memcpy(l + 44, der, der_len);
	}
	if (old)
		s[old + 2] &= VAR_DELETED_MARK;
	return 0;
}

int mkl_varstore_add_cert(unsigned char *s, size_t len, enum mkl_var var, const void *der, size_t der_len,
			  struct mkl_err *err)
{
	return put_cert(s, len, var, der, der_len, 1, err);
}

int mkl_varstore_set_cert(unsigned char *s, size_t len, enum mkl_var var, const void *der, size_t der_len,
			  struct mkl_err *err)
{
	return put_cert(s, len, var, der, der_len, 0, err);
}
