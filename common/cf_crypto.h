/*
 * cf_crypto.h - hashing, random bytes and OpenSSL error handling, all through OpenSSL 3.
 */
#ifndef CF_CRYPTO_H
#define CF_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "cf_err.h"

#define CF_SHA256_LEN     32
#define CF_SHA256_HEX_LEN 64

/* out = SHA-256(data[0..len)). CF_ECRYPTO if OpenSSL fails. Thread-safe. */
CF_MUST_CHECK int cf_sha256(const void *data, size_t len, uint8_t out[CF_SHA256_LEN]);

/* An incremental SHA-256 over several parts; parts with len 0 are skipped. */
struct cf_sha256_part {
    const void *data;
    size_t len;
};
CF_MUST_CHECK int cf_sha256_parts(const struct cf_sha256_part *parts, size_t n,
                                  uint8_t out[CF_SHA256_LEN]);

/* out = lowercase hex SHA-256 of data (65 bytes with the NUL). */
CF_MUST_CHECK int cf_sha256_hex(const void *data, size_t len, char out[CF_SHA256_HEX_LEN + 1]);

/* Fills buf with n bytes from OpenSSL's public DRBG (nonces, ids). CF_ECRYPTO on failure. */
CF_MUST_CHECK int cf_rand_bytes(void *buf, size_t n);

/* Fills buf with n bytes from OpenSSL's private DRBG (keys, tokens). CF_ECRYPTO on failure. */
CF_MUST_CHECK int cf_rand_priv_bytes(void *buf, size_t n);

/* Writes 2 * nbytes random lowercase hex characters and a NUL into out (ids, request ids). */
CF_MUST_CHECK int cf_rand_hex(size_t nbytes, char *out, size_t out_cap);

/* Logs the codes in this thread's OpenSSL error queue under `what` (never the data), clears
 * the queue (civetweb reuses threads) and returns CF_ECRYPTO. */
int cf_ossl_error(const char *what);

#endif
