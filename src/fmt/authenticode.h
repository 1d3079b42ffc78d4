/* Authenticode signatures of EFI programs, in-process with OpenSSL's
 * libcrypto: the user's key and certificate loaded and checked once, then
 * each PE image signed as sbsign and signtool sign it — a PKCS#7
 * SignedData over an SpcIndirectDataContent that holds the image's
 * Authenticode SHA-256 (fmt/pe.h), with the signer's certificate, in a
 * WIN_CERTIFICATE at the end of the image.
 *
 * Reproducible: the signed attributes are the content type and the
 * message digest only (no signing time), the DER is ours and RSA
 * PKCS#1 v1.5 signatures are deterministic, so the same image and key
 * give the same bytes. Keys: RSA (what UEFI firmware and shim verify).
 */
#ifndef MKL_AUTHENTICODE_H
#define MKL_AUTHENTICODE_H

#include <stddef.h>

#include "tree/err.h"
#include "tree/io.h"

struct mkl_signer;

/* Load key (PEM private key, unencrypted) and cert (PEM X.509) and check
 * that they are a pair and that the key is RSA. 0 with *out, or -1 with
 * err naming the file and what is wrong with it. */
int mkl_signer_load(const char *key, const char *cert, struct mkl_signer **out, struct mkl_err *err);
void mkl_signer_free(struct mkl_signer *s);	/* accepts NULL */

/* The certificate in DER (for MOK enrolment), appended to out. */
int mkl_signer_cert_der(const struct mkl_signer *s, struct mkl_buf *out, struct mkl_err *err);

/* An X.509 certificate file (PEM or DER) in DER, appended to out. 0, or
 * -1 with err naming the file. */
int mkl_cert_load_der(const char *path, struct mkl_buf *out, struct mkl_err *err);

/* Sign the PE image in pe (length a multiple of 8): its signature is
 * appended, after those it may have already (shim's Microsoft
 * signatures stay valid: the image hash stops at the certificate table).
 * 0, or -1 with err. */
int mkl_authenticode_sign(const struct mkl_signer *s, struct mkl_buf *pe, struct mkl_err *err);

#endif
