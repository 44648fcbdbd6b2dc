/*
 * svc_errors.c - the one map from error codes to HTTP statuses, API code names and texts.
 */
#include "svc.h"

struct code_desc {
    enum svc_code code;
    int status;
    const char *name;    /* sent as "code" */
    const char *message; /* the default "error" text */
};

/* One row per code, in the enum's order. */
static const struct code_desc code_descs[] = {
    { SVC_INVALID_JSON, 400, "invalid_json", "the request body is not valid JSON" },
    { SVC_INVALID_REQUEST, 400, "invalid_request", "the request is malformed" },
    { SVC_INVALID_PARAMETER, 400, "invalid_parameter", "a query parameter is invalid" },
    { SVC_INVALID_PAGE, 400, "invalid_page", "the page token is invalid" },
    { SVC_INVALID_CURSOR, 400, "invalid_cursor", "the cursor is invalid for these filters" },
    { SVC_INVALID_REVISION, 400, "invalid_revision",
      "the revision must be a positive 32-bit integer" },
    { SVC_INVALID_ID, 400, "invalid_id", "the id is invalid" },
    { SVC_ID_MISMATCH, 400, "id_mismatch", "the id in the body differs from the id in the path" },
    { SVC_INVALID_NAME, 400, "invalid_name", "the name is invalid" },
    { SVC_INVALID_CREDENTIAL_PAIRS, 400, "invalid_credential_pairs",
      "credential_pairs must be an object of string values" },
    { SVC_EMPTY_CREDENTIAL_PAIRS, 400, "empty_credential_pairs",
      "Credential Pairs cannot be empty." },
    { SVC_INVALID_KEY_NAME, 400, "invalid_key_name", "a credential pair key is invalid" },
    { SVC_DUPLICATE_KEY, 400, "duplicate_key",
      "two credential pair keys are equal after lowercasing" },
    { SVC_INVALID_METADATA, 400, "invalid_metadata", "metadata is invalid" },
    { SVC_INVALID_TAGS, 400, "invalid_tags", "tags are invalid" },
    { SVC_KEY_CONFLICT, 400, "key_conflict", "Conflicting key pairs in mapped service." },
    { SVC_UNKNOWN_CREDENTIAL, 400, "unknown_credential", "a credential does not exist" },
    { SVC_BLIND_CREDENTIALS_UNSUPPORTED, 400, "blind_credentials_unsupported",
      "blind credentials are not supported" },
    { SVC_INVALID_ACCOUNT, 400, "invalid_account",
      "account must be null (scoped auth keys are not supported)" },
    { SVC_NO_CHANGE, 400, "no_change", "the revision is equal to the current one" },
    { SVC_LIMIT_EXCEEDED, 400, "limit_exceeded", "a limit is exceeded" },
    { SVC_UNAUTHENTICATED, 401, "unauthenticated", "authentication required" },
    { SVC_AUTHENTICATION_FAILED, 401, "authentication_failed", "authentication failed" },
    { SVC_FORBIDDEN, 403, "forbidden", "not allowed" },
    { SVC_SERVICE_DISABLED, 403, "service_disabled", "the service is disabled" },
    { SVC_NOT_FOUND, 404, "not_found", "not found" },
    { SVC_METHOD_NOT_ALLOWED, 405, "method_not_allowed", "method not allowed" },
    { SVC_REQUEST_TIMEOUT, 408, "request_timeout",
      "the request body did not arrive within the request timeout" },
    { SVC_NAME_CONFLICT, 409, "name_conflict", "the name is already used" },
    { SVC_TOO_MANY_FAILURES, 429, "too_many_failures",
      "authentication failed, and this client has failed too often: retry later" },
    { SVC_REVISION_CONFLICT, 409, "revision_conflict",
      "the resource changed: expected_revision is stale" },
    { SVC_TOKEN_NAME_CONFLICT, 409, "token_name_conflict", "an active token has this name" },
    { SVC_BODY_TOO_LARGE, 413, "body_too_large", "the request body is too large" },
    { SVC_CREDENTIAL_TOO_LARGE, 413, "credential_too_large",
      "the credential pairs exceed 65,536 bytes" },
    { SVC_URI_TOO_LONG, 414, "uri_too_long", "the request line is too long" },
    { SVC_UNSUPPORTED_MEDIA_TYPE, 415, "unsupported_media_type",
      "a request body must be application/json" },
    { SVC_HEADERS_TOO_LARGE, 431, "headers_too_large", "the request headers are too large" },
    { SVC_INTERNAL_ERROR, 500, "internal_error", "internal error" },
    { SVC_DECRYPTION_FAILED, 500, "decryption_failed", "a stored credential does not decrypt" },
    { SVC_NOT_IMPLEMENTED, 501, "not_implemented", "not implemented" },
    { SVC_KMS_UNAVAILABLE, 503, "kms_unavailable", "KMS is unavailable; retry later" },
    { SVC_DATABASE_UNAVAILABLE, 503, "database_unavailable",
      "the database is unavailable; retry later" },
    { SVC_AUDIT_UNAVAILABLE, 503, "audit_unavailable",
      "the access log cannot be written; retry later" },
    { SVC_NOT_READY, 503, "not_ready", "not ready" },
    { SVC_OVERLOADED, 503, "overloaded",
      "the server is checking too many new credentials at once: retry shortly" },
};

/* A code added to enum svc_code but not described here stops the build, as -Wswitch would. */
_Static_assert(sizeof(code_descs) / sizeof(code_descs[0]) == SVC_CODE_COUNT,
               "code_descs needs one row for each svc_code");

/* The row of a code; a value that is no code is described as internal_error. */
static const struct code_desc *describe(enum svc_code code)
{
    static const struct code_desc unknown = { SVC_INTERNAL_ERROR, 500, "internal_error",
                                              "internal error" };

    for (size_t i = 0; i < sizeof(code_descs) / sizeof(code_descs[0]); i++) {
        if (code_descs[i].code == code)
            return &code_descs[i];
    }
    return &unknown;
}

int svc_code_status(enum svc_code code)
{
    return describe(code)->status;
}

const char *svc_code_name(enum svc_code code)
{
    return describe(code)->name;
}

const char *svc_code_message(enum svc_code code)
{
    return describe(code)->message;
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
    case CF_ESTALE: /* the catalog kept changing under a read: retry */
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
