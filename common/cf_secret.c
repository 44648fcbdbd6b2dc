/* cf_secret.c - the secret buffer type: cleansed on free, compared in constant time. */
#include "cf_secret.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cf_mem.h"

int cf_secret_alloc(struct cf_secret *s, size_t len)
{
    *s = (struct cf_secret){ 0 };
    if (len > CF_SECRET_MAX)
        return CF_ETOOBIG;
    s->data = cf_xcalloc(1, len == 0 ? 1 : len);
    s->len = len;
    return 0;
}

int cf_secret_dup(struct cf_secret *s, const void *src, size_t len)
{
    int r = cf_secret_alloc(s, len);
    if (r != 0)
        return r;
    if (len > 0)
        memcpy(s->data, src, len);
    return 0;
}

void cf_secret_move(struct cf_secret *to, struct cf_secret *from)
{
    if (to == from)
        return;
    cf_secret_free(to);
    *to = *from;
    *from = (struct cf_secret){ 0 };
}

bool cf_secret_eq(const struct cf_secret *a, const struct cf_secret *b)
{
    if (a->len != b->len)
        return false;
    if (a->len == 0)
        return true;
    return CRYPTO_memcmp(a->data, b->data, a->len) == 0;
}

void cf_secret_free(struct cf_secret *s)
{
    if (s == NULL || s->data == NULL)
        return;
    /* a zero-length secret still owns its 1-byte block */
    OPENSSL_cleanse(s->data, s->len == 0 ? 1 : s->len);
    free(s->data);
    *s = (struct cf_secret){ 0 };
}

struct cf_bytes cf_secret_view(const struct cf_secret *s)
{
    return (struct cf_bytes){ .data = s->data, .len = s->len };
}

struct cf_bytes cf_bytes_str(const char *s)
{
    return (struct cf_bytes){ .data = (const uint8_t *)s, .len = strlen(s) };
}
