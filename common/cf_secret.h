/*
 * cf_secret.h - owned secret bytes (keys, plaintext, tokens) and borrowed byte views.
 *
 * A struct cf_secret owns its buffer and cleanses it (OPENSSL_cleanse) before freeing. Never
 * copy the struct: move it with cf_secret_move(). A struct cf_bytes is a borrowed view that
 * owns nothing.
 */
#ifndef CF_SECRET_H
#define CF_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cf_err.h"

#define CF_SECRET_MAX (1u << 20) /* largest secret coffer agrees to hold */

/* Owned key material or plaintext. data is NULL when empty. */
struct cf_secret {
    uint8_t *data;
    size_t len;
};

/* A borrowed, read-only view of bytes. */
struct cf_bytes {
    const uint8_t *data;
    size_t len;
};

/* Allocates len zeroed bytes (len may be 0: then data is a valid 1-byte block).
 * CF_ETOOBIG above CF_SECRET_MAX. *s is reset first. Free with cf_secret_free(). */
CF_MUST_CHECK int cf_secret_alloc(struct cf_secret *s, size_t len);

/* Allocates a copy of src[0..len). Same errors as cf_secret_alloc(). */
CF_MUST_CHECK int cf_secret_dup(struct cf_secret *s, const void *src, size_t len);

/* Moves *from into *to (freeing what *to held); *from is left empty. */
void cf_secret_move(struct cf_secret *to, struct cf_secret *from);

/* Constant-time equality of contents (lengths are not secret). */
bool cf_secret_eq(const struct cf_secret *a, const struct cf_secret *b);

/* Cleanses and frees the buffer, then empties *s. Safe on an empty or NULL secret. */
void cf_secret_free(struct cf_secret *s);

/* A view of a secret's bytes; valid while the secret lives. */
struct cf_bytes cf_secret_view(const struct cf_secret *s);

/* A view of a NUL-terminated string's bytes (without the NUL). */
struct cf_bytes cf_bytes_str(const char *s);

#endif
