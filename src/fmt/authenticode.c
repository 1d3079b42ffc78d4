/* Authenticode signing (see authenticode.h). The PKCS#7 is written as DER
 * by hand: OpenSSL's PKCS7_dataFinal adds a signing time to signed
 * attributes, which would make every build differ.
 *
 *   ContentInfo { signedData, [0] SignedData {
 *     version 1, digestAlgorithms { sha256 },
 *     contentInfo { SPC_INDIRECT_DATA, [0] SpcIndirectDataContent {
 *       SpcAttributeTypeAndOptionalValue { SPC_PE_IMAGE_DATA,
 *         SpcPeImageData { flags '', file [0] { [2] { [0] "<<<Obsolete>>>" } } } },
 *       DigestInfo { sha256, image hash } } },
 *     certificates [0] { the signer's },
 *     signerInfos { SignerInfo { version 1, issuerAndSerialNumber, sha256,
 *       [0] { contentType SPC_INDIRECT_DATA, messageDigest SHA-256 of the
 *             SpcIndirectDataContent's contents (without its tag and length) },
 *       rsaEncryption, signature over the attributes as a SET } } } }
 */
#include "fmt/authenticode.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "fmt/pe.h"

struct mkl_signer {
	EVP_PKEY *key;
	X509 *cert;
};

/* libcrypto's last error, for a message. */
static const char *ossl_why(void)
{
	static __thread char buf[256];
	unsigned long e = ERR_peek_last_error();

	if (!e)
		return "no PEM data, or not the right kind";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

int mkl_signer_load(const char *key, const char *cert, struct mkl_signer **out, struct mkl_err *err)
{
	struct mkl_signer *s = mkl_calloc(1, sizeof(*s), err);
	FILE *f;

	*out = NULL;
	if (!s)
		return -1;
	ERR_clear_error();
	if (!(f = fopen(key, "re"))) {
		mkl_error(err, errno, "cannot open signing key '%s'", key);
		goto fail;
	}
	/* No passphrase callback: an encrypted key fails here, never asks. */
	s->key = PEM_read_PrivateKey(f, NULL, NULL, (void *)"");
	fclose(f);
	if (!s->key) {
		mkl_error(err, 0, "signing key '%s' is not an unencrypted PEM private key (%s)", key, ossl_why());
		goto fail;
	}
	if (EVP_PKEY_get_base_id(s->key) != EVP_PKEY_RSA) {
		mkl_error(err, 0, "signing key '%s' is not an RSA key (UEFI firmware and shim verify RSA "
			  "signatures)", key);
		goto fail;
	}
	if (!(f = fopen(cert, "re"))) {
		mkl_error(err, errno, "cannot open signing certificate '%s'", cert);
		goto fail;
	}
	s->cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!s->cert) {
		mkl_error(err, 0, "signing certificate '%s' is not a PEM X.509 certificate (%s)", cert,
			  ossl_why());
		goto fail;
	}
	if (X509_check_private_key(s->cert, s->key) != 1) {
		ERR_clear_error();
		mkl_error(err, 0, "signing key '%s' and certificate '%s' are not a pair (the certificate "
			  "holds another public key)", key, cert);
		goto fail;
	}
	*out = s;
	return 0;
fail:
	mkl_signer_free(s);
	return -1;
}

void mkl_signer_free(struct mkl_signer *s)
{
	if (!s)
		return;
	EVP_PKEY_free(s->key);
	X509_free(s->cert);
	free(s);
}

/* --- DER, written into a growable buffer ----------------------------- */

static int put(struct mkl_buf *b, const void *p, size_t n, struct mkl_err *err)
{
	return mkl_buf_sink(b, p, n, err);
}

/* tag, length, then the contents. */
static int tlv(struct mkl_buf *b, unsigned char tag, const void *p, size_t n, struct mkl_err *err)
{
	unsigned char h[6] = { tag };
	size_t hl = 2;

	if (n < 0x80) {
		h[1] = (unsigned char)n;
	} else if (n < 0x100) {
		h[1] = 0x81, h[2] = (unsigned char)n, hl = 3;
	} else if (n < 0x10000) {
		h[1] = 0x82, h[2] = (unsigned char)(n >> 8), h[3] = (unsigned char)n, hl = 4;
	} else {
		h[1] = 0x83, h[2] = (unsigned char)(n >> 16), h[3] = (unsigned char)(n >> 8);
		h[4] = (unsigned char)n, hl = 5;
	}
	return put(b, h, hl, err) || put(b, p, n, err) ? -1 : 0;
}

/* Wrap what b holds in a tag (b becomes TAG LEN b). */
static int wrap(struct mkl_buf *b, unsigned char tag, struct mkl_err *err)
{
	struct mkl_buf t = { 0 };
	int rc = tlv(&t, tag, b->data, b->len, err);

	mkl_buf_free(b);
	*b = t;
	return rc;
}

#define SEQ 0x30
#define SET 0x31
#define CTX0 0xa0

static const unsigned char OID_SIGNED_DATA[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02 };
static const unsigned char OID_SPC_INDIRECT[] = { 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x01, 0x04 };
static const unsigned char OID_SPC_PE_IMAGE[] = { 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x01, 0x0f };
static const unsigned char OID_CONTENT_TYPE[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03 };
static const unsigned char OID_MESSAGE_DIGEST[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04 };
/* AlgorithmIdentifiers, whole: sha256 and rsaEncryption, each with NULL. */
static const unsigned char ALG_SHA256[] = { 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04,
					    0x02, 0x01, 0x05, 0x00 };
static const unsigned char ALG_RSA[] = { 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01,
					 0x01, 0x01, 0x05, 0x00 };
/* SpcPeImageData: flags (empty BIT STRING), file [0] { [2] { [0] BMPString
 * "<<<Obsolete>>>" } }, as signtool and sbsign write it. */
static const unsigned char PE_IMAGE_DATA[] = {
	0x30, 0x25, 0x03, 0x01, 0x00, 0xa0, 0x20, 0xa2, 0x1e, 0x80, 0x1c,
	0, '<', 0, '<', 0, '<', 0, 'O', 0, 'b', 0, 's', 0, 'o', 0, 'l', 0, 'e', 0, 't', 0, 'e', 0, '>', 0, '>', 0, '>',
};

/* The length of a DER header at p (tag + length bytes). */
static size_t der_header(const unsigned char *p)
{
	return p[1] < 0x80 ? 2 : 2 + (size_t)(p[1] & 0x7f);
}

int mkl_signer_cert_der(const struct mkl_signer *s, struct mkl_buf *out, struct mkl_err *err)
{
	unsigned char *der = NULL;
	int n = i2d_X509(s->cert, &der);
	int rc;

	if (n <= 0)
		return mkl_error(err, 0, "cannot encode the certificate: %s", ossl_why());
	rc = put(out, der, (size_t)n, err);
	OPENSSL_free(der);
	return rc;
}

int mkl_cert_load_der(const char *path, struct mkl_buf *out, struct mkl_err *err)
{
	FILE *f = fopen(path, "re");
	X509 *x;
	unsigned char *der = NULL;
	int n, rc;

	if (!f)
		return mkl_error(err, errno, "cannot open certificate '%s'", path);
	ERR_clear_error();
	x = PEM_read_X509(f, NULL, NULL, NULL);
	if (!x) {
		rewind(f);
		x = d2i_X509_fp(f, NULL);
	}
	fclose(f);
	if (!x)
		return mkl_error(err, 0, "'%s' is not an X.509 certificate, PEM or DER (%s)", path, ossl_why());
	n = i2d_X509(x, &der);
	X509_free(x);
	if (n <= 0)
		return mkl_error(err, 0, "cannot encode the certificate of '%s'", path);
	rc = put(out, der, (size_t)n, err);
	OPENSSL_free(der);
	return rc;
}

/* i2d of an object into b. */
#define PUT_I2D(b, fn, obj, err) ({                                                  \
	unsigned char *_d = NULL;                                                    \
	int _n = fn(obj, &_d), _rc = -1;                                             \
	if (_n > 0)                                                                  \
		_rc = put(b, _d, (size_t)_n, err);                                   \
	else                                                                         \
		mkl_error(err, 0, "cannot encode the certificate's %s", #obj);       \
	OPENSSL_free(_d);                                                            \
	_rc; })

int mkl_authenticode_sign(const struct mkl_signer *s, struct mkl_buf *pe, struct mkl_err *err)
{
	unsigned char hash[32], mdig[32];
	struct mkl_buf idc = { 0 }, t = { 0 }, attrs = { 0 }, ct = { 0 }, md = { 0 }, si = { 0 },
		       sd = { 0 }, sig = { 0 };
	EVP_MD_CTX *ctx = NULL;
	size_t siglen = 0, h;
	int rc = -1;

	if (mkl_pe_digest(pe->data, pe->len, hash, err))
		return mkl_err_prefix(err, "signing");
	/* SpcIndirectDataContent */
	if (put(&t, OID_SPC_PE_IMAGE, sizeof(OID_SPC_PE_IMAGE), err) ||
	    put(&t, PE_IMAGE_DATA, sizeof(PE_IMAGE_DATA), err) || wrap(&t, SEQ, err) ||
	    put(&idc, t.data, t.len, err))
		goto out;
	mkl_buf_free(&t);
	if (put(&t, ALG_SHA256, sizeof(ALG_SHA256), err) || tlv(&t, 0x04, hash, 32, err) ||
	    wrap(&t, SEQ, err) || put(&idc, t.data, t.len, err) || wrap(&idc, SEQ, err))
		goto out;
	mkl_buf_free(&t);
	/* The message digest is over the contents, without the SEQUENCE's
	 * own tag and length. */
	h = der_header(idc.data);
	if (!EVP_Digest(idc.data + h, idc.len - h, mdig, NULL, EVP_sha256(), NULL)) {
		mkl_error(err, 0, "SHA-256 failed in libcrypto");
		goto out;
	}
	/* The signed attributes, in DER's SET OF order (by their encoding). */
	if (put(&ct, OID_CONTENT_TYPE, sizeof(OID_CONTENT_TYPE), err) ||
	    tlv(&t, SET, OID_SPC_INDIRECT, sizeof(OID_SPC_INDIRECT), err) || put(&ct, t.data, t.len, err) ||
	    wrap(&ct, SEQ, err))
		goto out;
	mkl_buf_free(&t);
	if (put(&md, OID_MESSAGE_DIGEST, sizeof(OID_MESSAGE_DIGEST), err) || tlv(&t, 0x04, mdig, 32, err) ||
	    wrap(&t, SET, err) || put(&md, t.data, t.len, err) || wrap(&md, SEQ, err))
		goto out;
	mkl_buf_free(&t);
	{
		const struct mkl_buf *a = &ct, *b = &md;
		size_t n = a->len < b->len ? a->len : b->len;
		int c = memcmp(a->data, b->data, n);

		if (c > 0 || (c == 0 && a->len > b->len))
			a = &md, b = &ct;
		if (put(&attrs, a->data, a->len, err) || put(&attrs, b->data, b->len, err) ||
		    wrap(&attrs, SET, err))
			goto out;
	}
	/* The signature is over the attributes as a SET (tag 0x31). */
	ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, s->key) != 1 ||
	    EVP_DigestSign(ctx, NULL, &siglen, attrs.data, attrs.len) != 1) {
		mkl_error(err, 0, "cannot sign: %s", ossl_why());
		goto out;
	}
	if (put(&sig, NULL, 0, err))
		goto out;
	{
		unsigned char *buf = malloc(siglen);

		if (!buf) {
			mkl_error(err, ENOMEM, "out of memory");
			goto out;
		}
		if (EVP_DigestSign(ctx, buf, &siglen, attrs.data, attrs.len) != 1) {
			free(buf);
			mkl_error(err, 0, "cannot sign: %s", ossl_why());
			goto out;
		}
		rc = put(&sig, buf, siglen, err);
		free(buf);
		if (rc)
			goto out;
		rc = -1;
	}
	attrs.data[0] = CTX0;	/* in the SignerInfo: [0] IMPLICIT */
	/* SignerInfo */
	{
		static const unsigned char v1[] = { 0x02, 0x01, 0x01 };

		if (put(&si, v1, 3, err) ||
		    PUT_I2D(&t, i2d_X509_NAME, X509_get_issuer_name(s->cert), err) ||
		    PUT_I2D(&t, i2d_ASN1_INTEGER, X509_get0_serialNumber(s->cert), err) ||
		    wrap(&t, SEQ, err) || put(&si, t.data, t.len, err) ||
		    put(&si, ALG_SHA256, sizeof(ALG_SHA256), err) || put(&si, attrs.data, attrs.len, err) ||
		    put(&si, ALG_RSA, sizeof(ALG_RSA), err) || tlv(&si, 0x04, sig.data, sig.len, err) ||
		    wrap(&si, SEQ, err) || wrap(&si, SET, err))
			goto out;
		mkl_buf_free(&t);
		/* SignedData */
		if (put(&sd, v1, 3, err) || tlv(&sd, SET, ALG_SHA256, sizeof(ALG_SHA256), err) ||
		    put(&t, OID_SPC_INDIRECT, sizeof(OID_SPC_INDIRECT), err) ||
		    tlv(&t, CTX0, idc.data, idc.len, err) || wrap(&t, SEQ, err) || put(&sd, t.data, t.len, err))
			goto out;
		mkl_buf_free(&t);
		if (mkl_signer_cert_der(s, &t, err) || wrap(&t, CTX0, err) || put(&sd, t.data, t.len, err) ||
		    put(&sd, si.data, si.len, err) || wrap(&sd, SEQ, err))
			goto out;
		mkl_buf_free(&t);
		/* ContentInfo */
		if (wrap(&sd, CTX0, err) || put(&t, OID_SIGNED_DATA, sizeof(OID_SIGNED_DATA), err) ||
		    put(&t, sd.data, sd.len, err) || wrap(&t, SEQ, err))
			goto out;
	}
	rc = mkl_pe_append_signature(pe, t.data, t.len, err);
out:
	if (rc)
		mkl_err_prefix(err, "signing");
	EVP_MD_CTX_free(ctx);
	mkl_buf_free(&idc);
	mkl_buf_free(&t);
	mkl_buf_free(&attrs);
	mkl_buf_free(&ct);
	mkl_buf_free(&md);
	mkl_buf_free(&si);
	mkl_buf_free(&sd);
	mkl_buf_free(&sig);
	return rc;
}
