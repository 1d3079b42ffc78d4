/* libFuzzer harness: the PE reader behind the signed UKIs (src/fmt/pe.c),
 * on a stub we did not make (systemd's; the seed is Debian's 252 stub):
 * adding sections, the Authenticode hash, the checksum, the certificate
 * table.
 *
 * Checked for every input: when sections are added the result is a PE
 * whose hash can be taken and that holds the
 * sections' bytes; a signature appended is found by mkl_pe_signed and
 * leaves the hash as it was (the hash skips the table and the checksum). */
#include <string.h>

#include "fmt/pe.h"
#include "fuzz.h"
#include "pipeline/efi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char cmdline[] = "console=ttyS0 toram", kernel[] = "kernel bytes";
	const struct mkl_pe_section sec[] = { { ".cmdline", cmdline, sizeof(cmdline) - 1 },
					      { ".linux", kernel, sizeof(kernel) } };
	unsigned char *buf = malloc(size ? size : 1), h1[32], h2[32];
	struct mkl_buf out = { 0 };
	struct mkl_err err;

	FUZZ_CHECK(buf != NULL);
	if (size)
		memcpy(buf, data, size);
	(void)mkl_pe_digest(buf, size, h1, &err);
	(void)mkl_pe_checksum(buf, size);
	(void)mkl_pe_signed(buf, size);
	if (mkl_pe_add_sections(buf, size, sec, 2, &out, &err) == 0) {
		FUZZ_CHECK(mkl_pe_digest(out.data, out.len, h1, &err) == 0);
		FUZZ_CHECK(memmem(out.data, out.len, cmdline, sizeof(cmdline) - 1) != NULL);
		while (out.len % 8)
			FUZZ_CHECK(mkl_buf_sink(&out, "", 1, &err) == 0);
		FUZZ_CHECK(mkl_pe_digest(out.data, out.len, h1, &err) == 0);
		if (mkl_pe_append_signature(&out, "\x30\x03\x02\x01\x01", 5, &err) == 0) {
			FUZZ_CHECK(mkl_pe_signed(out.data, out.len));
			FUZZ_CHECK(mkl_pe_digest(out.data, out.len, h2, &err) == 0);
			FUZZ_CHECK(!memcmp(h1, h2, 32));
		}
	}
	mkl_buf_free(&out);
	free(buf);
	return 0;
}
