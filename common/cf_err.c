/* cf_err.c - text for coffer's error codes. */
#include "cf_err.h"

/* A switch without default: -Wswitch names any code added to enum cf_err but not described. */
const char *cf_strerror(int err)
{
    switch ((enum cf_err)err) {
    case CF_OK:
        return "success";
    case CF_EINVAL:
        return "invalid input";
    case CF_ETOOBIG:
        return "input exceeds a limit";
    case CF_EAUTH:
        return "authentication failed";
    case CF_EDENIED:
        return "not allowed";
    case CF_ENOTFOUND:
        return "not found";
    case CF_ECONFLICT:
        return "conflict";
    case CF_EINTEGRITY:
        return "integrity check failed";
    case CF_EKMS:
        return "KMS refused the request";
    case CF_EUNAVAIL:
        return "a dependency is unavailable";
    case CF_EDB:
        return "database error";
    case CF_EIO:
        return "input/output error";
    case CF_ECRYPTO:
        return "cryptographic operation failed";
    case CF_EINTERNAL:
        return "internal error";
    case CF_ETIMEOUT:
        return "timed out";
    case CF_ECONFIG:
        return "invalid configuration";
    case CF_ETHROTTLED:
        return "throttled";
    case CF_EBADRESPONSE:
        return "unexpected response from a dependency";
    case CF_ESTALE:
        return "stale: built from an older catalog version";
    }
    return "unknown error";
}

const char *cf_errname(int err)
{
    switch ((enum cf_err)err) {
    case CF_OK:
        return "CF_OK";
    case CF_EINVAL:
        return "CF_EINVAL";
    case CF_ETOOBIG:
        return "CF_ETOOBIG";
    case CF_EAUTH:
        return "CF_EAUTH";
    case CF_EDENIED:
        return "CF_EDENIED";
    case CF_ENOTFOUND:
        return "CF_ENOTFOUND";
    case CF_ECONFLICT:
        return "CF_ECONFLICT";
    case CF_EINTEGRITY:
        return "CF_EINTEGRITY";
    case CF_EKMS:
        return "CF_EKMS";
    case CF_EUNAVAIL:
        return "CF_EUNAVAIL";
    case CF_EDB:
        return "CF_EDB";
    case CF_EIO:
        return "CF_EIO";
    case CF_ECRYPTO:
        return "CF_ECRYPTO";
    case CF_EINTERNAL:
        return "CF_EINTERNAL";
    case CF_ETIMEOUT:
        return "CF_ETIMEOUT";
    case CF_ECONFIG:
        return "CF_ECONFIG";
    case CF_ETHROTTLED:
        return "CF_ETHROTTLED";
    case CF_EBADRESPONSE:
        return "CF_EBADRESPONSE";
    case CF_ESTALE:
        return "CF_ESTALE";
    }
    return "CF_E?";
}
