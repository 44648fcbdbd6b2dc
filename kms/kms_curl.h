/*
 * kms_curl.h - what kms_aws.c and the credentials sources share of libcurl: a response sink
 * with a size cap, header lists cleansed before they are freed, and libcurl's own memory
 * cleansed before it is freed.
 */
#ifndef KMS_CURL_H
#define KMS_CURL_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

#include "cf_str.h"

/* Collects a response body into body, refusing (and aborting the transfer) past max bytes. */
struct kms_curl_sink {
    struct cf_buf *body;
    size_t max;
    bool too_big;
};

/* A CURLOPT_WRITEFUNCTION for a struct kms_curl_sink. */
size_t kms_curl_write(char *p, size_t size, size_t n, void *userdata);

/* curl_global_init() with allocation callbacks that overwrite every block libcurl frees (its
 * receive buffers hold KMS answers, data keys among them). Reference-counted like
 * curl_global_init(); the callbacks take effect only if this is the process's first libcurl
 * initialisation, as it is in cofferd (the KMS backend starts before anything else uses
 * libcurl). */
CURLcode kms_curl_global_init(void);

/* Cleanses every header line (they carry tokens) and frees the list. Safe with NULL. */
void kms_curl_slist_free_cleanse(struct curl_slist *l);

#endif
