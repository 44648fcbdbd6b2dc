/*
 * kms_aws.h - the `aws` backend: AWS KMS's JSON 1.1 protocol over libcurl, signed by libcurl's
 * CURLOPT_AWS_SIGV4, credentials from the standard chain (kms_creds.h), retries with
 * exponential backoff and full jitter.
 */
#ifndef KMS_AWS_H
#define KMS_AWS_H

#include <stddef.h>

#include "cf_config.h"
#include "cf_err.h"
#include "kms.h"

/* What the aws backend needs to know; kms_aws_config_from() fills it from the settings. */
struct kms_aws_config {
    long connect_timeout_ms; /* per attempt */
    long timeout_ms;         /* per attempt, whole exchange */
    int max_attempts;        /* 1 = no retry */
    long backoff_base_ms;    /* first retry waits up to this long (full jitter) */
    long backoff_max_ms;     /* no wait is longer */
};

/* Fills ac from cfg (timeouts and retry settings) with the defaults for unset values. */
void kms_aws_config_from(const struct cf_config *cfg, struct kms_aws_config *ac);

/* Creates the backend: region (AWS_REGION, AWS_DEFAULT_REGION, else the profile's region),
 * endpoint (AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL, else https://kms.<region>.amazonaws.com),
 * CA bundle (AWS_CA_BUNDLE, else the system's), and the credentials chain. CF_ECONFIG with a
 * message when no region is known, or the region or endpoint is malformed. Credentials are
 * looked up lazily, at the first call, so cofferd starts while they are unavailable; the
 * operations then also return the chain's errors (kms_creds.h: CF_ECONFIG for a partial or
 * malformed credentials setting). Calls kms_curl_global_init() (reference-counted, thread-safe in
 * libcurl >= 7.84); the backend's destroy undoes it. Free with kms_aws_ops.destroy(). */
CF_MUST_CHECK int kms_aws_new(const struct kms_aws_config *ac, void **impl_out, char *err,
                              size_t errcap);

/* The region and endpoint a backend made by kms_aws_new() uses (for logs and tests). */
const char *kms_aws_region(const void *impl);
const char *kms_aws_endpoint(const void *impl);

extern const struct kms_backend_ops kms_aws_ops;

#endif
