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
    case SVC_INVALID_PAGE:
        return (struct code_desc){ 400, "invalid_page", "the page token is invalid" };
    case SVC_INVALID_CURSOR:
        return (struct code_desc){ 400, "invalid_cursor",
                                   "the cursor is invalid for these filters" };
    case SVC_INVALID_REVISION:
        return (struct code_desc){ 400, "invalid_revision",
                                   "the revision must be a positive 32-bit integer" };
    case SVC_INVALID_ID:
        return (struct code_desc){ 400, "invalid_id", "the id is invalid" };
    case SVC_ID_MISMATCH:
        return (struct code_desc){ 400, "id_mismatch",
                                   "the id in the body differs from the id in the path" };
    case SVC_INVALID_NAME:
        return (struct code_desc){ 400, "invalid_name", "the name is invalid" };
    case SVC_INVALID_CREDENTIAL_PAIRS:
        return (struct code_desc){ 400, "invalid_credential_pairs",
                                   "credential_pairs must be an object of string values" };
    case SVC_EMPTY_CREDENTIAL_PAIRS:
        return (struct code_desc){ 400, "empty_credential_pairs",
                                   "Credential Pairs cannot be empty." };
    case SVC_INVALID_KEY_NAME:
        return (struct code_desc){ 400, "invalid_key_name", "a credential pair key is invalid" };
    case SVC_DUPLICATE_KEY:
        return (struct code_desc){ 400, "duplicate_key",
                                   "two credential pair keys are equal after lowercasing" };
    case SVC_INVALID_METADATA:
        return (struct code_desc){ 400, "invalid_metadata", "metadata is invalid" };
    case SVC_INVALID_TAGS:
        return (struct code_desc){ 400, "invalid_tags", "tags are invalid" };
    case SVC_KEY_CONFLICT:
        return (struct code_desc){ 400, "key_conflict",
                                   "Conflicting key pairs in mapped service." };
    case SVC_UNKNOWN_CREDENTIAL:
        return (struct code_desc){ 400, "unknown_credential", "a credential does not exist" };
    case SVC_BLIND_CREDENTIALS_UNSUPPORTED:
        return (struct code_desc){ 400, "blind_credentials_unsupported",
                                   "blind credentials are not supported" };
    case SVC_INVALID_ACCOUNT:
        return (struct code_desc){ 400, "invalid_account",
                                   "account must be null (scoped auth keys are not supported)" };
    case SVC_NO_CHANGE:
        return (struct code_desc){ 400, "no_change", "the revision is equal to the current one" };
    case SVC_LIMIT_EXCEEDED:
        return (struct code_desc){ 400, "limit_exceeded", "a limit is exceeded" };
    case SVC_UNAUTHENTICATED:
        return (struct code_desc){ 401, "unauthenticated", "authentication required" };
    case SVC_AUTHENTICATION_FAILED:
        return (struct code_desc){ 401, "authentication_failed", "authentication failed" };
    case SVC_FORBIDDEN:
        return (struct code_desc){ 403, "forbidden", "not allowed" };
    case SVC_SERVICE_DISABLED:
        return (struct code_desc){ 403, "service_disabled", "the service is disabled" };
    case SVC_NOT_FOUND:
        return (struct code_desc){ 404, "not_found", "not found" };
    case SVC_METHOD_NOT_ALLOWED:
        return (struct code_desc){ 405, "method_not_allowed", "method not allowed" };
    case SVC_NAME_CONFLICT:
        return (struct code_desc){ 409, "name_conflict", "the name is already used" };
    case SVC_REVISION_CONFLICT:
        return (struct code_desc){ 409, "revision_conflict",
                                   "the resource changed: expected_revision is stale" };
    case SVC_TOKEN_NAME_CONFLICT:
        return (struct code_desc){ 409, "token_name_conflict", "an active token has this name" };
    case SVC_BODY_TOO_LARGE:
        return (struct code_desc){ 413, "body_too_large", "the request body is too large" };
    case SVC_CREDENTIAL_TOO_LARGE:
        return (struct code_desc){ 413, "credential_too_large",
                                   "the credential pairs exceed 65,536 bytes" };
    case SVC_URI_TOO_LONG:
        return (struct code_desc){ 414, "uri_too_long", "the request line is too long" };
    case SVC_UNSUPPORTED_MEDIA_TYPE:
        return (struct code_desc){ 415, "unsupported_media_type",
                                   "a request body must be application/json" };
    case SVC_HEADERS_TOO_LARGE:
        return (struct code_desc){ 431, "headers_too_large", "the request headers are too large" };
    case SVC_INTERNAL_ERROR:
        return (struct code_desc){ 500, "internal_error", "internal error" };
    case SVC_DECRYPTION_FAILED:
        return (struct code_desc){ 500, "decryption_failed",
                                   "a stored credential does not decrypt" };
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
        return SVC_REVISION_CONFLICT;
    case CF_EKMS:
    case CF_ETHROTTLED:
    case CF_EBADRESPONSE:
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
