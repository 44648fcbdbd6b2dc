/* kms_curl.c - a capped response sink, cleansed header lists, and libcurl's memory cleansed
 * when freed. */
#include "kms_curl.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* libcurl's own allocations, each overwritten before it is freed: its receive buffer holds
 * KMS answers (a data key in "Plaintext") and the credentials endpoints' answers. The size
 * comes from malloc_usable_size() (glibc, and the sanitizers' allocators): at least what was
 * asked for. realloc() would free the old block unseen, so it copies, then cleanses. */
static void cleansing_free(void *p)
{
    if (p == NULL)
        return;
    OPENSSL_cleanse(p, malloc_usable_size(p));
    free(p);
}

static void *plain_malloc(size_t n)
{
    return malloc(n);
}

static void *plain_calloc(size_t count, size_t size)
{
    return calloc(count, size);
}

static char *plain_strdup(const char *s)
{
    return strdup(s);
}

static void *cleansing_realloc(void *p, size_t n)
{
    if (p == NULL)
        return malloc(n);
    size_t had = malloc_usable_size(p);
    void *q = malloc(n > 0 ? n : 1);
    if (q == NULL)
        return NULL; /* p stays, as realloc() leaves it */
    memcpy(q, p, had < n ? had : n);
    cleansing_free(p);
    return q;
}

CURLcode kms_curl_global_init(void)
{
    return curl_global_init_mem(CURL_GLOBAL_DEFAULT, plain_malloc, cleansing_free,
                                cleansing_realloc, plain_strdup, plain_calloc);
}

size_t kms_curl_write(char *p, size_t size, size_t n, void *userdata)
{
    struct kms_curl_sink *sink = userdata;
    size_t len = size * n; /* curl guarantees size == 1 */

    if (sink->body->len > sink->max || len > sink->max - sink->body->len) {
        sink->too_big = true;
        return 0; /* aborts the transfer */
    }
    cf_buf_append(sink->body, p, len);
    return len;
}

void kms_curl_slist_free_cleanse(struct curl_slist *l)
{
    for (struct curl_slist *p = l; p != NULL; p = p->next)
        OPENSSL_cleanse(p->data, strlen(p->data));
    curl_slist_free_all(l);
}
