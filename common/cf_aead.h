/*
 * cf_aead.h - AES-256-GCM through OpenSSL EVP: sealing and opening with associated data.
 *
 * In common/ because both the local KMS backend and envelope sealing use it. Opening fails
 * closed: a tag that does not verify returns CF_EINTEGRITY and no byte of plaintext.
 */
#ifndef CF_AEAD_H
#define CF_AEAD_H

#include <stddef.h>
#include <stdint.h>

#include "cf_err.h"
#include "cf_secret.h"

#define CF_AEAD_KEY_LEN   32
#define CF_AEAD_NONCE_LEN 12
#define CF_AEAD_TAG_LEN   16

/* Seals plain[0..plain_len) under key and nonce with associated data aad; writes plain_len +
 * CF_AEAD_TAG_LEN bytes (ciphertext then tag) to out, which must have room for them.
 * CF_ECRYPTO if OpenSSL fails, CF_ETOOBIG past OpenSSL's int lengths. */
CF_MUST_CHECK int cf_aead_seal(const uint8_t key[CF_AEAD_KEY_LEN],
                               const uint8_t nonce[CF_AEAD_NONCE_LEN], const uint8_t *aad,
                               size_t aad_len, const uint8_t *plain, size_t plain_len,
                               uint8_t *out);

/* Opens sealed[0..sealed_len) (ciphertext then tag). On success *plain_out holds the
 * plaintext; on any failure it is empty. CF_EINTEGRITY when the tag does not verify or the
 * input is shorter than a tag. */
CF_MUST_CHECK int cf_aead_open(const uint8_t key[CF_AEAD_KEY_LEN],
                               const uint8_t nonce[CF_AEAD_NONCE_LEN], const uint8_t *aad,
                               size_t aad_len, const uint8_t *sealed, size_t sealed_len,
                               struct cf_secret *plain_out);

#endif
