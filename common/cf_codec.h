/*
 * cf_codec.h - base64 (RFC 4648 standard and URL-safe alphabets, strict decoding) and hex.
 *
 * Strict means: the alphabet only, no whitespace, and a canonical encoding (the bits past the
 * last byte must be zero). The standard alphabet requires '=' padding to a multiple of four;
 * the URL-safe alphabet forbids padding (RFC 4648 section 5 as tokens use it).
 */
#ifndef CF_CODEC_H
#define CF_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cf_err.h"

enum cf_b64 {
    CF_B64_STD, /* A-Z a-z 0-9 + /, padded */
    CF_B64_URL, /* A-Z a-z 0-9 - _, unpadded */
};

/* Number of characters cf_b64_encode() writes for n bytes (without the NUL). */
size_t cf_b64_encoded_len(enum cf_b64 v, size_t n);

/* Encodes in[0..n) into out, NUL-terminated. CF_ETOOBIG if out_cap is too small. */
CF_MUST_CHECK int cf_b64_encode(enum cf_b64 v, const uint8_t *in, size_t n, char *out,
                                size_t out_cap);

/* An upper bound of the bytes that decoding len characters yields. */
size_t cf_b64_decoded_max(size_t len);

/* Decodes in[0..len) strictly into out[0..out_cap), *out_len = bytes written. CF_EINVAL for
 * anything but a canonical encoding; CF_ETOOBIG if out_cap is too small. On failure out may
 * hold partial output: callers decoding secrets pass a buffer they cleanse. */
CF_MUST_CHECK int cf_b64_decode(enum cf_b64 v, const char *in, size_t len, uint8_t *out,
                                size_t out_cap, size_t *out_len);

/* Lowercase hex of in[0..n) into out (2n + 1 bytes with the NUL). CF_ETOOBIG if too small. */
CF_MUST_CHECK int cf_hex_encode(const uint8_t *in, size_t n, char *out, size_t out_cap);

/* Decodes an even-length hex string (either case) into out[0..len/2). CF_EINVAL if malformed,
 * CF_ETOOBIG if out_cap < len / 2. */
CF_MUST_CHECK int cf_hex_decode(const char *in, size_t len, uint8_t *out, size_t out_cap);

/* The value of a hex digit (either case), or -1. */
int cf_hex_digit(char c);

/* True if s is exactly n lowercase hex characters. */
bool cf_is_lower_hex(const char *s, size_t n);

#endif
