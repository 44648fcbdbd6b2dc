/* kms_curl.c - a capped response sink and cleansed header lists for libcurl. */
#include "kms_curl.h"

#include <string.h>

#include <openssl/crypto.h>

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
