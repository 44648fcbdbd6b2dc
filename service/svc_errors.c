/*
 * svc_errors.c - the one map from error codes to HTTP statuses, API code names and texts.
 */
#include "svc.h"

struct code_desc {
    int status;
    const char *name;
    const char *message;
};

/* A switch without default: -Wswitch names any code added but not described. */
static struct code_desc describe(enum svc_code code)
{
    switch (code) {
    case SVC_INVALID_JSON:
        return (struct code_desc){ 400, "invalid_json", "the request body is not valid JSON" };
    case SVC_INVALID_REQUEST:
        return (struct code_desc){ 400, "invalid_request", "the request is malformed" };
    case SVC_INVALID_PARAMETER:
        return (struct code_desc){ 400, "invalid_parameter", "a query parameter is invalid" };
    case SVC_UNAUTHENTICATED:
        return (struct code_desc){ 401, "unauthenticated", "authentication required" };
    case SVC_AUTHENTICATION_FAILED:
        return (struct code_desc){ 401, "authentication_failed", "authentication failed" };
    case SVC_FORBIDDEN:
        return (struct code_desc){ 403, "forbidden", "not allowed" };
    case SVC_NOT_FOUND:
        return (struct code_desc){ 404, "not_found", "not found" };
    case SVC_METHOD_NOT_ALLOWED:
        return (struct code_desc){ 405, "method_not_allowed", "method not allowed" };
    case SVC_CONFLICT:
        return (struct code_desc){ 409, "conflict", "conflict" };
    case SVC_BODY_TOO_LARGE:
        return (struct code_desc){ 413, "body_too_large", "the request body is too large" };
    case SVC_URI_TOO_LONG:
        return (struct code_desc){ 414, "uri_too_long", "the request line is too long" };
    case SVC_UNSUPPORTED_MEDIA_TYPE:
        return (struct code_desc){ 415, "unsupported_media_type",
                                   "a request body must be application/json" };
    case SVC_HEADERS_TOO_LARGE:
        return (struct code_desc){ 431, "headers_too_large", "the request headers are too large" };
    case SVC_INTERNAL_ERROR:
        return (struct code_desc){ 500, "internal_error", "internal error" };
    case SVC_NOT_IMPLEMENTED:
        return (struct code_desc){ 501, "not_implemented", "not implemented" };
    case SVC_KMS_UNAVAILABLE:
        return (struct code_desc){ 503, "kms_unavailable", "KMS is unavailable; retry later" };
    case SVC_DATABASE_UNAVAILABLE:
        return (struct code_desc){ 503, "database_unavailable",
                                   "the database is unavailable; retry later" };
    case SVC_AUDIT_UNAVAILABLE:
        return (struct code_desc){ 503, "audit_unavailable",
                                   "the access log cannot be written; retry later" };
    case SVC_NOT_READY:
        return (struct code_desc){ 503, "not_ready", "not ready" };
    }
    return (struct code_desc){ 500, "internal_error", "internal error" };
}

int svc_code_status(enum svc_code code)
{
    return describe(code).status;
}

const char *svc_code_name(enum svc_code code)
{
    return describe(code).name;
}

const char *svc_code_message(enum svc_code code)
{
    return describe(code).message;
}

enum svc_code svc_code_from_err(int err)
{
    switch ((enum cf_err)err) {
    case CF_EINVAL:
        return SVC_INVALID_REQUEST;
    case CF_ETOOBIG:
        return SVC_BODY_TOO_LARGE;
    case CF_EAUTH:
        return SVC_AUTHENTICATION_FAILED;
    case CF_EDENIED:
        return SVC_FORBIDDEN;
    case CF_ENOTFOUND:
        return SVC_NOT_FOUND;
    case CF_ECONFLICT:
        return SVC_CONFLICT;
    case CF_EKMS:
        return SVC_KMS_UNAVAILABLE;
    case CF_EUNAVAIL:
    case CF_ETIMEOUT:
        return SVC_DATABASE_UNAVAILABLE;
    case CF_OK:
    case CF_EINTEGRITY:
    case CF_EDB:
    case CF_EIO:
    case CF_ECRYPTO:
    case CF_EINTERNAL:
    case CF_ECONFIG:
        return SVC_INTERNAL_ERROR;
    }
    return SVC_INTERNAL_ERROR;
}
