/* PE/COFF images (EFI programs): a unified kernel image made from
 * systemd's EFI stub by adding sections, the Authenticode image hash, the
 * certificate table and the header checksum. Ours (no PE library is
 * packaged); signing itself is fmt/authenticode.h.
 *
 * The UKI is what ukify and `objcopy --add-section` make: the stub's
 * sections as they are, then one section per added part (.osrel,
 * .cmdline, .linux, .initrd), each at the next page after the last
 * section in memory and at the next FileAlignment in the file, marked
 * initialized read-only data; SizeOfImage, SizeOfInitializedData and the
 * checksum follow. The stub's headers must have room for the new entries
 * of the section table (systemd's 252 stub has 0x400 bytes of headers:
 * room for 8 more).
 */
#ifndef MKL_PE_H
#define MKL_PE_H

#include <stddef.h>
#include <stdint.h>

#include "tree/err.h"
#include "tree/io.h"

struct mkl_pe_section {
	const char *name;	/* up to 8 bytes: ".linux" */
	const void *data;
	size_t size;
};

/* out = stub with the sections appended (out is replaced). 0, or -1 with
 * err (not a PE32+ image, no room in its headers, too large). */
int mkl_pe_add_sections(const void *stub, size_t stub_len, const struct mkl_pe_section *sec, size_t n,
			struct mkl_buf *out, struct mkl_err *err);

/* The Authenticode SHA-256 of the image (Microsoft's "Windows
 * Authenticode Portable Executable Signature Format"): the headers without
 * the checksum and the certificate table's directory entry, the sections'
 * raw data in file order, then whatever follows them up to the
 * certificate table. 0, or -1 with err. */
int mkl_pe_digest(const void *data, size_t len, unsigned char sum[32], struct mkl_err *err);

/* Append a WIN_CERTIFICATE (revision 2.0, PKCS_SIGNED_DATA) holding der
 * to the image (whose length must be a multiple of 8), point the
 * certificate table's directory entry at it, or grow the table when the
 * image is signed already (the table must then end the image), and set
 * the checksum. The image hash stays what it was: it stops at the table.
 * 0, or -1 with err. */
int mkl_pe_append_signature(struct mkl_buf *pe, const void *der, size_t der_len, struct mkl_err *err);

/* The PE header checksum of the image, as the loader's CheckSum field
 * wants it (the field itself counted as 0); and setting it. */
uint32_t mkl_pe_checksum(const void *data, size_t len);
int mkl_pe_set_checksum(struct mkl_buf *pe, struct mkl_err *err);

#endif
