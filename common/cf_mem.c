/* cf_mem.c - fatal-on-OOM allocation and overflow-checked sizes. */
#include "cf_mem.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

static void cf_oom(void)
{
    static const char msg[] = "coffer: out of memory, aborting\n";
    /* write(2) is async-signal-safe and allocates nothing; the result is irrelevant here. */
    ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1);
    (void)w;
    abort();
}

void *cf_xmalloc(size_t n)
{
    void *p = malloc(n == 0 ? 1 : n);
    if (p == NULL)
        cf_oom();
    return p;
}

void *cf_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count == 0 ? 1 : count, size == 0 ? 1 : size);
    if (p == NULL)
        cf_oom();
    return p;
}

void *cf_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n == 0 ? 1 : n);
    if (q == NULL)
        cf_oom();
    return q;
}

char *cf_xstrdup(const char *s)
{
    return cf_xstrndup(s, strlen(s));
}

char *cf_xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = cf_xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

int cf_size_add(size_t a, size_t b, size_t *out)
{
    size_t r;
    if (__builtin_add_overflow(a, b, &r))
        return CF_ETOOBIG;
    *out = r;
    return 0;
}

int cf_size_mul(size_t a, size_t b, size_t *out)
{
    size_t r;
    if (__builtin_mul_overflow(a, b, &r))
        return CF_ETOOBIG;
    *out = r;
    return 0;
}

int cf_size_to_int(size_t n, int *out)
{
    if (n > (size_t)INT_MAX)
        return CF_ETOOBIG;
    *out = (int)n; /* n <= INT_MAX: checked above */
    return 0;
}

void cf_free_cleanse_str(char *s)
{
    if (s == NULL)
        return;
    OPENSSL_cleanse(s, strlen(s));
    free(s);
}
