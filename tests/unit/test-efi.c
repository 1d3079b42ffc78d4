/* UEFI by default: where mklive's cache is (src/pipeline/cache.c), where a
 * build finds shim and GRUB (mkl_efi_find: the root given or /, then the
 * cache), the signature check behind the closing line (mkl_pe_signed, on
 * a made-up PE and every truncation of it), the child runner the cache is
 * filled through (src/tree/run.c) and the directories that get their name
 * when whole (src/tree/outfile.c). The fetch itself, with apt-get and dpkg,
 * is tests/cli/efi.sh's. */
#include "t.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipeline/cache.h"
#include "pipeline/efi.h"
#include "tree/outfile.h"
#include "tree/run.h"

static char top[256];

static void put(const char *dir, const char *rel, const char *text)
{
	char path[1024], *slash;
	struct mkl_err err;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	slash = strrchr(path, '/');
	*slash = '\0';
	mkl_mkdirs(path, 0755, &err);
	*slash = '/';
	f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void test_cache_dir(void)
{
	static const char *const vars[] = { "MKLIVE_CACHE", "XDG_CACHE_HOME", "HOME" };
	char *saved[3];
	struct mkl_err err = { 0 };
	char *d;

	for (int i = 0; i < 3; i++)
		saved[i] = getenv(vars[i]) ? strdup(getenv(vars[i])) : NULL;

	setenv("MKLIVE_CACHE", "/c/mk", 1);
	setenv("XDG_CACHE_HOME", "/c/xdg", 1);
	setenv("HOME", "/c/home", 1);
	d = mkl_cache_dir(&err);
	T_EQ_STR(d, "/c/mk");
	free(d);
	setenv("MKLIVE_CACHE", "", 1);	/* empty is unset */
	d = mkl_cache_dir(&err);
	T_EQ_STR(d, "/c/xdg/mklive");
	free(d);
	unsetenv("XDG_CACHE_HOME");
	d = mkl_cache_dir(&err);
	T_EQ_STR(d, "/c/home/.cache/mklive");
	free(d);
	unsetenv("HOME");
	unsetenv("MKLIVE_CACHE");
	d = mkl_cache_dir(&err);
	T_OK(!d && strstr(err.msg, "none of MKLIVE_CACHE, XDG_CACHE_HOME and HOME"), "%s", err.msg);
	for (int i = 0; i < 3; i++) {
		if (saved[i])
			setenv(vars[i], saved[i], 1);
		free(saved[i]);
	}
}

static void test_find(void)
{
	char root[512], cache[512], want[600], *got = NULL;
	enum mkl_efi_from from = MKL_EFI_FROM_HOST;
	struct mkl_err err = { 0 };

	snprintf(root, sizeof(root), "%s/root", top);
	snprintf(cache, sizeof(cache), "%s/cache", top);
	mkdir(root, 0755);

	T_EQ_INT(mkl_efi_find(root, cache, &got, &from, &err), -1);
	T_EQ_INT(err.code, ENOENT);
	snprintf(want, sizeof(want), "neither '%s' nor mklive's cache '%s/efi' has them", root, cache);
	T_OK(strstr(err.msg, want) && strstr(err.msg, "shim-signed and grub-efi-amd64-signed") &&
	     strstr(err.msg, "'mklive fetch-efi'") && strstr(err.msg, "--uefi no"), "%s", err.msg);
	T_OK(mkl_efi_find(root, NULL, &got, &from, &err) == -1 && strstr(err.msg, "nor has mklive a cache"),
	     "%s", err.msg);

	/* Half a pair is no pair: shim in the root, GRUB in the cache. */
	put(root, MKL_EFI_SHIM, "shim");
	snprintf(want, sizeof(want), "%s/efi", cache);
	put(want, MKL_EFI_GRUB, "grub");
	T_EQ_INT(mkl_efi_find(root, cache, &got, &from, &err), -1);

	/* The cache with both. */
	put(want, MKL_EFI_SHIM, "shim");
	T_EQ_INT(mkl_efi_find(root, cache, &got, &from, &err), 0);
	T_EQ_STR(got, want);
	T_EQ_INT(from, MKL_EFI_FROM_CACHE);
	free(got);

	/* The root with both comes first. */
	put(root, MKL_EFI_GRUB, "grub");
	T_EQ_INT(mkl_efi_find(root, cache, &got, &from, &err), 0);
	T_EQ_STR(got, root);
	T_EQ_INT(from, MKL_EFI_FROM_ROOT);
	free(got);

	/* A directory where the file should be is not the file. */
	snprintf(want, sizeof(want), "%s/dirs", top);
	put(want, MKL_EFI_SHIM "/x", "");
	put(want, MKL_EFI_GRUB, "grub");
	T_EQ_INT(mkl_efi_find(want, NULL, &got, &from, &err), -1);
}

/* A PE32+ image of 1 KiB whose certificate table (data directory 4) is a
 * WIN_CERTIFICATE of type PKCS_SIGNED_DATA at 0x300. */
static size_t make_pe(unsigned char *p, size_t size, uint16_t magic)
{
	const uint32_t pe = 0x80, opt = pe + 24, dirs = opt + (magic == 0x20b ? 112 : 96);
	const uint32_t cert = 0x300, clen = 0x40;

	memset(p, 0, size);
	p[0] = 'M';
	p[1] = 'Z';
	memcpy(p + 0x3c, &pe, 4);
	memcpy(p + pe, "PE\0\0", 4);
	memcpy(p + opt, &magic, 2);
	p[opt + (magic == 0x20b ? 108 : 92)] = 16;	/* NumberOfRvaAndSizes */
	memcpy(p + dirs + 4 * 8, &cert, 4);
	memcpy(p + dirs + 4 * 8 + 4, &clen, 4);
	memcpy(p + cert, &clen, 4);
	p[cert + 4] = 0x00;
	p[cert + 5] = 0x02;	/* revision 0x0200 */
	p[cert + 6] = 0x02;	/* PKCS_SIGNED_DATA */
	return cert + clen;
}

static void test_pe_signed(void)
{
	unsigned char pe[1024];
	size_t n = make_pe(pe, sizeof(pe), 0x20b), bad = 0;

	T_OK(mkl_pe_signed(pe, n), "PE32+ with a PKCS#7 certificate entry");
	for (size_t len = 0; len < n; len++)	/* the table cut short, or the headers */
		if (mkl_pe_signed(pe, len))
			bad++;
	T_EQ_INT(bad, 0);
	pe[0x300 + 6] = 0x01;	/* an X.509 entry: not Authenticode */
	T_OK(!mkl_pe_signed(pe, n), "certificate type 1");
	n = make_pe(pe, sizeof(pe), 0x20b);
	memset(pe + 0x80 + 24 + 112 + 4 * 8, 0, 8);	/* no certificate table */
	T_OK(!mkl_pe_signed(pe, n), "no table");
	n = make_pe(pe, sizeof(pe), 0x20b);
	pe[0x80 + 24 + 108] = 4;	/* only 4 data directories */
	T_OK(!mkl_pe_signed(pe, n), "4 data directories");
	n = make_pe(pe, sizeof(pe), 0x10b);
	T_OK(mkl_pe_signed(pe, n), "PE32");
	memset(pe + 0x3c, 0xff, 4);	/* e_lfanew far out */
	T_OK(!mkl_pe_signed(pe, n), "e_lfanew past the end");
	T_OK(!mkl_pe_signed("MZ", 2), "two bytes");
	/* The real shim is signed, when the cache has it (tests/cli/efi.sh
	 * fills it). */
	{
		struct mkl_err err;
		struct mkl_buf shim = { 0 };
		char *cache, path[1024];

		cache = mkl_cache_dir(&err);
		snprintf(path, sizeof(path), "%s/efi/%s", cache ? cache : "", MKL_EFI_SHIM);
		if (cache && mkl_read_file(path, &shim, true, &err) == 0) {
			T_OK(mkl_pe_signed(shim.data, shim.len), "%s", path);
			T_OK(!mkl_pe_signed(shim.data, 4096), "the first 4 KiB of %s", path);
		} else {
			T_SKIP("no shim in mklive's cache (make check fills it)");
		}
		mkl_buf_free(&shim);
		free(cache);
	}
}

static void test_run(void)
{
	const char *const ok[] = { "sh", "-c", "echo out; echo err >&2; pwd", NULL };
	const char *const fails[] = { "sh", "-c", "echo Reading...; echo 'E: no such package' >&2; "
				      "echo 'E: and another'; exit 3", NULL };
	const char *const last[] = { "sh", "-c", "echo first; echo; echo 'the last words'; echo; exit 1",
				     NULL };
	const char *const killed[] = { "sh", "-c", "kill -TERM $$", NULL };
	const char *const input[] = { "cat", NULL };
	const char *const none[] = { "mklive-no-such-program", "x", NULL };
	struct mkl_buf out = { 0 };
	struct mkl_err err = { 0 };
	char want[600];

	T_EQ_INT(mkl_run(ok, top, &out, &err), 0);
	snprintf(want, sizeof(want), "out\nerr\n%s\n", top);
	T_OK(out.len == strlen(want) && !memcmp(out.data, want, out.len), "output '%.*s'", (int)out.len,
	     (const char *)out.data);
	T_EQ_INT(mkl_run(fails, NULL, NULL, &err), -1);
	T_EQ_STR(err.msg, "'sh -c echo Reading...; echo 'E: no such package' >&2; echo 'E: and another'; "
		 "exit 3' failed (exit status 3): E: no such package; E: and another");
	T_EQ_INT(mkl_run(last, NULL, NULL, &err), -1);
	T_OK(strstr(err.msg, "failed (exit status 1): the last words") != NULL, "%s", err.msg);
	T_EQ_INT(mkl_run(killed, NULL, NULL, &err), -1);
	T_OK(strstr(err.msg, "was killed by signal 15") != NULL, "%s", err.msg);
	T_EQ_INT(mkl_run(input, NULL, NULL, &err), 0);	/* standard input is /dev/null */
	T_EQ_INT(mkl_run(none, NULL, NULL, &err), -1);
	T_EQ_STR(err.msg, "cannot run 'mklive-no-such-program x': No such file or directory");
	snprintf(want, sizeof(want), "%s/nowhere", top);
	T_EQ_INT(mkl_run(ok, want, NULL, &err), -1);
	T_OK(strstr(err.msg, "nowhere") != NULL, "%s", err.msg);
	mkl_buf_free(&out);
}

static void test_dirs(void)
{
	char dest[512], out[512], *tmp = NULL, path[1024];
	struct mkl_err err = { 0 };
	struct stat st;

	snprintf(dest, sizeof(dest), "%s/a/b/c", top);
	T_EQ_INT(mkl_mkdirs(dest, 0755, &err), 0);
	T_EQ_INT(mkl_mkdirs(dest, 0755, &err), 0);	/* there already */
	snprintf(path, sizeof(path), "%s/a/file", top);
	put(top, "a/file", "x");
	snprintf(path, sizeof(path), "%s/a/file/d", top);
	T_EQ_INT(mkl_mkdirs(path, 0755, &err), -1);

	/* Outside the tree: must survive its removal (links are not followed). */
	snprintf(out, sizeof(out), "%s/outside", top);
	put(out, "keep", "k");
	snprintf(dest, sizeof(dest), "%s/d", top);
	T_EQ_INT(mkl_dir_temp(dest, &tmp, &err), 0);
	T_OK(tmp && strstr(tmp, "/.d-") != NULL, "%s", tmp);
	put(tmp, "new/one", "1");
	T_EQ_INT(mkl_dir_commit(tmp, dest, &err), 0);	/* nothing there yet */
	snprintf(path, sizeof(path), "%s/new/one", dest);
	T_EQ_INT(stat(path, &st), 0);
	T_OK(stat(tmp, &st) != 0, "the temporary name is gone");
	free(tmp);
	T_EQ_INT(mkl_dir_temp(dest, &tmp, &err), 0);
	put(tmp, "two", "2");
	snprintf(path, sizeof(path), "%s/new/link", dest);
	T_EQ_INT(symlink(out, path), 0);
	T_EQ_INT(mkl_dir_commit(tmp, dest, &err), 0);	/* swapped, the old one removed */
	snprintf(path, sizeof(path), "%s/two", dest);
	T_EQ_INT(stat(path, &st), 0);
	snprintf(path, sizeof(path), "%s/new", dest);
	T_OK(stat(path, &st) != 0, "the old tree is gone");
	T_OK(stat(tmp, &st) != 0, "and the temporary name");
	snprintf(path, sizeof(path), "%s/keep", out);
	T_EQ_INT(stat(path, &st), 0);
	free(tmp);
	T_EQ_INT(mkl_remove_tree(dest, &err), 0);
	T_OK(stat(dest, &st) != 0, "removed");
	T_EQ_INT(mkl_remove_tree(dest, &err), 0);	/* not there: fine */
}

int main(void)
{
	const char *t = getenv("TMPDIR");
	struct mkl_err err;

	snprintf(top, sizeof(top), "%s/mklive-test-efi.XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(top)) {
		perror(top);
		return 1;
	}
	test_cache_dir();
	test_find();
	test_pe_signed();
	test_run();
	test_dirs();
	mkl_remove_tree(top, &err);
	return t_done();
}
