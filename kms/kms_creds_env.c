/*
 * kms_creds_env.c - credentials from the environment: AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY and, for temporary credentials, AWS_SESSION_TOKEN.
 */
#include "cf_log.h"
#include "kms_creds.h"

int kms_creds_from_env(struct kms_creds *out)
{
    const char *akid = kms_creds_getenv("AWS_ACCESS_KEY_ID");
    const char *secret = kms_creds_getenv("AWS_SECRET_ACCESS_KEY");
    const char *token = kms_creds_getenv("AWS_SESSION_TOKEN");

    *out = (struct kms_creds){ 0 };
    if (akid == NULL && secret == NULL)
        return CF_ENOTFOUND;
    if (akid == NULL || secret == NULL) {
        /* half a key pair is a mistake: falling through to another identity would hide it */
        cf_log(CF_LOG_ERROR, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go together", NULL);
        return CF_ECONFIG;
    }
    if (kms_creds_set(out, akid, secret, token) != 0) {
        cf_log(CF_LOG_ERROR, "malformed AWS credentials in the environment", NULL);
        return CF_ECONFIG;
    }
    out->source = "env";
    return 0;
}
