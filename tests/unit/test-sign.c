/* The UKI and its signature (src/fmt/pe.c, src/fmt/authenticode.c),
 * checked by readers we did not write: objdump reads the sections back,
 * sbverify --cert accepts the signature with the right certificate and
 * refuses it with another; the image hash is sbsign's (the same image
 * signed by sbsign verifies with our hash), two signings give the same
 * bytes, and the key loader refuses bad input with a clear message.
 * Needs systemd's stub (mklive's cache, efi/, which mklive fetch-efi fills),
 * openssl, sbsigntool and binutils; a missing one is a skip. */
#include "t.h"

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fmt/authenticode.h"
#include "fmt/pe.h"
#include "pipeline/cache.h"
#include "pipeline/efi.h"

static char dir[] = "/tmp/mklive-test-sign-XXXXXX";

static int sh(const char *fmt, const char *a)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd), fmt, a, a, a, a);
	return system(cmd);
}

static int save(const char *path, const struct mkl_buf *b)
{
	FILE *f = fopen(path, "w");
	int ok = f && fwrite(b->data, 1, b->len, f) == b->len;

	if (f)
		fclose(f);
	return ok ? 0 : -1;
}

static void test_load_errors(void)
{
	struct mkl_signer *s = NULL;
	struct mkl_err err = { 0 };
	char k1[128], c1[128], c2[128], junk[128];

	snprintf(k1, sizeof(k1), "%s/a.key", dir);
	snprintf(c1, sizeof(c1), "%s/a.crt", dir);
	snprintf(c2, sizeof(c2), "%s/b.crt", dir);
	snprintf(junk, sizeof(junk), "%s/junk", dir);
	T_EQ_INT(mkl_signer_load(k1, c1, &s, &err), 0);
	mkl_signer_free(s);
	T_EQ_INT(mkl_signer_load(k1, c2, &s, &err), -1);
	T_OK(strstr(err.msg, "not a pair") != NULL, "%s", err.msg);
	T_OK(s == NULL, "a signer for a mismatching pair");
	T_EQ_INT(mkl_signer_load(junk, c1, &s, &err), -1);
	T_OK(strstr(err.msg, "not an unencrypted PEM private key") && strstr(err.msg, junk), "%s", err.msg);
	T_EQ_INT(mkl_signer_load(k1, junk, &s, &err), -1);
	T_OK(strstr(err.msg, "not a PEM X.509 certificate") && strstr(err.msg, junk), "%s", err.msg);
	T_EQ_INT(mkl_signer_load(k1, "/nonexistent/c.pem", &s, &err), -1);
	T_OK(strstr(err.msg, "cannot open signing certificate '/nonexistent/c.pem'") != NULL, "%s", err.msg);
	/* A certificate where the key should be. */
	T_EQ_INT(mkl_signer_load(c1, c1, &s, &err), -1);
	T_OK(strstr(err.msg, "private key") != NULL, "%s", err.msg);
}

static void test_uki(const char *stub_path)
{
	struct mkl_buf stub = { 0 }, uki = { 0 }, again = { 0 }, ref = { 0 };
	struct mkl_signer *s = NULL;
	struct mkl_err err = { 0 };
	char path[256], path2[256], k1[128], c1[128], k2[128], c2[128];
	static const char kernel[] = "pretend kernel";	/* odd sizes: padding */
	static const char osrel[] = "ID=mklive\nNAME=test\n", cmdline[] = "console=ttyS0 toram";
	unsigned char initrd[3000];
	const struct mkl_pe_section sec[] = {
		{ ".osrel", osrel, sizeof(osrel) - 1 }, { ".cmdline", cmdline, sizeof(cmdline) - 1 },
		{ ".linux", kernel, sizeof(kernel) }, { ".initrd", initrd, sizeof(initrd) },
	};
	unsigned char h1[32], h2[32];

	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (unsigned char)(i * 7);
	snprintf(k1, sizeof(k1), "%s/a.key", dir);
	snprintf(c1, sizeof(c1), "%s/a.crt", dir);
	snprintf(k2, sizeof(k2), "%s/b.key", dir);
	snprintf(c2, sizeof(c2), "%s/b.crt", dir);
	T_EQ_INT(mkl_read_file(stub_path, &stub, false, &err), 0);
	/* The checksum as the linker wrote it into the stub. */
	{
		uint32_t pe = (uint32_t)stub.data[0x3c] | (uint32_t)stub.data[0x3d] << 8, at = pe + 24 + 64;
		uint32_t want = (uint32_t)stub.data[at] | (uint32_t)stub.data[at + 1] << 8 |
				(uint32_t)stub.data[at + 2] << 16 | (uint32_t)stub.data[at + 3] << 24;

		T_EQ_INT(mkl_pe_checksum(stub.data, stub.len), want);
	}
	T_EQ_INT(mkl_pe_add_sections(stub.data, stub.len, sec, 4, &uki, &err), 0);
	T_OK(uki.len % 512 == 0, "%zu", uki.len);
	snprintf(path, sizeof(path), "%s/uki.efi", dir);
	T_EQ_INT(save(path, &uki), 0);
	/* objdump reads the new sections back, with their contents. */
	T_EQ_INT(sh("objdump -h %s | grep -q '\\.cmdline' && objdump -s -j .cmdline %s | grep -q console=t && "
		    "objdump -h %s | grep -q '\\.initrd'", path), 0);
	/* sbsign's hash of the unsigned image is ours: sign it with sbsign,
	 * and our digest of that is what sbverify printed as the image hash. */
	snprintf(path2, sizeof(path2), "%s/ref.efi", dir);
	{
		char cmd[1024];

		snprintf(cmd, sizeof(cmd), "sbsign --key %s --cert %s --output %s %s >/dev/null 2>&1", k1, c1,
			 path2, path);
		T_EQ_INT(system(cmd), 0);
	}
	T_EQ_INT(mkl_read_file(path2, &ref, true, &err), 0);
	T_EQ_INT(mkl_pe_digest(ref.data, ref.len, h1, &err), 0);
	T_EQ_INT(mkl_pe_digest(uki.data, uki.len, h2, &err), 0);
	T_OK(!memcmp(h1, h2, 32), "our hash of sbsign's image differs from ours of the unsigned one");

	T_EQ_INT(mkl_signer_load(k1, c1, &s, &err), 0);
	if (!s) {
		printf("not ok - %s\n", err.msg);
		goto out;
	}
	T_EQ_INT(mkl_buf_sink(&again, uki.data, uki.len, &err), 0);
	T_EQ_INT(mkl_authenticode_sign(s, &uki, &err), 0);
	T_EQ_INT(mkl_authenticode_sign(s, &again, &err), 0);
	T_OK(uki.len == again.len && !memcmp(uki.data, again.data, uki.len), "two signings differ");
	T_OK(mkl_pe_signed(uki.data, uki.len), "no signature found");
	T_EQ_INT(save(path, &uki), 0);
	T_EQ_INT(sh("sbverify --cert %1$s/a.crt %1$s/uki.efi >/dev/null 2>&1", dir), 0);
	T_OK(sh("sbverify --cert %1$s/b.crt %1$s/uki.efi >/dev/null 2>&1", dir) != 0,
	     "sbverify accepts another certificate");
	/* A second signature (shim's case: Microsoft's, then the user's):
	 * after the first in the table, the image hash unchanged, and
	 * sbverify finds both. */
	mkl_signer_free(s);
	s = NULL;
	T_EQ_INT(mkl_signer_load(k2, c2, &s, &err), 0);
	if (!s) {
		printf("not ok - %s\n", err.msg);
		goto out;
	}
	T_EQ_INT(mkl_authenticode_sign(s, &again, &err), 0);
	T_EQ_INT(mkl_pe_digest(again.data, again.len, h1, &err), 0);
	T_EQ_INT(mkl_pe_digest(uki.data, uki.len, h2, &err), 0);
	T_OK(!memcmp(h1, h2, 32), "a second signature changed the image hash");
	snprintf(path2, sizeof(path2), "%s/two.efi", dir);
	T_EQ_INT(save(path2, &again), 0);
	T_EQ_INT(sh("test \"$(sbverify --list %1$s/two.efi | grep -c '^signature [0-9]')\" = 2", dir), 0);
	T_EQ_INT(sh("sbverify --cert %1$s/a.crt %1$s/two.efi >/dev/null 2>&1", dir), 0);
	T_EQ_INT(sh("sbverify --cert %1$s/b.crt %1$s/two.efi >/dev/null 2>&1", dir), 0);
	/* A table that does not end the image: refused. */
	T_EQ_INT(mkl_buf_sink(&again, "\0\0\0\0\0\0\0\0", 8, &err), 0);
	T_EQ_INT(mkl_authenticode_sign(s, &again, &err), -1);
	T_OK(strstr(err.msg, "not at its end") != NULL, "%s", err.msg);
	/* One byte of the kernel changed: the hash no longer matches. */
	uki.data[uki.len - 4096] ^= 1;
	T_EQ_INT(save(path, &uki), 0);
	T_OK(sh("sbverify --cert %1$s/a.crt %1$s/uki.efi >/dev/null 2>&1", dir) != 0,
	     "sbverify accepts a changed image");
out:
	mkl_signer_free(s);
	mkl_buf_free(&stub);
	mkl_buf_free(&uki);
	mkl_buf_free(&again);
	mkl_buf_free(&ref);
}

int main(void)
{
	struct mkl_err err = { 0 };
	char *cache = mkl_cache_dir(&err), stub[1024];

	if (!mkdtemp(dir))
		return 1;
	if (sh("cd %s && for k in a b; do openssl req -x509 -newkey rsa:2048 -nodes -keyout $k.key "
	       "-out $k.crt -days 3650 -subj /CN=mklive-test-$k >/dev/null 2>&1 || exit 1; done && "
	       "echo junk > junk", dir)) {
		T_SKIP("openssl cannot make a key and certificate");
		goto out;
	}
	test_load_errors();
	snprintf(stub, sizeof(stub), "%s/efi/%s", cache ? cache : "/nonexistent", MKL_EFI_STUB);
	if (access(stub, R_OK))
		T_SKIP("no systemd's EFI stub in mklive's cache (mklive fetch-efi)");
	else if (system("command -v sbverify >/dev/null && command -v objdump >/dev/null"))
		T_SKIP("no sbverify (sbsigntool) or objdump (binutils)");
	else
		test_uki(stub);
out:
	free(cache);
	sh("rm -rf %s", dir);
	return t_done();
}
