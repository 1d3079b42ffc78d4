/* PE/COFF: sections added to systemd's stub, the Authenticode hash, the
 * certificate table, the checksum (see pe.h). */
#include "fmt/pe.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fmt/digest.h"

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
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static void wr16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

/* Where the parts of the headers are. */
struct pe {
	size_t coff;		/* the COFF header (after "PE\0\0") */
	size_t opt;		/* the optional header */
	size_t dirs;		/* its data directories */
	uint32_t ndirs;
	size_t sections;	/* the section table */
	uint16_t nsec;
	uint32_t headers;	/* SizeOfHeaders */
};

#define OPT_CHECKSUM 64		/* offsets in the PE32+ optional header */
#define DIR_SECURITY 4		/* the certificate table's directory entry */
#define SEC_SIZE 40

static int pe_parse(const unsigned char *p, size_t len, struct pe *pe, struct mkl_err *err)
{
	uint32_t at;
	uint16_t optsize;

	if (len < 0x40 || p[0] != 'M' || p[1] != 'Z')
		return mkl_error(err, 0, "not a PE image (no MZ header)");
	at = rd32(p + 0x3c);
	if (at > len || len - at < 24 || memcmp(p + at, "PE\0\0", 4))
		return mkl_error(err, 0, "not a PE image (no PE header)");
	pe->coff = at + 4;
	pe->nsec = rd16(p + pe->coff + 2);
	optsize = rd16(p + pe->coff + 16);
	pe->opt = pe->coff + 20;
	if (len - pe->opt < 112 || optsize < 112 || rd16(p + pe->opt) != 0x20b)
		return mkl_error(err, 0, "not a PE32+ image");
	pe->ndirs = rd32(p + pe->opt + 108);
	pe->dirs = pe->opt + 112;
	if (pe->ndirs < 5 || optsize < 112 + 8 * pe->ndirs)
		return mkl_error(err, 0, "PE image without a certificate table entry");
	pe->sections = pe->opt + optsize;
	pe->headers = rd32(p + pe->opt + 60);
	if (pe->sections + (size_t)pe->nsec * SEC_SIZE > len || pe->headers > len ||
	    pe->sections + (size_t)pe->nsec * SEC_SIZE > pe->headers)
		return mkl_error(err, 0, "PE image with a bad section table");
	return 0;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

int mkl_pe_add_sections(const void *stub, size_t stub_len, const struct mkl_pe_section *sec, size_t n,
			struct mkl_buf *out, struct mkl_err *err)
{
	const unsigned char *s = stub;
	uint64_t vend = 0, fend = 0, total;
	uint32_t salign, falign, init;
	unsigned char *p;
	struct pe pe;

	if (pe_parse(s, stub_len, &pe, err))
		return mkl_err_prefix(err, "systemd's EFI stub");
	if (rd32(s + pe.dirs + DIR_SECURITY * 8 + 4))
		return mkl_error(err, 0, "systemd's EFI stub is signed already: sections cannot be added");
	{	/* its sections must be hashable: none over another */
		unsigned char sum[32];

		if (mkl_pe_digest(s, stub_len, sum, err))
			return mkl_err_prefix(err, "systemd's EFI stub");
	}
	salign = rd32(s + pe.opt + 32);
	falign = rd32(s + pe.opt + 36);
	if (!salign || !falign || (falign & (falign - 1)))
		return mkl_error(err, 0, "systemd's EFI stub: bad alignment");
	if (pe.sections + (size_t)(pe.nsec + n) * SEC_SIZE > pe.headers)
		return mkl_error(err, 0, "systemd's EFI stub has no room for %zu more sections in its headers",
				 n);
	for (uint16_t i = 0; i < pe.nsec; i++) {
		const unsigned char *h = s + pe.sections + (size_t)i * SEC_SIZE;
		uint64_t ve = (uint64_t)rd32(h + 12) + rd32(h + 8), fe = (uint64_t)rd32(h + 20) + rd32(h + 16);

		if (fe > stub_len)
			return mkl_error(err, 0, "systemd's EFI stub: section %u past the end of the file", i);
		vend = ve > vend ? ve : vend;
		fend = fe > fend ? fe : fend;
	}
	/* Everything after the sections (a symbol table) is dropped. */
	fend = align_up(fend > pe.headers ? fend : pe.headers, falign);
	total = fend;
	for (size_t i = 0; i < n; i++)
		total += align_up(sec[i].size, falign);
	if (total > UINT32_MAX / 2)
		return mkl_error(err, EFBIG, "the unified kernel image would be %llu bytes",
				 (unsigned long long)total);
	mkl_buf_free(out);
	p = calloc(1, (size_t)total);
	if (!p)
		return mkl_error(err, ENOMEM, "out of memory");
	out->data = p;
	out->len = out->cap = (size_t)total;
	memcpy(p, s, fend < stub_len ? (size_t)fend : stub_len);
	/* Pages: the stub copies a kernel that is not where it wants it. */
	salign = salign < 4096 ? 4096 : salign;
	init = rd32(p + pe.opt + 8);
	for (size_t i = 0; i < n; i++) {
		unsigned char *h = p + pe.sections + (size_t)(pe.nsec + i) * SEC_SIZE;
		uint32_t raw = (uint32_t)align_up(sec[i].size, falign);

		vend = align_up(vend, salign);
		memset(h, 0, SEC_SIZE);
		memcpy(h, sec[i].name, strnlen(sec[i].name, 8));
		wr32(h + 8, (uint32_t)sec[i].size);	/* VirtualSize */
		wr32(h + 12, (uint32_t)vend);		/* VirtualAddress */
		wr32(h + 16, raw);			/* SizeOfRawData */
		wr32(h + 20, (uint32_t)fend);		/* PointerToRawData */
		wr32(h + 36, 0x40000040);		/* initialized data, read */
		if (sec[i].size)
			memcpy(p + fend, sec[i].data, sec[i].size);
		vend += sec[i].size;
		fend += raw;
		init += raw;
	}
	wr16(p + pe.coff + 2, (uint16_t)(pe.nsec + n));
	wr32(p + pe.opt + 8, init);
	wr32(p + pe.opt + 56, (uint32_t)align_up(vend, rd32(s + pe.opt + 32)));
	/* The stub's symbol table, if any, was not copied. */
	wr32(p + pe.coff + 8, 0);
	wr32(p + pe.coff + 12, 0);
	return mkl_pe_set_checksum(out, err);
}

struct span {
	uint32_t at, size;
};

static int cmp_span(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	return x->at < y->at ? -1 : x->at > y->at;
}

int mkl_pe_digest(const void *data, size_t len, unsigned char sum[32], struct mkl_err *err)
{
	const unsigned char *p = data;
	struct mkl_digest *d;
	struct span *spans = NULL;
	size_t cksum, secdir, done;
	uint32_t certs;
	struct pe pe;
	int rc = -1;

	if (pe_parse(p, len, &pe, err))
		return -1;
	cksum = pe.opt + OPT_CHECKSUM;
	secdir = pe.dirs + DIR_SECURITY * 8;
	certs = rd32(p + secdir);
	if (!rd32(p + secdir + 4) || certs > len)
		certs = (uint32_t)len;	/* no certificate table: to the end */
	d = mkl_digest_new(err);
	if (!d)
		return -1;
	spans = calloc(pe.nsec ? pe.nsec : 1, sizeof(*spans));
	if (!spans) {
		mkl_error(err, ENOMEM, "out of memory");
		goto out;
	}
	if (mkl_digest_update(d, p, cksum) || mkl_digest_update(d, p + cksum + 4, secdir - cksum - 4) ||
	    mkl_digest_update(d, p + secdir + 8, pe.headers - secdir - 8))
		goto fail;
	done = pe.headers;
	for (uint16_t i = 0; i < pe.nsec; i++) {
		const unsigned char *h = p + pe.sections + (size_t)i * SEC_SIZE;

		spans[i] = (struct span){ .at = rd32(h + 20), .size = rd32(h + 16) };
	}
	qsort(spans, pe.nsec, sizeof(*spans), cmp_span);
	for (uint16_t i = 0; i < pe.nsec; i++) {
		if (!spans[i].size)
			continue;
		if ((uint64_t)spans[i].at + spans[i].size > certs) {
			mkl_error(err, 0, "PE section past the end of the image");
			goto out;
		}
		/* Sections over the headers or over one another would hash
		 * bytes twice, the checksum and certificate entry among them. */
		if (spans[i].at < done) {
			mkl_error(err, 0, "PE sections overlap the headers or one another");
			goto out;
		}
		if (mkl_digest_update(d, p + spans[i].at, spans[i].size))
			goto fail;
		done = (size_t)spans[i].at + spans[i].size;
	}
	/* What follows the sections, up to the certificate table. */
	if (done < certs && mkl_digest_update(d, p + done, certs - done))
		goto fail;
	if (mkl_digest_final(d, sum))
		goto fail;
	rc = 0;
	goto out;
fail:
	mkl_error(err, 0, "SHA-256 failed in libcrypto");
out:
	free(spans);
	mkl_digest_free(d);
	return rc;
}

uint32_t mkl_pe_checksum(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t sum = 0;
	size_t field = 0;
	uint32_t at;

	if (len >= 0x40) {
		at = rd32(p + 0x3c);
		if (at < len && len - at > 24 + OPT_CHECKSUM + 4)
			field = at + 24 + OPT_CHECKSUM;
	}
	for (size_t i = 0; i < len; i += 2) {
		uint32_t w;

		if (field && i >= field && i < field + 4)
			continue;
		w = i + 1 < len ? rd16(p + i) : p[i];
		sum += w;
		sum = (sum & 0xffff) + (sum >> 16);
	}
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint32_t)(sum & 0xffff) + (uint32_t)len;
}

int mkl_pe_set_checksum(struct mkl_buf *pe, struct mkl_err *err)
{
	struct pe h;

	if (pe_parse(pe->data, pe->len, &h, err))
		return -1;
	wr32(pe->data + h.opt + OPT_CHECKSUM, mkl_pe_checksum(pe->data, pe->len));
	return 0;
}

int mkl_pe_append_signature(struct mkl_buf *pe, const void *der, size_t der_len, struct mkl_err *err)
{
	static const unsigned char zero[8];
	unsigned char hdr[8];
	size_t secdir, padded = (size_t)align_up(8 + der_len, 8), at = pe->len, table;
	uint32_t size;
	struct pe h;

	if (pe_parse(pe->data, pe->len, &h, err))
		return -1;
	secdir = h.dirs + DIR_SECURITY * 8;
	table = rd32(pe->data + secdir);
	size = rd32(pe->data + secdir + 4);
	if (pe->len % 8)
		return mkl_error(err, 0, "the PE image's length is not a multiple of 8");
	/* Signed already (shim, by Microsoft): one more WIN_CERTIFICATE after
	 * the others, as signtool /as does; firmware accepts the image when
	 * any of them verifies. The table must end the file, 8-aligned. */
	if (!size)
		table = at;
	else if (table % 8 || size % 8 || table > pe->len || pe->len - table != size)
		return mkl_error(err, 0, "the PE image's certificate table is not at its end");
	if (padded > UINT32_MAX || at + padded - table > UINT32_MAX)
		return mkl_error(err, EFBIG, "the PE image is too large");
	wr32(hdr, (uint32_t)(8 + der_len));
	wr16(hdr + 4, 0x0200);	/* WIN_CERT_REVISION_2_0 */
	wr16(hdr + 6, 0x0002);	/* WIN_CERT_TYPE_PKCS_SIGNED_DATA */
	if (mkl_buf_sink(pe, hdr, 8, err) || mkl_buf_sink(pe, der, der_len, err) ||
	    mkl_buf_sink(pe, zero, padded - 8 - der_len, err))
		return -1;
	wr32(pe->data + secdir, (uint32_t)table);
	wr32(pe->data + secdir + 4, (uint32_t)(pe->len - table));
	return mkl_pe_set_checksum(pe, err);
}
