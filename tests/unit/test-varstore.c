/* The variable store writer (src/fmt/varstore.c) on Debian's
 * OVMF_VARS_4M.ms.fd (mklive's cache, debian/, from scripts/fetch-boot.sh):
 * the certificate added to db keeps Microsoft's entries before it, the old
 * db is marked deleted (one live db), the rest of the store is unchanged,
 * MokList is made when there is none, a db of the certificate alone drops
 * Microsoft's lists, and a store without room or that is
 * not a store is refused. That OVMF boots a binary signed with the key only
 * with the certificate added is tests/boot/signed.sh's. */
#include "t.h"

#include <stdint.h>
#include <unistd.h>

#include "fmt/varstore.h"
#include "pipeline/cache.h"
#include "tree/io.h"

/* Live variables named "db" (UTF-16) in the store. */
static int count_live_db(const unsigned char *s, size_t len)
{
	int n = 0;

	for (size_t i = 0x48 + 28; i + 64 < len; i += 4)
		if (s[i] == 0xaa && s[i + 1] == 0x55 && s[i + 2] == 0x3f && s[i + 36] == 6 &&
		    !memcmp(s + i + 60, "d\0b\0\0\0", 6))
			n++;
	return n;
}

int main(void)
{
	struct mkl_err err = { 0 };
	char *cache = mkl_cache_dir(&err), path[1024];
	struct mkl_buf st = { 0 }, orig = { 0 };
	const unsigned char *d;
	size_t dl, before;
	uint32_t attrs;
	unsigned char cert[700], other[700];

	for (size_t i = 0; i < sizeof(cert); i++) {
		cert[i] = (unsigned char)(i * 13 + 1);
		other[i] = (unsigned char)(i * 13 + 2);
	}
	snprintf(path, sizeof(path), "%s/debian/usr/share/OVMF/OVMF_VARS_4M.ms.fd", cache ? cache : "/nonexistent");
	free(cache);
	if (access(path, R_OK)) {
		T_SKIP("no OVMF_VARS_4M.ms.fd in mklive's cache (scripts/fetch-boot.sh)");
		return t_done();
	}
	T_EQ_INT(mkl_read_file(path, &st, false, &err), 0);
	T_EQ_INT(mkl_buf_sink(&orig, st.data, st.len, &err), 0);
	T_EQ_INT(mkl_varstore_get(st.data, st.len, MKL_VAR_DB, &d, &dl, &attrs, &err), 1);
	before = dl;
	T_EQ_INT(attrs, 0x27);
	T_OK(!mkl_siglist_has_cert(d, dl, cert, sizeof(cert)), "a certificate before it was added");
	T_EQ_INT(mkl_varstore_get(st.data, st.len, MKL_VAR_MOKLIST, &d, &dl, &attrs, &err), 0);

	T_EQ_INT(mkl_varstore_add_cert(st.data, st.len, MKL_VAR_DB, cert, sizeof(cert), &err), 0);
	T_EQ_INT(mkl_varstore_get(st.data, st.len, MKL_VAR_DB, &d, &dl, &attrs, &err), 1);
	T_EQ_INT(dl, before + 28 + 16 + sizeof(cert));
	T_EQ_INT(attrs, 0x27);
	T_OK(mkl_siglist_has_cert(d, dl, cert, sizeof(cert)), "the certificate is not in db");
	T_OK(!mkl_siglist_has_cert(d, dl, other, sizeof(other)), "another certificate is in db");
	{	/* Microsoft's lists first, as they were */
		const unsigned char *o;
		size_t ol;

		T_EQ_INT(mkl_varstore_get(orig.data, orig.len, MKL_VAR_DB, &o, &ol, &attrs, &err), 1);
		T_OK(ol == before && !memcmp(o, d, ol), "db's old lists changed");
	}
	T_EQ_INT(count_live_db(st.data, st.len), 1);
	T_EQ_INT(count_live_db(orig.data, orig.len), 1);
	{	/* Only the old db's state byte and the erased space changed. */
		size_t diff = 0, first = 0;

		for (size_t i = 0; i < st.len; i++)
			if (st.data[i] != orig.data[i] && orig.data[i] != 0xff && !diff++)
				first = i;
		T_EQ_INT(diff, 1);
		T_OK(orig.data[first] == 0x3f && st.data[first] == 0x3c, "%02x -> %02x", orig.data[first],
		     st.data[first]);
	}
	/* MokList: made (NV|BS), a second certificate appended. */
	T_EQ_INT(mkl_varstore_add_cert(st.data, st.len, MKL_VAR_MOKLIST, other, sizeof(other), &err), 0);
	T_EQ_INT(mkl_varstore_add_cert(st.data, st.len, MKL_VAR_MOKLIST, cert, sizeof(cert), &err), 0);
	T_EQ_INT(mkl_varstore_get(st.data, st.len, MKL_VAR_MOKLIST, &d, &dl, &attrs, &err), 1);
	T_EQ_INT(attrs, 3);
	T_OK(mkl_siglist_has_cert(d, dl, cert, sizeof(cert)) && mkl_siglist_has_cert(d, dl, other, sizeof(other)),
	     "MokList lacks a certificate");
	/* db alone (--db-only): the certificate is db's only list, Microsoft's
	 * are gone, one live db, its attributes kept. */
	{
		struct mkl_buf only = { 0 };

		T_EQ_INT(mkl_buf_sink(&only, orig.data, orig.len, &err), 0);
		T_EQ_INT(mkl_varstore_set_cert(only.data, only.len, MKL_VAR_DB, other, sizeof(other), &err), 0);
		T_EQ_INT(mkl_varstore_get(only.data, only.len, MKL_VAR_DB, &d, &dl, &attrs, &err), 1);
		T_EQ_INT(dl, 28 + 16 + sizeof(other));
		T_EQ_INT(attrs, 0x27);
		T_OK(mkl_siglist_has_cert(d, dl, other, sizeof(other)), "db-only: the certificate is not in db");
		T_EQ_INT(count_live_db(only.data, only.len), 1);
		mkl_buf_free(&only);
	}
	/* Full: adding until there is no room fails cleanly. */
	{
		int rc = 0, n = 0;

		while (!rc && n < 2000) {
			rc = mkl_varstore_add_cert(st.data, st.len, MKL_VAR_MOKLIST, cert, sizeof(cert), &err);
			n++;
		}
		T_EQ_INT(rc, -1);
		T_OK(strstr(err.msg, "no room") != NULL, "%s", err.msg);
		T_EQ_INT(mkl_varstore_get(st.data, st.len, MKL_VAR_MOKLIST, &d, &dl, &attrs, &err), 1);
	}
	/* Not a store. */
	memset(st.data + 40, 0, 4);
	T_EQ_INT(mkl_varstore_add_cert(st.data, st.len, MKL_VAR_DB, cert, sizeof(cert), &err), -1);
	T_OK(strstr(err.msg, "not a UEFI variable store") != NULL, "%s", err.msg);
	T_EQ_INT(mkl_varstore_add_cert(st.data, 10, MKL_VAR_DB, cert, sizeof(cert), &err), -1);
	mkl_buf_free(&st);
	mkl_buf_free(&orig);
	return t_done();
}
