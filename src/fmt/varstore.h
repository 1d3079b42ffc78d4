/* EDK2's (OVMF's) UEFI variable store, as in OVMF_VARS*.fd: a certificate
 * added to the Secure Boot db, or to shim's MOK list, by writing the store
 * itself (what `mklive test --db` boots with). Ours, from EDK2's format:
 *
 *   firmware volume header (EFI_FIRMWARE_VOLUME_HEADER: "_FVH" at 40,
 *     file system GUID gEfiSystemNvDataFvGuid, HeaderLength at 48)
 *   variable store header at HeaderLength (VARIABLE_STORE_HEADER: GUID
 *     gEfiAuthenticatedVariableGuid, Size, Format 0x5a, State 0xfe)
 *   variables, each 4-byte aligned: AUTHENTICATED_VARIABLE_HEADER (60
 *     bytes: StartId 0x55aa, State, Attributes, MonotonicCount,
 *     TimeStamp, PubKeyIndex, NameSize, DataSize, VendorGuid), the name
 *     (UTF-16LE with its NUL), the data; erased space (0xff) after the
 *     last one.
 *
 * A variable is live when its State is VAR_ADDED (0x3f) and deleted when
 * VAR_DELETED and VAR_IN_DELETED_TRANSITION are cleared too (0x3c), as
 * EDK2 marks them: a new variable is the old one's header, name and data
 * with the new data appended, written after the last variable; the old
 * one is then marked deleted. The data of an authenticated variable (db)
 * is stored without its EFI_VARIABLE_AUTHENTICATION_2 header: the
 * firmware checked that when it was written, and nothing checks it again.
 */
#ifndef MKL_VARSTORE_H
#define MKL_VARSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "tree/err.h"

enum mkl_var {
	MKL_VAR_DB,		/* "db", EFI_IMAGE_SECURITY_DATABASE_GUID: firmware's allowed keys */
	MKL_VAR_MOKLIST,	/* "MokList", SHIM_LOCK_GUID: shim's machine owner keys (NV|BS) */
};

/* Add der (an X.509 certificate) to the variable in the store (the whole
 * OVMF_VARS file, changed in place) as one more EFI_SIGNATURE_LIST of type
 * EFI_CERT_X509_GUID; the variable is made when the store has none. 0, or
 * -1 with err (not an EDK2 variable store, no room). */
int mkl_varstore_add_cert(unsigned char *store, size_t len, enum mkl_var var, const void *der, size_t der_len,
			  struct mkl_err *err);

/* The same, but der alone: the variable's old lists are dropped (a db
 * that trusts only the user's certificate, not Microsoft's). */
int mkl_varstore_set_cert(unsigned char *store, size_t len, enum mkl_var var, const void *der, size_t der_len,
			  struct mkl_err *err);

/* The live variable's data and attributes: 1 found, 0 not, -1 not a store. */
int mkl_varstore_get(const unsigned char *store, size_t len, enum mkl_var var, const unsigned char **data,
		     size_t *data_len, uint32_t *attrs, struct mkl_err *err);

/* Is der one of the X.509 certificates in the EFI_SIGNATURE_LISTs of
 * data (a db or MokList variable's)? */
int mkl_siglist_has_cert(const unsigned char *data, size_t len, const void *der, size_t der_len);

#endif
