/*
 * kms_curl.h - what kms_aws.c and the credentials sources share of libcurl: a response sink
 * with a size cap, and header lists cleansed before they are freed.
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

/* Cleanses every header line (they carry tokens) and frees the list. Safe with NULL. */
void kms_curl_slist_free_cleanse(struct curl_slist *l);

#endif
