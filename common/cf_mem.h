/*
 * cf_mem.h - allocation that never returns NULL, and checked size arithmetic.
 *
 * Out of memory aborts: under overcommit Linux meets OOM with the OOM killer rather than NULL,
 * and recovery paths that never run are where wipes and audit rows go missing. Sizes a client
 * chooses are bounded before allocating, so hostile input is refused, never an abort.
 */
#ifndef CF_MEM_H
#define CF_MEM_H

#include <stdbool.h>
#include <stddef.h>

#include "cf_err.h"

/* Like malloc/calloc/realloc/strdup, but abort() with a fixed message instead of returning
 * NULL. A zero size allocates one byte. Free with free(). Thread-safe. */
void *cf_xmalloc(size_t n);
void *cf_xcalloc(size_t count, size_t size);
void *cf_xrealloc(void *p, size_t n);
char *cf_xstrdup(const char *s);
char *cf_xstrndup(const char *s, size_t n);

/* *out = a + b (a * b); CF_ETOOBIG on overflow, *out untouched then. */
CF_MUST_CHECK int cf_size_add(size_t a, size_t b, size_t *out);
CF_MUST_CHECK int cf_size_mul(size_t a, size_t b, size_t *out);

/* *out = n as an int, for OpenSSL's and libpq's int lengths; CF_ETOOBIG above INT_MAX. */
CF_MUST_CHECK int cf_size_to_int(size_t n, int *out);

/* Frees a NUL-terminated string after overwriting it: for strings that held a secret (a
 * conninfo with a password, a token). Safe with NULL. */
void cf_free_cleanse_str(char *s);

#endif
