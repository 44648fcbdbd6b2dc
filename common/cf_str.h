/*
 * cf_str.h - checked formatting and parsing, UTF-8 checks, and a growable byte buffer.
 */
#ifndef CF_STR_H
#define CF_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cf_err.h"

/* snprintf into buf[cap]; CF_ETOOBIG if the output would be truncated (buf then holds a
 * truncated, NUL-terminated string), CF_EINVAL on an encoding error. */
CF_MUST_CHECK int cf_fmt(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes a message into err[errcap] (a cut message is still a message) and returns
 * CF_ECONFIG: how a loader says why a setting or a file cannot be used. */
int cf_config_error(char *err, size_t errcap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Parses a whole string as a decimal integer in [min, max]: optional '-', digits only, no
 * spaces, no '+'. CF_EINVAL when malformed, CF_ETOOBIG when out of range. */
CF_MUST_CHECK int cf_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/* True if s[0..len) is well-formed UTF-8 (no overlongs, surrogates or code points past
 * U+10FFFF). */
bool cf_utf8_valid(const uint8_t *s, size_t len);

/* Copies at most maxbytes bytes of in[0..len) into out as valid UTF-8: each byte of an
 * invalid or cut sequence (and each NUL) becomes U+FFFD. out is NUL-terminated and needs
 * 3 * maxbytes + 1 bytes to hold any input; a smaller out truncates. */
void cf_utf8_sanitize(const char *in, size_t len, size_t maxbytes, char *out, size_t outcap);

/* True if s starts with prefix. */
bool cf_has_prefix(const char *s, const char *prefix);

/* A growable byte buffer, always NUL-terminated after its len bytes. Growth copies and cleanses
 * the old block, and cf_buf_free() cleanses, so it may hold secrets. Zero-initialise to start. */
struct cf_buf {
    char *data;
    size_t len;
    size_t cap;
};

void cf_buf_append(struct cf_buf *b, const void *p, size_t n);
void cf_buf_append_str(struct cf_buf *b, const char *s);
void cf_buf_append_char(struct cf_buf *b, char c);
/* printf-style append; CF_EINVAL on an encoding error. */
CF_MUST_CHECK int cf_buf_printf(struct cf_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void cf_buf_reset(struct cf_buf *b); /* len = 0, contents cleansed, memory kept */
void cf_buf_free(struct cf_buf *b);  /* cleanses and frees; leaves *b empty */

#endif
